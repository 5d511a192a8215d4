"""Dispatching a flow event to its workspace backend, and recording what happened.

One activity per dispatch: it hands the event to the backend and appends the dispatch record and
the attempt for it in one transaction. Its key (the dispatch workflow's id and run) makes it safe
to run twice: a retry after the write returns what was written. A backend that fails is the
answer (a ``failed`` record), not a reason to retry: the operator retries.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from capstan.db import SessionFactory, session_scope
from capstan.settings import Settings
from integrations.stores.maintenance import append_dispatch, dispatch_written, flow_event, lock
from integrations.workspaces.builtin import BuiltinWorkspace
from integrations.workspaces.choice import BackendSettingsError, choose_backend, http_backend
from integrations.workspaces.http import WorkspaceBackendError, dispatch_record_fields
from models.maintenance.attempts import attempt_for_dispatch
from models.maintenance.feed_config import load_feed_sources
from models.maintenance.status import AttemptStatus, DispatchOperation, DispatchStatus
from models.maintenance.timestamps import now_iso
from models.maintenance.views import run_view, runs_of
from models.maintenance.workflow_io import (
    ActivityName,
    DispatchCall,
    DispatchOutcome,
    RunStart,
    workspace_run_workflow_id,
)

log = logging.getLogger(__name__)

#: Makes a dispatch's record and attempt inside the transaction that appends them.
RecordBuilder = Callable[[AsyncSession], Awaitable[tuple[dict[str, Any], dict[str, Any]]]]

#: ``ApplicationError.type`` of a dispatch of an event that is not stored.
FLOW_EVENT_NOT_FOUND = "FlowEventNotFound"


def _record(event: dict[str, Any], operation: str, *, builtin: bool, backend_url: str | None = None,
            url: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"eventId": event["id"], "eventType": event.get("type", ""), "operation": operation,
                              "target": "local" if builtin else "workspace-backend",
                              "transport": "local" if builtin else "workspace-http"}
    if backend_url:
        record["workspaceBackendUrl"] = backend_url
    if url:
        record["url"] = url
    return record


def _succeeded(record: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    return {**record, "status": DispatchStatus.DISPATCHED, **dispatch_record_fields(answer), "createdAt": now_iso()}


def _failed(record: dict[str, Any], error: str, http_status: int | None = None) -> dict[str, Any]:
    failed = {**record, "status": DispatchStatus.FAILED}
    if http_status is not None:
        failed["httpStatus"] = http_status
    return {**failed, "error": error, "createdAt": now_iso()}


class DispatchActivities:
    def __init__(self, sessions: SessionFactory, settings: Settings, builtin: BuiltinWorkspace) -> None:
        self.sessions = sessions
        self.settings = settings
        self.builtin = builtin

    def _outcome(self, event: dict, record: dict, attempt: dict) -> DispatchOutcome:
        starts = []
        if record.get("transport") == "local" and record.get("status") == DispatchStatus.DISPATCHED \
                and record.get("idempotent") is False:
            starts = [RunStart(run_id=run_id, event_id=event["id"],
                               workflow_id=workspace_run_workflow_id(self.builtin.queue, run_id))
                      for run_id in record.get("runIds", [])]
        return DispatchOutcome(event=event, record=record, attempt=attempt, start_runs=starts,
                               heartbeat_seconds=self.settings.temporal.activity_heartbeat_seconds,
                               rebase_timeout_seconds=self.settings.patch.check_timeout_seconds + 1800)

    @activity.defn(name=ActivityName.DISPATCH_FLOW_EVENT)
    async def dispatch_flow_event(self, call: DispatchCall) -> DispatchOutcome:
        async with session_scope(self.sessions) as session:
            if written := await dispatch_written(session, call.dispatch_key):
                event = await flow_event(session, call.event_id) or {}
                return self._outcome(event, *written)
            event = await flow_event(session, call.event_id)
        if event is None:
            raise ApplicationError(f"flow event {call.event_id!r} is not stored", type=FLOW_EVENT_NOT_FOUND,
                                   non_retryable=True)
        source = load_feed_sources(self.settings.patch.feed_sources_path).get(
            (event.get("payload") or {}).get("sourceId", ""))
        try:
            choice = choose_backend(self.settings.patch, source)
        except BackendSettingsError as error:
            return await self._write(call, event, _failed(_record(event, call.operation, builtin=False), str(error)))
        if choice.builtin:
            return await self._dispatch_builtin(call, event)
        backend = http_backend(choice, self.settings.patch)
        record = _record(event, call.operation, builtin=False, backend_url=backend.base_url,
                         url=backend.dispatch_url())
        runs: list[dict[str, Any]] = []
        try:
            if call.operation == DispatchOperation.REPLAY:
                answer = await backend.replay(event["id"])
                record["url"] = backend.replay_url(event["id"])
            else:
                answer = await backend.dispatch(event)
            record = _succeeded(record, answer)
            runs = [run_view(raw) for raw in runs_of(answer)]
        except WorkspaceBackendError as error:
            log.warning("dispatch of %s to %s failed: %s", event["id"], backend.base_url, error.message)
            record = _failed(record, error.message, error.http_status)
        return await self._write(call, event, record, runs)

    async def _dispatch_builtin(self, call: DispatchCall, event: dict[str, Any]) -> DispatchOutcome:
        async def dispatched(session: AsyncSession) -> tuple[dict[str, Any], dict[str, Any]]:
            answer = await self.builtin.dispatch(session, event, call.dispatch_key, call.operation)
            record = _succeeded(_record(event, call.operation, builtin=True), answer)
            runs = [run_view(raw) for raw in await self.builtin.read_runs(session, record.get("runIds", []))]
            attempt = attempt_for_dispatch(event, record, runs)
            if answer["matched"] == 0 and not answer.get("idempotent"):
                attempt = {**attempt, "status": AttemptStatus.SKIPPED, "completedAt": record["createdAt"],
                           "message": f"no automation matches event {event['id']}: patch-stack-rebase needs "
                                      "payload.forkUrl (or payload.automation = \"patch-stack-rebase\")"}
            return record, attempt

        return await self._append_once(call, event, dispatched)

    async def _write(self, call: DispatchCall, event: dict[str, Any], record: dict[str, Any],
                     runs: list[dict[str, Any]] | None = None) -> DispatchOutcome:
        async def recorded(session: AsyncSession) -> tuple[dict[str, Any], dict[str, Any]]:
            return record, attempt_for_dispatch(event, record, runs or None)

        return await self._append_once(call, event, recorded)

    async def _append_once(self, call: DispatchCall, event: dict[str, Any], build: RecordBuilder) -> DispatchOutcome:
        """Append the record and attempt ``build`` makes, unless this dispatch (its key) already wrote
        them: then what it wrote. Under the dispatch's lock, so two tries never both append."""
        async with session_scope(self.sessions) as session:
            await lock(session, f"dispatch:{call.dispatch_key}")
            if written := await dispatch_written(session, call.dispatch_key):
                return self._outcome(event, *written)
            record, attempt = await build(session)
            await append_dispatch(session, record, call.dispatch_key, attempt)
        return self._outcome(event, record, attempt)
