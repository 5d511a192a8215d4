"""Talking to ProtocolRunWorkflow: every action is an Update, every CI result a Signal.

Both go to the running workflow first. When it is not running (never started,
or finished), they start it (update-with-start and signal-with-start,
``USE_EXISTING`` on conflict) from the records in Postgres, which are exactly
what the last workflow run wrote, so an API or worker restart, or a run whose
workflow had finished, loses nothing.

The session's connection goes back to the pool before any Temporal call: an
Update can take seconds, and holding a connection across it made the pool, not
Temporal, the limit on concurrent requests (docs/performance.md).

No action waits longer than ``update_timeout_seconds`` in all: past it the
answer is 503 with ``Retry-After`` — ``no_worker`` when no worker took the
action, ``action_pending`` when the run accepted it and will still apply it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.common.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from capstan.settings import Settings
from capstan.temporal import workflow_ui_url
from models.common import search_attributes as sa
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, StepRun
from models.protocols.workflow_io import (
    ActionResult,
    CiReport,
    ProjectSnapshot,
    ProtocolRunInput,
    ProtocolRunSnapshot,
    RunOptions,
    Signal,
    StepState,
    UpdateErrorType,
    WorkflowName,
    is_project_setup,
    protocol_run_workflow_id,
)

log = logging.getLogger(__name__)

_ERRORS = {UpdateErrorType.CONFLICT: Conflict, UpdateErrorType.NOT_FOUND: NotFound,
           UpdateErrorType.INVALID: BadRequest, UpdateErrorType.RECORD_REJECTED: BadRequest}
_CODES = {UpdateErrorType.RECORD_REJECTED: "record_rejected"}

# What a 503 tells a client to wait before trying again: a worker or Temporal may be back by then.
RETRY_AFTER_SECONDS = 5


def unavailable(detail: str, code: str | None = None) -> ServiceUnavailable:
    return ServiceUnavailable(detail, code=code, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def run_options(settings: Settings) -> RunOptions:
    return RunOptions(
        auto_qa_after_exec=settings.execution.auto_qa_after_exec,
        auto_qa_on_ci=settings.webhooks.auto_qa_on_ci,
        heartbeat_timeout_seconds=settings.temporal.activity_heartbeat_seconds,
        step_timeout_seconds=settings.execution.step_timeout_seconds,
        qa_timeout_seconds=settings.execution.qa_timeout_seconds,
        activity_max_attempts=settings.execution.activity_max_attempts,
        continue_as_new_after_events=settings.execution.history_limit,
    )


def step_state(step: StepRun) -> StepState:
    return StepState(id=step.id, step_index=step.step_index, step_name=step.step_name, step_type=step.step_type,
                     status=step.status, retries=step.retries, engine_id=step.engine_id, model=step.model,
                     policy=step.policy, runtime_state=step.runtime_state, summary=step.summary)


async def workflow_input(session: AsyncSession, settings: Settings, run: ProtocolRun) -> ProtocolRunInput:
    project = await session.get(Project, run.project_id)
    steps = (await session.exec(select(StepRun).where(StepRun.protocol_run_id == run.id)
                                .order_by(col(StepRun.step_index)))).all()
    return ProtocolRunInput(
        project=ProjectSnapshot(id=project.id, name=project.name, git_url=project.git_url,
                                base_branch=project.base_branch, ci_provider=project.ci_provider,
                                forge_repository=project.forge_repository, qa_command=project.qa_command),
        run=ProtocolRunSnapshot(id=run.id, protocol_name=run.protocol_name, status=run.status,
                                base_branch=run.base_branch, protocol_root=run.protocol_root,
                                description=run.description, template_config=run.template_config,
                                runtime_state=run.runtime_state, steps=[step_state(s) for s in steps]),
        options=run_options(settings),
    )


def _start_args(wf_input: ProtocolRunInput, settings: Settings) -> dict[str, Any]:
    return dict(
        id=protocol_run_workflow_id(wf_input.run.id),
        task_queue=settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.PROJECT_ID, wf_input.project.id),
            SearchAttributePair(sa.PROTOCOL_RUN_ID, wf_input.run.id),
            SearchAttributePair(sa.RUN_KIND, "protocol_run"),
            SearchAttributePair(sa.STATUS, wf_input.run.status),
        ]),
    )


async def ensure_workflow(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun) -> None:
    """Start the run's workflow if it is not running; used when a run is created."""
    wf_input = await workflow_input(session, settings, run)
    await release_connection(session)
    await temporal.start_workflow(WorkflowName.PROTOCOL_RUN, wf_input, **_start_args(wf_input, settings))


def refuse_setup_run(run: ProtocolRun) -> None:
    if is_project_setup(run.workflow_id):
        raise Conflict(f"protocol run {run.id} is a project setup run; it takes no actions",
                       code="setup_run")


def _with_job_link(result: ActionResult, settings: Settings) -> ActionResult:
    if result.job and result.job.get("workflow_id"):
        result.job["url"] = workflow_ui_url(settings.temporal.ui_url, settings.temporal.namespace,
                                            result.job["workflow_id"], result.job.get("run_id"))
    return result


async def send_update(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun,
                      update: str, arg: Any = None) -> ActionResult:
    """Run one action on the run's workflow and return once its new state is in Postgres."""
    refuse_setup_run(run)
    await release_connection(session)
    timeout = settings.temporal.update_timeout_seconds
    handle: WorkflowUpdateHandle[ActionResult] | None = None
    try:
        async with asyncio.timeout(timeout):
            handle = await _update_or_start(session, temporal, settings, run, update, [] if arg is None else [arg])
            result = await handle.result(rpc_timeout=timedelta(seconds=timeout))
    except WorkflowUpdateFailedError as exc:
        raise _api_error(exc) from None
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
        log.warning("update %s on run %s not %s within %.0fs", update, run.id,
                    "applied" if handle else "accepted", timeout)
        if handle is not None:
            raise unavailable(f"the run accepted the action but did not finish it within {timeout:.0f}s (an earlier "
                              "action or a database write is still in progress); it will be applied: check the "
                              "run's events before sending it again", code="action_pending") from None
        raise unavailable(f"no worker applied the action within {timeout:.0f}s; "
                          "it may still be applied when a worker is available", code="no_worker") from None
    except RPCError as exc:
        log.warning("update %s on run %s not applied: %s", update, run.id, exc)
        raise unavailable("the workflow service is unavailable; try again") from None
    return _with_job_link(result, settings)


async def _update_or_start(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun,
                           update: str, args: list[Any]) -> WorkflowUpdateHandle[ActionResult]:
    """The Update, once accepted, on the running workflow; update-with-start from the records when none is
    running."""
    rpc_timeout = timedelta(seconds=settings.temporal.update_timeout_seconds)
    accepted = WorkflowUpdateStage.ACCEPTED
    handle = temporal.get_workflow_handle(protocol_run_workflow_id(run.id))
    try:
        return await handle.start_update(update, *args, wait_for_stage=accepted, result_type=ActionResult,
                                         rpc_timeout=rpc_timeout)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    wf_input = await workflow_input(session, settings, run)
    await release_connection(session)
    operation = WithStartWorkflowOperation(WorkflowName.PROTOCOL_RUN, wf_input, result_type=dict,
                                           **_start_args(wf_input, settings))
    return await temporal.start_update_with_start_workflow(
        update, *args, start_workflow_operation=operation, wait_for_stage=accepted, result_type=ActionResult,
        rpc_timeout=rpc_timeout)


async def release_connection(session: AsyncSession) -> None:
    """End the session's (read-only) transaction so its connection returns to the pool.

    Callers have committed their writes before talking to Temporal; loaded
    objects stay usable (``expire_on_commit=False``).
    """
    await session.commit()


def _api_error(exc: WorkflowUpdateFailedError) -> Exception:
    cause = exc.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    if isinstance(cause, ApplicationError) and cause.type in _ERRORS:
        return _ERRORS[cause.type](cause.message, code=_CODES.get(cause.type, cause.type.lower()))
    log.error("update failed unexpectedly: %s", exc.cause)
    return unavailable("the action failed in the workflow; see the run's events")


async def signal_ci_report(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun,
                           report: CiReport) -> None:
    """Deliver a CI result to the run's workflow, starting it from the records if it is not running."""
    refuse_setup_run(run)
    await release_connection(session)
    try:
        await temporal.get_workflow_handle(protocol_run_workflow_id(run.id)).signal(Signal.CI_REPORT, report)
        return
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    wf_input = await workflow_input(session, settings, run)
    await release_connection(session)
    await temporal.start_workflow(WorkflowName.PROTOCOL_RUN, wf_input, start_signal=Signal.CI_REPORT,
                                  start_signal_args=[report], **_start_args(wf_input, settings))
