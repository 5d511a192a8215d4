"""Syncing an attempt with its runs: read them from the backend, derive, append when changed.

The backend is the attempt's own: an attempt that names a ``workspaceBackendUrl`` is read from
that HTTP backend (with the secret the settings give it), any other from the built-in one. A
backend that fails fails the sync and appends nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select
from temporalio import activity

from capstan.db import SessionFactory, session_scope
from capstan.settings import Settings
from integrations.stores.maintenance import append_attempt, latest_attempt, lock
from integrations.workspaces.builtin import BuiltinWorkspace
from integrations.workspaces.choice import BackendChoice, http_backend
from integrations.workspaces.http import WorkspaceBackendError
from models.common.settings import secret_value
from models.maintenance.attempts import attempt_changed, derive_attempt
from models.maintenance.tables import AttemptRow
from models.maintenance.timestamps import now_iso
from models.maintenance.views import run_view, runs_of
from models.maintenance.workflow_io import ActivityName, SyncOutcome, SyncRequest


class AttemptSync:
    def __init__(self, sessions: SessionFactory, settings: Settings, builtin: BuiltinWorkspace) -> None:
        self.sessions = sessions
        self.settings = settings
        self.builtin = builtin

    async def _http_runs(self, attempt: dict[str, Any]) -> list[dict[str, Any]]:
        secret = secret_value(self.settings.patch.workspace_backend_secret)
        backend = http_backend(BackendChoice(attempt["workspaceBackendUrl"], secret), self.settings.patch)
        run_ids = attempt.get("workspaceRunIds") or []
        if run_ids:
            raws = await asyncio.gather(*(backend.read_run(run_id) for run_id in run_ids))
            return [raw for raw in raws if raw is not None]
        return runs_of(await backend.list_runs(event_id=attempt["eventId"]))

    async def sync(self, attempt_id: str) -> SyncOutcome:
        async with session_scope(self.sessions) as session:
            await lock(session, f"attempt:{attempt_id}")
            attempt = await latest_attempt(session, attempt_id)
            if attempt is None:
                return SyncOutcome()
            try:
                if attempt.get("workspaceBackendUrl"):
                    raws = await self._http_runs(attempt)
                elif run_ids := attempt.get("workspaceRunIds"):
                    raws = await self.builtin.read_runs(session, run_ids)
                else:
                    raws = await self.builtin.list_runs(session, event_id=attempt["eventId"])
            except WorkspaceBackendError as error:
                return SyncOutcome(attempt=attempt, backend_error=error.message)
            derived = derive_attempt(attempt, [run_view(raw) for raw in raws], now_iso())
            changed = attempt_changed(attempt, derived)
            if changed:
                await append_attempt(session, derived)
        return SyncOutcome(attempt=derived, appended=changed)

    @activity.defn(name=ActivityName.SYNC_ATTEMPT)
    async def sync_maintenance_attempt(self, request: SyncRequest) -> SyncOutcome:
        return await self.sync(request.attempt_id)

    @activity.defn(name=ActivityName.SYNC_ATTEMPTS_OF_RUN)
    async def sync_attempts_of_run(self, run_id: str) -> int:
        """Sync every attempt linked to a built-in run that just finished; how many changed."""
        async with self.sessions() as session:
            attempt_ids = (await session.exec(
                select(AttemptRow.attempt_id).where(col(AttemptRow.latest), col(AttemptRow.run_ids).contains([run_id]))
            )).all()
        outcomes = [await self.sync(attempt_id) for attempt_id in attempt_ids]
        return sum(outcome.appended for outcome in outcomes)
