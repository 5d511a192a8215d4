"""The ingest: ``POST /api/v1/events/ingest`` (a batch of events, all or nothing), its batches
(``GET /api/v1/events/ingest-batches``) and the edge agent's view of it (``GET /api/v1/edge-agent/ingest-status``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.openapi import json_body
from api.common.pagination import Limit, ListPage, Offset, Sort
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.ingest import Ingest
from api.platform_v1.services.ingest_reads import BATCH_SORTS, BatchQuery, batch_page, ingest_status
from api.platform_v1.services.outbox import nudge_relay
from models.platform_v1.ingest import SOURCE_MAX_LENGTH, IngestBatchPublic, IngestBody, IngestStatusPublic

router = APIRouter(tags=["events"])

EnrollmentToken = Annotated[str | None, Header(
    alias="x-enrollment-token", max_length=512,
    description="The workspace's enrollment token: required when the caller is an `endpoint_agent` only.")]
INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "`forbidden_role`: the token has none of the route's roles; `enrollment_invalid`: an "
                         "`endpoint_agent` without the workspace's enrollment token"},
    503: {"description": "`ingest_conflict`: another batch changed the same records at once; nothing was applied, "
                         "send it again (see `Retry-After`)"},
}
Q_MAX_LENGTH = 200


@platform_route(router, "POST", f"{V1}/events/ingest", summary="Ingest a batch of events (all or nothing)",
                status_code=202, response_model=IngestBatchPublic, responses=INGEST_RESPONSES,
                openapi_extra=json_body(IngestBody),
                description="1–500 events: `telemetry` and `heartbeat` are stored, `alert.triggered` creates an "
                            "open alert, `asset.state_changed` sets an asset's status, `pipeline.failed` emits "
                            "that event. An event `id` the workspace already accepted is a duplicate, not applied "
                            "again. Any invalid event or reference refuses the whole batch (400), writing nothing.")
async def ingest_events(request: Request, caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep,
                        settings: SettingsDep, enrollment_token: EnrollmentToken = None) -> Response:
    batch = await Ingest(db, caller).run(await request.body(), enrollment_token)
    answer = await key.commit(db, json_answer(batch, status_code=202))
    await nudge_relay(temporal, settings, db)
    return answer


@platform_route(router, "GET", f"{V1}/events/ingest-batches", summary="The batches the workspace ingested",
                description="Newest first unless `sortBy`/`sortOrder` say otherwise; `q` matches any part of a "
                            "batch's id, source, author, correlation id or types.",
                response_model=ListPage[IngestBatchPublic])
async def list_ingest_batches(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                              sort: Sort = Depends(BATCH_SORTS.dependency()),
                              source: Annotated[str | None, Query(min_length=1, max_length=SOURCE_MAX_LENGTH,
                                                                  description="Only batches of this source.")] = None,
                              q: Annotated[str | None, Query(max_length=Q_MAX_LENGTH, description=(
                                  "Text to find in the batch (case-insensitive)."))] = None) -> Response:
    query = BatchQuery(limit=limit, offset=offset, sort=sort, source=source, q=q.strip() if q and q.strip() else None)
    return json_answer(await batch_page(db, caller, query))


@platform_route(router, "GET", f"{V1}/edge-agent/ingest-status", summary="The workspace's ingest at a glance",
                tags=["edge-agent"], response_model=IngestStatusPublic,
                description="Whether the workspace is enrolled, its last batch, the last 24 hours' batches, accepted "
                            "events and duplicates, and its sources of those 24 hours (at most 50, most recent "
                            "first).")
async def get_ingest_status(caller: CallerDep, db: SessionDep) -> Response:
    return json_answer(await ingest_status(db, caller))
