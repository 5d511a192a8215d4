"""What the outbox tests share: the relay (a platform_v1 worker with its Schedule, as ``capstan worker``
runs it), a workspace whose notifications go to a fake receiver, and waiting on the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError

from activities.common.resources import WorkerResources
from api.platform_v1.services.outbox import relay_schedule_id
from capstan.db import create_session_factory, session_scope
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName
from integrations.stores.platform_events import new_event_id
from models.common.base import utcnow
from models.platform_v1.event_tables import EventDeliveryRow, EventRow
from tests.e2e.platform_v1.support import V1
from tests.fakes.notification_receiver import FakeNotificationReceiver
from worker.main import serve_surfaces
from worker.registry import WORKER_SURFACES

SIGNING_SECRET = "whsec-outbox-test-0123456789"
WAIT_SECONDS = 30.0


@contextlib.asynccontextmanager
async def running_relay(client: Client, settings: Settings) -> AsyncIterator[None]:
    """A worker serving only the platform_v1 surface, its Schedules ensured as ``capstan worker`` does."""
    resources = WorkerResources(settings, temporal=client)
    surfaces = [surface for surface in WORKER_SURFACES if surface.name == WorkerSurfaceName.PLATFORM_V1]
    try:
        async with serve_surfaces(client, settings, resources, surfaces, schedules=True):
            yield
    finally:
        await resources.close()


async def delete_relay_schedule(client: Client, settings: Settings) -> None:
    with contextlib.suppress(RPCError):
        await client.get_schedule_handle(relay_schedule_id(settings)).delete()


async def notify_to(admin: V1, receiver: FakeNotificationReceiver, *, topics: list[str] | None = None,
                    timeout_seconds: float | None = None, secret: str | None = SIGNING_SECRET) -> None:
    """Point the workspace's notifications at ``receiver`` (and set its signing secret)."""
    adapter: dict[str, Any] = {"url": receiver.hook_url}
    if topics is not None:
        adapter["topics"] = topics
    if timeout_seconds is not None:
        adapter["timeoutSeconds"] = timeout_seconds
    written = await admin.put("/workspace/settings", json={"settings": {"integrations": {"notifications": adapter}}})
    assert written.status_code == 200, written.text
    if secret is not None:
        stored = await admin.post("/workspace/secrets/notifications.signing_secret", json={"value": secret})
        assert stored.status_code in (200, 201), stored.text


async def failed_event(db_engine: AsyncEngine, workspace: str) -> str:
    """A failed event of ``workspace`` (its notification out of tries), written as the relay leaves one."""
    now, event_id = utcnow(), new_event_id()
    async with session_scope(create_session_factory(db_engine)) as session:
        session.add(EventRow(id=event_id, workspace_id=workspace, topic="alert.triggered", subject_type="alert",
                             subject_id=f"alr_{event_id[4:]}", data={"title": "Disk full"}, occurred_at=now,
                             correlation_id=None, status="failed", created_at=now))
        await session.flush()
        session.add(EventDeliveryRow(event_id=event_id, subscriber="notifications", workspace_id=workspace,
                                     status="failed", attempts=5, next_attempt_at=now,
                                     last_error="the adapter answered HTTP 500", updated_at=now))
    return event_id


async def outbox(client: V1, **params: str) -> list[dict[str, Any]]:
    listed = await client.get("/events/outbox", params={"limit": "200", **params})
    assert listed.status_code == 200, listed.text
    return listed.json()["data"]


async def event_of(client: V1, subject_id: str, topic: str) -> dict[str, Any]:
    [event] = [e for e in await outbox(client, subjectId=subject_id) if e["topic"] == topic]
    return event


async def until(what: str, check: Callable[[], Any], seconds: float = WAIT_SECONDS) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds:.0f}s (last seen: {last!r})")
