"""``append_event`` writes an event with one pending delivery per subscriber in the caller's transaction: the
workspace's chosen topics to its notification adapter (the timers' ``temporal`` deliveries come with the timers)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from capstan.db import create_session_factory, session_scope
from integrations.stores.platform_events import append_event, events_to_deliver
from models.platform_v1.event_tables import EventDeliveryRow, EventRow
from models.platform_v1.events import EventTopic, SubjectType
from models.platform_v1.tables import SettingsRow, WorkspaceRow


@pytest.fixture
def sessions(db_engine, clean_tables):
    return create_session_factory(db_engine)


async def workspace(sessions, settings: dict | None = None) -> str:
    async with session_scope(sessions) as session:
        session.add(WorkspaceRow(id="ws_outbox", name="Outbox"))
        if settings is not None:
            await session.flush()
            session.add(SettingsRow(scope="workspace:ws_outbox", settings=settings))
    return "ws_outbox"


async def emit(sessions, topic: EventTopic, subject_id: str = "tkt_1") -> tuple[EventRow, list[EventDeliveryRow]]:
    async with session_scope(sessions) as session:
        event_id = await append_event(session, workspace_id="ws_outbox", topic=topic, subject_type=SubjectType.TICKET,
                                      subject_id=subject_id, data={"ticketId": subject_id}, correlation_id="corr-1")
    async with sessions() as session:
        event = await session.get(EventRow, event_id)
        deliveries = (await session.exec(select(EventDeliveryRow).where(EventDeliveryRow.event_id == event_id))).all()
    return event, sorted(deliveries, key=lambda row: row.subscriber)


async def test_seed_topics_go_to_the_adapter_and_no_delivery_waits_for_the_timers(sessions):
    await workspace(sessions, {"integrations": {"notifications": {"url": "http://127.0.0.1:9/hook"}}})
    created, deliveries = await emit(sessions, EventTopic.TICKET_CREATED)
    assert created.status == "pending" and created.correlation_id == "corr-1"
    assert [(d.subscriber, d.status, d.attempts) for d in deliveries] == [("notifications", "pending", 0)]
    # Not a seed topic, and the timers that will receive it do not exist yet: nothing left pending.
    updated, deliveries = await emit(sessions, EventTopic.TICKET_UPDATED)
    assert (updated.status, deliveries) == ("delivered", [])


async def test_an_event_nobody_receives_is_delivered_at_once(sessions):
    await workspace(sessions)
    event, deliveries = await emit(sessions, EventTopic.PIPELINE_FAILED)
    assert (event.status, deliveries) == ("delivered", [])


async def test_the_adapter_receives_only_the_topics_it_chose(sessions):
    await workspace(sessions, {"integrations": {"notifications": {"url": "http://127.0.0.1:9/hook",
                                                                  "topics": ["pipeline.failed"]}}})
    _, deliveries = await emit(sessions, EventTopic.PIPELINE_FAILED)
    assert [d.subscriber for d in deliveries] == ["notifications"]
    _, deliveries = await emit(sessions, EventTopic.ALERT_TRIGGERED)
    assert deliveries == []


async def test_a_rolled_back_change_leaves_no_event(sessions):
    await workspace(sessions)
    with pytest.raises(RuntimeError):
        async with session_scope(sessions) as session:
            await append_event(session, workspace_id="ws_outbox", topic=EventTopic.TICKET_CREATED,
                               subject_type=SubjectType.TICKET, subject_id="tkt_2", data={}, correlation_id=None)
            raise RuntimeError("the change failed")
    async with sessions() as session:
        assert (await session.exec(select(EventRow))).all() == []


async def test_only_an_event_with_a_delivery_to_make_asks_for_the_relay(sessions):
    await workspace(sessions, {"integrations": {"notifications": {"url": "http://127.0.0.1:9/hook"}}})
    async with session_scope(sessions) as session:
        received = await append_event(session, workspace_id="ws_outbox", topic=EventTopic.TICKET_CREATED,
                                      subject_type=SubjectType.TICKET, subject_id="tkt_1", data={}, correlation_id=None)
        await append_event(session, workspace_id="ws_outbox", topic=EventTopic.TICKET_UPDATED,
                           subject_type=SubjectType.TICKET, subject_id="tkt_1", data={}, correlation_id=None)
        assert events_to_deliver(session) == [received]
