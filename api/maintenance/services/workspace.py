"""``/workspace-events`` and ``/workspace-runs``: the configured backend's own state, as views.

The built-in backend is read from Postgres; an HTTP backend is asked over HTTP (only the global
settings choose it). The views (``models.maintenance.views``) are sent as built. A backend that
fails is a 502 ``workspace_backend_unavailable``; one that does not know the id is Capstan's 404.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import BadGateway, NotFound
from api.maintenance.params import parse_status
from capstan.settings import Settings
from integrations.workspaces.builtin import BuiltinWorkspace
from integrations.workspaces.choice import BackendSettingsError, choose_backend, http_backend
from integrations.workspaces.http import WorkspaceBackendError
from models.maintenance.public import (
    WorkspaceEventEnvelope,
    WorkspaceEventList,
    WorkspaceRunEnvelope,
    WorkspaceRunList,
    stored_envelope,
)
from models.maintenance.status import RUN_STATUS_FILTERS
from models.maintenance.views import event_view, run_view, runs_of


@contextlib.contextmanager
def backend_errors() -> Iterator[None]:
    try:
        yield
    except (WorkspaceBackendError, BackendSettingsError) as error:
        raise BadGateway(getattr(error, "message", str(error)), code="workspace_backend_unavailable") from None


class WorkspaceInspector:
    def __init__(self, settings: Settings, session: AsyncSession) -> None:
        self.settings = settings
        self.session = session
        with backend_errors():
            self.choice = choose_backend(settings.patch, None)
        self.builtin = BuiltinWorkspace.of(settings.temporal)

    async def list_runs(self, event_id: str | None, status: str | None, limit: int | None) -> WorkspaceRunList:
        if self.choice.builtin:
            status = parse_status(status, RUN_STATUS_FILTERS, "workspace run")
            raws = await self.builtin.list_runs(self.session, event_id=event_id, status=status, limit=limit)
            views = [run_view(raw) for raw in raws]
            if event_id is not None:
                return stored_envelope(WorkspaceRunList, runs=views, event_id=event_id)
            return stored_envelope(WorkspaceRunList, runs=views)
        with backend_errors():
            answer = await http_backend(self.choice, self.settings.patch).list_runs(
                event_id=event_id, status=status or None, limit=limit)
        views = [run_view(raw) for raw in runs_of(answer)]
        if isinstance(answer.get("eventId"), str):
            return stored_envelope(WorkspaceRunList, runs=views, event_id=answer["eventId"], raw=answer)
        return stored_envelope(WorkspaceRunList, runs=views, raw=answer)

    async def read_run(self, run_id: str) -> WorkspaceRunEnvelope:
        if self.choice.builtin:
            raw = await self.builtin.read_run(self.session, run_id)
        else:
            with backend_errors():
                raw = await http_backend(self.choice, self.settings.patch).read_run(run_id)
        if raw is None:
            raise NotFound(f"workspace run {run_id!r} not found", code="workspace_run_not_found")
        # A backend's read answer is ``{run}`` or the bare run: the view takes either.
        return stored_envelope(WorkspaceRunEnvelope, run=run_view(raw))

    async def list_events(self, type: str | None, limit: int | None) -> WorkspaceEventList:  # noqa: A002
        if self.choice.builtin:
            raws = await self.builtin.list_events(self.session, type=type or None, limit=limit)
            return stored_envelope(WorkspaceEventList, events=[event_view(raw) for raw in raws])
        with backend_errors():
            answer = await http_backend(self.choice, self.settings.patch).list_events(type=type or None, limit=limit)
        events = [event_view(raw) for raw in answer.get("events") or [] if isinstance(raw, dict)]
        return stored_envelope(WorkspaceEventList, events=events, raw=answer)

    async def read_event(self, event_id: str) -> WorkspaceEventEnvelope:
        if self.choice.builtin:
            answer = await self.builtin.read_event(self.session, event_id)
        else:
            with backend_errors():
                answer = await http_backend(self.choice, self.settings.patch).read_event(event_id)
        if answer is None:
            raise NotFound(f"workspace event {event_id!r} not found", code="workspace_event_not_found")
        # ``{event, runs}``: the view takes the sibling runs.
        return stored_envelope(WorkspaceEventEnvelope, event=event_view(answer))
