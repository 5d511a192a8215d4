"""The relay's store: claims skip rows another relay holds, a claim whose outcome never came (a crash between the
POST and the mark) is claimed again once its lease is over, a stale claim's outcome changes nothing, tries back
off 1, 2, 4 s and end in ``failed``, and the event's status follows its deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from capstan.db import create_session_factory, session_scope
from capstan.secrets import SecretBox
from integrations.stores.outbox_relay import LOST_OUTCOME, claim_due, notification_target, record_outcome, retry_failed
from integrations.stores.platform_events import append_event
from models.common.base import utcnow
from models.platform_v1.event_tables import EventDeliveryRow, EventRow
from models.platform_v1.events import EventTopic, SubjectType
from models.platform_v1.tables import SecretRow, SettingsRow, WorkspaceRow

ADAPTER = {"integrations": {"notifications": {"url": "http://127.0.0.1:9/hook"}}}


@pytest.fixture
def sessions(db_engine, clean_tables):
    return create_session_factory(db_engine)


async def _events(sessions, count: int) -> list[str]:
    async with session_scope(sessions) as session:
        session.add(WorkspaceRow(id="ws_relay", name="Relay"))
        await session.flush()
        session.add(SettingsRow(scope="workspace:ws_relay", settings=ADAPTER))
        await session.flush()
        return [await append_event(session, workspace_id="ws_relay", topic=EventTopic.ALERT_TRIGGERED,
                                   subject_type=SubjectType.ALERT, subject_id=f"alr_{n}", data={"n": n},
                                   correlation_id=None) for n in range(count)]


async def _state(sessions, event_id: str) -> tuple[str, EventDeliveryRow]:
    async with sessions() as session:
        event = await session.get(EventRow, event_id)
        [delivery] = (await session.exec(select(EventDeliveryRow).where(EventDeliveryRow.event_id == event_id))).all()
        return event.status, delivery


async def test_a_claim_skips_the_rows_another_relay_holds(sessions):
    held, free = await _events(sessions, 2)
    async with sessions() as other_relay:
        await other_relay.exec(select(EventDeliveryRow).where(EventDeliveryRow.event_id == held).with_for_update())
        claimed = await claim_due(sessions, limit=10, max_attempts=5)
        await other_relay.rollback()
    assert [c.event_id for c in claimed] == [free]
    assert claimed[0].message["data"] == {"n": 1} and claimed[0].attempt == 1


async def test_a_lost_outcome_is_claimed_again_after_its_lease_and_the_stale_one_changes_nothing(sessions):
    [event_id] = await _events(sessions, 1)
    [first] = await claim_due(sessions, limit=10, max_attempts=5)
    assert await claim_due(sessions, limit=10, max_attempts=5) == [], "leased: not claimed twice at once"
    later = utcnow() + timedelta(minutes=2)  # the relay that claimed it died: its lease is over
    [second] = await claim_due(sessions, limit=10, max_attempts=5, now=later)
    assert (second.event_id, second.attempt) == (event_id, 2)
    assert await record_outcome(sessions, first, delivered=True, error=None, max_attempts=5) is None
    assert (await _state(sessions, event_id))[0] == "pending"
    assert await record_outcome(sessions, second, delivered=True, error=None, max_attempts=5) == "delivered"
    status, delivery = await _state(sessions, event_id)
    assert (status, delivery.status, delivery.attempts, delivery.delivered_at is not None) == \
        ("delivered", "delivered", 2, True)


async def test_tries_back_off_and_end_failed_and_a_retry_resets_them(sessions):
    [event_id] = await _events(sessions, 1)
    now = utcnow()
    waits = []
    for attempt in range(1, 4):
        [claim] = await claim_due(sessions, limit=10, max_attempts=3, now=now)
        assert claim.attempt == attempt
        outcome = await record_outcome(sessions, claim, delivered=False, error=f"HTTP 50{attempt}", max_attempts=3,
                                       now=now)
        status, delivery = await _state(sessions, event_id)
        if attempt < 3:
            assert (outcome, status) == ("pending", "pending")
            waits.append((delivery.next_attempt_at - now).total_seconds())
            assert await claim_due(sessions, limit=10, max_attempts=3, now=now) == [], "not due before its backoff"
            now = delivery.next_attempt_at
    assert waits == [1.0, 2.0]
    assert (outcome, status, delivery.status, delivery.last_error) == ("failed", "failed", "failed", "HTTP 503")
    later = now + timedelta(hours=1)
    assert await claim_due(sessions, limit=10, max_attempts=3, now=later) == [], "failed is never tried again"

    async with session_scope(sessions) as session:
        event, retried = await retry_failed(session, "ws_other", event_id)
        assert (event, retried) == (None, False), "another workspace's event is unknown"
        event, retried = await retry_failed(session, "ws_relay", event_id)
        assert retried and event.status == "pending"
    status, delivery = await _state(sessions, event_id)
    assert (status, delivery.status, delivery.attempts) == ("pending", "pending", 0)
    async with session_scope(sessions) as session:
        _, again = await retry_failed(session, "ws_relay", event_id)
        assert again is False, "only a failed event is retried"


async def test_a_last_try_whose_outcome_was_lost_ends_failed_not_tried_forever(sessions):
    [event_id] = await _events(sessions, 1)
    now = utcnow()
    for _ in range(2):  # two tries, each claimed by a relay that died before recording it
        [claim] = await claim_due(sessions, limit=10, max_attempts=2, now=now)
        now += timedelta(minutes=2)
    assert claim.attempt == 2
    assert await claim_due(sessions, limit=10, max_attempts=2, now=now) == []
    status, delivery = await _state(sessions, event_id)
    assert (status, delivery.status, delivery.attempts, delivery.last_error) == ("failed", "failed", 2, LOST_OUTCOME)


async def test_a_signing_secret_this_worker_cannot_open_is_a_problem_not_an_unsigned_post(sessions):
    await _events(sessions, 0)
    sealed = SecretBox(SecretBox.generate_key()).seal_value("whsec-1")
    async with session_scope(sessions) as session:
        session.add(SecretRow(scope="workspace:ws_relay", key="notifications.signing_secret", sealed_value=sealed))
    target = await notification_target(sessions, SecretBox(SecretBox.generate_key()), "ws_relay")
    assert target.signing_secret is None and "cannot be opened" in target.problem
    assert (await notification_target(sessions, SecretBox(None), "ws_nowhere")).adapter is None
