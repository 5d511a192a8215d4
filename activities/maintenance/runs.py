"""The built-in backend's runs: their state in Postgres, and the automation they run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from capstan.db import SessionFactory, session_scope
from integrations.git import RepositoryCache
from integrations.sandbox import Sandbox
from integrations.stores.maintenance import flow_event
from integrations.workspaces.rebase import PatchStackRebase
from models.maintenance.status import RESULT_STATUSES, RunProcessStatus
from models.maintenance.tables import WorkspaceEventRow, WorkspaceRunRow
from models.maintenance.workflow_io import ActivityName, RebaseRunInput, RunStateWrite

RUN_NOT_FOUND = "WorkspaceRunNotFound"


class RunActivities:
    def __init__(self, sessions: SessionFactory, repositories: RepositoryCache, sandbox: Sandbox, work_root: Path,
                 check_timeout_seconds: float) -> None:
        self.sessions = sessions
        self.rebase = PatchStackRebase(repositories, sandbox, work_root, check_timeout_seconds)

    @activity.defn(name=ActivityName.RECORD_RUN_STATE)
    async def record_workspace_run_state(self, write: RunStateWrite) -> None:
        async with session_scope(self.sessions) as session:
            row = (await session.exec(select(WorkspaceRunRow).where(WorkspaceRunRow.id == write.run_id)
                                      .with_for_update())).first()
            if row is None:
                raise ApplicationError(f"workspace run {write.run_id!r} is not stored", type=RUN_NOT_FOUND,
                                       non_retryable=True)
            now = datetime.now(UTC)
            row.workflow_run_id = activity.info().workflow_run_id
            row.status = write.status
            if write.status == RunProcessStatus.RUNNING:
                row.started_at = row.started_at or now
                row.attempt_count += 1
            else:
                row.completed_at = now
            if write.result is not None:
                row.result = write.result
                status = write.result.get("status")
                row.result_status = status if status in RESULT_STATUSES else None
            row.error = write.error
            session.add(row)

    @activity.defn(name=ActivityName.REBASE_PATCH_STACK)
    async def rebase_patch_stack(self, request: RebaseRunInput) -> dict:
        """The run's automation on the event's payload; the result payload of the run."""
        async with self.sessions() as session:
            event = await flow_event(session, request.event_id)
            if event is None:
                row = (await session.exec(select(WorkspaceEventRow)
                                          .where(WorkspaceEventRow.event_id == request.event_id))).first()
                event = row.body if row else None
        if event is None:
            raise ApplicationError(f"flow event {request.event_id!r} is not stored", type=RUN_NOT_FOUND,
                                   non_retryable=True)
        return await self.rebase.run(dict(event.get("payload") or {}), run_id=request.run_id)
