"""Talking to ProtocolRunWorkflow: every action is an Update, every CI result a Signal.

An action the run's record refuses (the rules of ``models.protocols.status``, from
the status the workflow last wrote) is a 409 at once: nothing is sent to Temporal.
The rest go to the running workflow first. The run's workflow stays open as long
as the run (``ProtocolRunWorkflow``), so one that is not running was never started
(its start was lost) or was stopped by hand (terminated in the Web UI, failed):
then they start it (update-with-start and signal-with-start, ``USE_EXISTING`` on
conflict) from the records in Postgres, which are exactly what the last workflow
run wrote. A workflow that finished by itself (a run from before runs kept their
workflow open) is never started again: its id reuse policy refuses it, and the
answer is 409 ``workflow_closed`` with the run's status. So no action ever leaves
a run with a second execution beside the one that did its work.

The session's connection goes back to the pool before any Temporal call: an
Update can take seconds, and holding a connection across it made the pool, not
Temporal, the limit on concurrent requests (docs/performance.md).

No action waits longer than ``update_timeout_seconds`` in all: past it the
answer is 503 with ``Retry-After`` — ``no_worker`` when no worker took the
action, ``action_pending`` when the run accepted it and will still apply it.

The calls and their errors are ``api.common.temporal_calls``; this module only knows the
run's workflow id and how to build its input from the records.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from api.common.errors import BadRequest, Conflict, NotFound
from api.common.temporal_calls import (
    RETRY_AFTER_SECONDS,
    Rejections,
    StartFactory,
    WorkflowStart,
    signal_or_start,
    start_workflow_once,
    update_or_start,
)
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue, workflow_ui_url
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
    Update,
    UpdateErrorType,
    WorkflowName,
    is_project_setup,
    protocol_run_workflow_id,
)

log = logging.getLogger(__name__)

#: How a rejected action answers: the ``ApplicationError.type`` the workflow raised → 409/404/400.
REJECTIONS: Rejections = {
    UpdateErrorType.CONFLICT: lambda detail: Conflict(detail, code="conflict"),
    UpdateErrorType.NOT_FOUND: lambda detail: NotFound(detail, code="notfound"),
    UpdateErrorType.INVALID: lambda detail: BadRequest(detail, code="invalid"),
    UpdateErrorType.RECORD_REJECTED: lambda detail: BadRequest(detail, code="record_rejected"),
}


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


def _workflow_start(wf_input: ProtocolRunInput, settings: Settings) -> WorkflowStart:
    return WorkflowStart(WorkflowName.PROTOCOL_RUN, wf_input, dict(
        id=protocol_run_workflow_id(wf_input.run.id),
        task_queue=surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS),
        # Restart a workflow stopped by hand (terminated, failed, cancelled), never one that finished.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.PROJECT_ID, wf_input.project.id),
            SearchAttributePair(sa.PROTOCOL_RUN_ID, wf_input.run.id),
            SearchAttributePair(sa.RUN_KIND, "protocol_run"),
            SearchAttributePair(sa.STATUS, wf_input.run.status),
        ]),
    ))


def _start_from_records(session: AsyncSession, settings: Settings, run: ProtocolRun) -> StartFactory:
    """The start of the run's workflow, read from Postgres only when Temporal has none running."""

    async def start() -> WorkflowStart:
        wf_input = await workflow_input(session, settings, run)
        await release_connection(session)
        return _workflow_start(wf_input, settings)

    return start


async def ensure_workflow(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun) -> None:
    """Start the run's workflow if it is not running, and note its run id on the run; used when a run is created."""
    await remember_workflow_run(session, run, await start_workflow_once(
        temporal, await _start_from_records(session, settings, run)()))


async def remember_workflow_run(session: AsyncSession, run: ProtocolRun, workflow_run_id: str | None) -> None:
    """Note the execution the API just started on a run no execution has written yet (its Web UI link
    then names it at once); from its first write on, the workflow keeps it (``write_run_records``)."""
    if workflow_run_id is None or run.workflow_run_id is not None:
        return
    await session.exec(update(ProtocolRun).where(col(ProtocolRun.id) == run.id,
                                                 col(ProtocolRun.workflow_run_id).is_(None))
                       .values(workflow_run_id=workflow_run_id))
    await session.commit()
    run.workflow_run_id = workflow_run_id


def refuse_setup_run(run: ProtocolRun) -> None:
    if is_project_setup(run.workflow_id):
        raise Conflict(f"protocol run {run.id} is a project setup run; it takes no actions",
                       code="setup_run")


def refuse_from_record(refusal: str | None) -> None:
    """A 409 for what the run's record refuses (``models.protocols.status``), before any Temporal call: the
    same answer the workflow's validator gives, and no execution is started to give it."""
    if refusal is not None:
        raise Conflict(refusal, code="conflict")


def _closed(run: ProtocolRun) -> str:
    return (f"protocol run {run.id} is {run.status} and its workflow has finished (a run from before runs kept "
            "their workflow open); it takes no more actions")


def _with_job_link(result: ActionResult, settings: Settings) -> ActionResult:
    if result.job and result.job.get("workflow_id"):
        result.job["url"] = workflow_ui_url(settings.temporal.ui_url, settings.temporal.namespace,
                                            result.job["workflow_id"], result.job.get("run_id"))
    return result


async def send_update(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun,
                      update: Update, arg: Any = None) -> ActionResult:
    """Run one action on the run's workflow and return once its new state is in Postgres."""
    refuse_setup_run(run)
    await release_connection(session)
    result = await update_or_start(
        temporal, protocol_run_workflow_id(run.id), update, [] if arg is None else [arg],
        _start_from_records(session, settings, run), timeout=settings.temporal.update_timeout_seconds,
        result_type=ActionResult, rejections=REJECTIONS, closed_detail=_closed(run))
    return _with_job_link(result, settings)


async def release_connection(session: AsyncSession) -> None:
    """End the session's (read-only) transaction so its connection returns to the pool.

    Callers have committed their writes before talking to Temporal; loaded
    objects stay usable (``expire_on_commit=False``).
    """
    await session.commit()


async def signal_ci_report(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun,
                           report: CiReport, *, unavailable_detail: str = "the workflow service is unavailable; "
                                                                          "try again",
                           retry_after: int = RETRY_AFTER_SECONDS) -> None:
    """Deliver a CI result to the run's workflow, starting it from the records if it is not running."""
    refuse_setup_run(run)
    await release_connection(session)
    await signal_or_start(temporal, protocol_run_workflow_id(run.id), Signal.CI_REPORT, [report],
                          _start_from_records(session, settings, run), unavailable_detail=unavailable_detail,
                          retry_after=retry_after, closed_detail=_closed(run))
