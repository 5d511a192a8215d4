"""The outbox: ``GET /events/outbox`` (a workspace's events and their deliveries) and
``POST /agent-runtime/outbox-failures/{event_id}/retry`` (a failed event's deliveries tried again)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.pagination import Limit, ListPage, Offset, Sort
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.outbox import (
    OUTBOX_SORTS,
    OutboxQuery,
    nudge_relay_now,
    outbox_page,
    retry_failed_event,
)
from models.platform_v1.event_contracts import EventPublic, NoFields
from models.platform_v1.events import EventStatus, EventTopic

router = APIRouter(tags=["events"])

TEXT_MAX = 200
EventId = Annotated[str, Path(description="`evt_` + 32 hex digits; any other id is 404, as an unknown one.")]
RETRY_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "`invalid_transition` (with `currentStatus`): the event is not failed; or "
                         "`idempotency_key_in_flight` (see `Retry-After`)"}}


@platform_route(router, "GET", f"{V1}/events/outbox", summary="The workspace's events and their deliveries",
                description="Every event a change emitted (the transactional outbox), newest first, with each "
                            "subscriber's delivery. `q` matches the id, topic, subject id and data (any case).",
                response_model=ListPage[EventPublic])
async def list_outbox(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                      sort: Sort = Depends(OUTBOX_SORTS.dependency()),
                      topic: Annotated[EventTopic | None, Query(description="Only events of this topic.")] = None,
                      status: Annotated[EventStatus | None, Query(description="Only events in this status.")] = None,
                      subject_id: Annotated[str | None, Query(alias="subjectId", min_length=1, max_length=TEXT_MAX,
                                                              description="Only events about this record.")] = None,
                      q: Annotated[str | None, Query(max_length=TEXT_MAX, description="Text to find.")] = None,
                      ) -> Response:
    query = OutboxQuery(limit=limit, offset=offset, sort=sort, topic=topic, status=status, subject_id=subject_id,
                        q=q.strip() if q and q.strip() else None)
    return json_answer(await outbox_page(db, caller, query))


@platform_route(router, "POST", f"{V1}/agent-runtime/outbox-failures/{{event_id}}/retry", status_code=202,
                summary="Try a failed event's deliveries again",
                description="Its failed deliveries go back to `pending` with their attempts reset; the relay "
                            "makes them again at once.",
                responses=RETRY_RESPONSES, response_model=EventPublic)
async def retry_outbox_failure(event_id: EventId, caller: CallerDep, key: KeyDep, db: SessionDep,
                               temporal: TemporalDep, settings: SettingsDep, body: NoFields | None = None) -> Response:
    event = await retry_failed_event(db, caller, event_id)
    answer = await key.commit(db, json_answer(event, status_code=202))
    await nudge_relay_now(temporal, settings)
    return answer
