"""The built-in workspace backend: automations run as Capstan workflows, their state in Postgres.

It answers like the reference HTTP backend (the same dispatch answers and run/event objects), so
dispatch records, attempts and the ``/workspace-*`` routes treat both alike: the views of
``models.maintenance.views`` normalise either.

A dispatch registers the event and creates one run row (``queued``) per matching automation; the
dispatch workflow then starts the runs' workflows. Run ids come from the dispatch's key, so a
retried dispatch creates the same runs, and a dispatch of a known event id starts nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from capstan.settings import TemporalSettings
from capstan.temporal import WorkerSurfaceName, surface_task_queue, workflow_ui_url
from models.maintenance.status import RESULT_STATUSES, RunProcessStatus
from models.maintenance.tables import WorkspaceEventRow, WorkspaceRunRow
from models.maintenance.timestamps import iso_ms
from models.maintenance.workflow_io import PATCH_STACK_REBASE, workspace_run_workflow_id

BACKEND_NAME = "capstan"
EXECUTOR = "temporal"
DEFAULT_RUN_LIMIT = 50


def matching_automations(event: dict[str, Any]) -> list[str]:
    """The automations an event starts: ``patch-stack-rebase`` for a payload naming a fork."""
    payload = event.get("payload") or {}
    if payload.get("automation") == PATCH_STACK_REBASE or payload.get("forkUrl"):
        return [PATCH_STACK_REBASE]
    return []


def run_id_for(dispatch_key: str, automation: str) -> str:
    digest = hashlib.sha256(f"{dispatch_key}\n{automation}".encode()).hexdigest()[:20]
    return f"{automation}-{digest}"


class BuiltinWorkspace:
    def __init__(self, queue: str, ui_url: str, namespace: str) -> None:
        self.queue = queue
        self.ui_url = ui_url
        self.namespace = namespace

    @classmethod
    def of(cls, temporal: TemporalSettings) -> BuiltinWorkspace:
        """The built-in backend of this deployment: its runs' workflows on the maintenance queue."""
        return cls(surface_task_queue(temporal, WorkerSurfaceName.MAINTENANCE), temporal.ui_url, temporal.namespace)

    # --- dispatch --------------------------------------------------------------------------------

    async def dispatch(self, session: AsyncSession, event: dict[str, Any], dispatch_key: str,
                       operation: str) -> dict[str, Any]:
        """The backend's answer to a dispatch (or replay) of ``event``, its runs created."""
        statement = insert(WorkspaceEventRow).values(
            event_id=event["id"], type=event.get("type", ""), body=event, run_ids=[], dispatch_key=dispatch_key,
        ).on_conflict_do_nothing(index_elements=["event_id"])
        await session.exec(statement)
        known = (await session.exec(select(WorkspaceEventRow).where(WorkspaceEventRow.event_id == event["id"])
                                    .with_for_update())).one()
        own_runs = [run_id_for(dispatch_key, automation) for automation in matching_automations(event)]
        if operation == "dispatch" and known.dispatch_key != dispatch_key:
            return {"status": "duplicate", "eventId": event["id"], "runIds": list(known.run_ids), "matched": 0,
                    "idempotent": True}
        existing = set((await session.exec(select(WorkspaceRunRow.id).where(col(WorkspaceRunRow.id).in_(own_runs))))
                       .all())
        for run_id, automation in zip(own_runs, matching_automations(event), strict=True):
            if run_id not in existing:
                session.add(WorkspaceRunRow(id=run_id, event_id=event["id"], flow_name=automation,
                                            status=RunProcessStatus.QUEUED))
        known.run_ids = list(dict.fromkeys([*known.run_ids, *own_runs]))
        session.add(known)
        await session.flush()
        return {"status": "accepted", "eventId": event["id"], "runIds": own_runs, "matched": len(own_runs),
                "idempotent": False}

    # --- reads (raw objects shaped like the reference backend's) ---------------------------------

    def raw_run(self, row: WorkspaceRunRow) -> dict[str, Any]:
        workflow_id = workspace_run_workflow_id(self.queue, row.id)
        raw: dict[str, Any] = {
            "id": row.id, "eventId": row.event_id, "flowName": row.flow_name, "stepName": row.flow_name,
            "status": row.status, "backend": BACKEND_NAME, "executor": EXECUTOR, "workflowId": workflow_id,
        }
        if row.workflow_run_id:  # a queued run's workflow has not written yet: no execution to link
            raw["workflowRunId"] = row.workflow_run_id
            raw["webUrl"] = workflow_ui_url(self.ui_url, self.namespace, workflow_id, row.workflow_run_id)
        raw["attemptCount"] = row.attempt_count
        raw["createdAt"] = iso_ms(row.created_at)
        if row.result is not None:
            raw["result"] = row.result
        for key, value in (("error", row.error), ("startedAt", row.started_at), ("completedAt", row.completed_at)):
            if value is not None:
                raw[key] = iso_ms(value) if isinstance(value, datetime) else value
        return raw

    async def read_run(self, session: AsyncSession, run_id: str) -> dict[str, Any] | None:
        row = (await session.exec(select(WorkspaceRunRow).where(WorkspaceRunRow.id == run_id))).first()
        return self.raw_run(row) if row else None

    async def read_runs(self, session: AsyncSession, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The runs of these ids that exist, in the order given."""
        rows = {row.id: row for row in
                (await session.exec(select(WorkspaceRunRow).where(col(WorkspaceRunRow.id).in_(list(run_ids))))).all()}
        return [self.raw_run(rows[run_id]) for run_id in run_ids if run_id in rows]

    async def list_runs(self, session: AsyncSession, *, event_id: str | None = None, status: str | None = None,
                        limit: int | None = None) -> list[dict[str, Any]]:
        """Newest first; ``status`` matches the process status or the result's status."""
        query = select(WorkspaceRunRow)
        if event_id is not None:
            query = query.where(WorkspaceRunRow.event_id == event_id)
        if status:
            if status in RESULT_STATUSES:
                query = query.where((WorkspaceRunRow.status == status) | (WorkspaceRunRow.result_status == status))
            else:
                query = query.where(WorkspaceRunRow.status == status)
        query = query.order_by(col(WorkspaceRunRow.seq).desc()).limit(limit or DEFAULT_RUN_LIMIT)
        return [self.raw_run(row) for row in (await session.exec(query)).all()]

    def raw_event(self, row: WorkspaceEventRow) -> dict[str, Any]:
        return {**row.body, "runIds": list(row.run_ids), "createdAt": iso_ms(row.created_at)}

    async def list_events(self, session: AsyncSession, *, type: str | None = None,  # noqa: A002 - the query's name
                          limit: int | None = None) -> list[dict[str, Any]]:
        query = select(WorkspaceEventRow)
        if type:
            query = query.where(WorkspaceEventRow.type == type)
        query = query.order_by(col(WorkspaceEventRow.seq).desc()).limit(limit or DEFAULT_RUN_LIMIT)
        return [self.raw_event(row) for row in (await session.exec(query)).all()]

    async def read_event(self, session: AsyncSession, event_id: str) -> dict[str, Any] | None:
        """``{event, runs}`` as the reference backend's event read answers, or None."""
        row = (await session.exec(select(WorkspaceEventRow).where(WorkspaceEventRow.event_id == event_id))).first()
        if row is None:
            return None
        return {"event": self.raw_event(row), "runs": await self.read_runs(session, row.run_ids)}
