"""ProtocolRunWorkflow: one per protocol run; it owns the run's status and its steps'.

Actions arrive as Updates: the validator rejects what the rules forbid (409,
or 404 when there is no eligible step), the handler applies the transition and
returns once it is written to Postgres, queueing any long work (planning, a
step's execution, QA, a pull request). The main loop performs queued work one
item at a time. CI results arrive as the ``ci_report`` Signal. Long-lived runs
continue-as-new, carrying their state and queue, once every handler finished.

Handlers and work share one lock, so no write may wait forever: records
Postgres refuses are never retried (``workflows.common.records``); steps it refuses
fail the action that added them (400) or block the run, with an event.

The workflow lives as long as the run: a run takes actions from every status
(``open_pr`` and ``cancel`` when completed, ``retry_latest`` when failed, step
actions), and an action never starts a second execution (the API refuses from the
record what the rules refuse, and never restarts a workflow that finished), so the
workflow does not return when the run finishes. Runs started before this
(no ``STAYS_OPEN`` marker in their history) still return at a finished status.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import CancelledError

from models.protocols.event_types import EventType
from models.protocols.status import PROTOCOL_TERMINAL, ProtocolAction, ProtocolStatus, StepAction, StepStatus
from models.protocols.workflow_io import (
    ActionResult,
    CiReport,
    NewStep,
    ProtocolRunInput,
    ProtocolRunSnapshot,
    Signal,
    StepRequest,
    StepState,
    Update,
    WorkflowName,
    WorkItem,
    WorkKind,
)
from workflows.common.records import WriteRejected
from workflows.protocols.protocol_state import ProtocolRunState, conflict, record_rejected
from workflows.protocols.run_ci import CiReports
from workflows.protocols.run_records import RunRecordWriter
from workflows.protocols.run_work import WorkRunner

SEEN_DELIVERIES_KEPT = 500
#: Patch id marking runs whose workflow stays open when the run finishes.
STAYS_OPEN = "stays-open-while-the-run-takes-actions"


@workflow.defn(name=WorkflowName.PROTOCOL_RUN)
class ProtocolRunWorkflow(WorkRunner, CiReports):
    @workflow.init
    def __init__(self, run_input: ProtocolRunInput) -> None:
        self.project = run_input.project
        self.run_info = run_input.run
        self.options = run_input.options
        self.state = ProtocolRunState(run_input.run.status, run_input.run.steps, run_input.run.runtime_state,
                                      run_input.last_step_id)
        self.queue: list[WorkItem] = list(run_input.pending_work)
        self.seen_deliveries: list[str] = list(run_input.seen_deliveries)
        self.pending_imports: list[NewStep] = []
        self.records = RunRecordWriter(self.project.id, self.run_info.id)
        self.lock = asyncio.Lock()
        self.published_status = run_input.run.status
        self.current: asyncio.Task | None = None
        self.job_seq = 0
        self.work_seq = 0
        self.reports_in_flight = 0
        self.stays_open = False

    # --- main loop -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, run_input: ProtocolRunInput) -> dict[str, Any]:
        self.stays_open = workflow.patched(STAYS_OPEN)
        while True:
            await workflow.wait_condition(
                lambda: self._has_ready_work() or self._closes() or self._history_is_long())
            if self._has_ready_work():
                item = self.queue.pop(0)
                self.current = asyncio.ensure_future(self._perform(item))
                try:
                    await self.current
                except (asyncio.CancelledError, CancelledError):
                    pass  # the run was cancelled while this work was in flight
                finally:
                    self.current = None
                continue
            await workflow.wait_condition(lambda: workflow.all_handlers_finished())
            if self._history_is_long() and not self._closes():
                workflow.continue_as_new(self._continue_input())
            if self._closes() and not self._has_ready_work():
                return {"protocol_run_id": self.run_info.id, "status": self.state.status.value}

    def _has_ready_work(self) -> bool:
        return bool(self.queue) and self.state.status != ProtocolStatus.PAUSED

    def _closes(self) -> bool:
        """Whether the workflow returns now: only a run started before ``STAYS_OPEN``, once finished."""
        return not self.stays_open and self.state.status in PROTOCOL_TERMINAL and not self.queue

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (info.is_continue_as_new_suggested()
                or info.get_current_history_length() > self.options.continue_as_new_after_events)

    def _continue_input(self) -> ProtocolRunInput:
        run = ProtocolRunSnapshot(**{**self.run_info.__dict__, "status": self.state.status.value,
                                     "runtime_state": self.state.runtime_state,
                                     "steps": self.state.ordered_steps()})
        return ProtocolRunInput(project=self.project, run=run, options=self.options, pending_work=self.queue,
                                seen_deliveries=self.seen_deliveries[-SEEN_DELIVERIES_KEPT:],
                                last_step_id=self.state.last_step_id)

    # --- protocol actions ------------------------------------------------------------------------

    @workflow.update(name=Update.START)
    async def start(self) -> ActionResult:
        async with self.lock:
            self.state.check_protocol_action(ProtocolAction.START)
            self.state.set_status(ProtocolStatus.PLANNING)
            await self._persist(self._event(EventType.PLANNING_STARTED, "Planning enqueued"))
            self._enqueue(WorkItem(kind=WorkKind.PLAN))
            return ActionResult("Planning enqueued", self._job(WorkKind.PLAN))

    @start.validator
    def _check_start(self) -> None:
        self.state.check_protocol_action(ProtocolAction.START)

    @workflow.update(name=Update.PAUSE)
    async def pause(self) -> ActionResult:
        async with self.lock:
            self.state.check_protocol_action(ProtocolAction.PAUSE)
            self.state.set_status(ProtocolStatus.PAUSED)
            await self._persist(self._event(EventType.PROTOCOL_PAUSED, "Protocol paused"))
            return ActionResult("Protocol paused")

    @pause.validator
    def _check_pause(self) -> None:
        self.state.check_protocol_action(ProtocolAction.PAUSE)

    @workflow.update(name=Update.RESUME)
    async def resume(self) -> ActionResult:
        async with self.lock:
            self.state.check_protocol_action(ProtocolAction.RESUME)
            self.state.set_status(ProtocolStatus.RUNNING)
            await self._persist(self._event(EventType.PROTOCOL_RESUMED, "Protocol resumed"))
            return ActionResult("Protocol resumed")

    @resume.validator
    def _check_resume(self) -> None:
        self.state.check_protocol_action(ProtocolAction.RESUME)

    @workflow.update(name=Update.CANCEL)
    async def cancel(self) -> ActionResult:
        async with self.lock:
            if self.state.status == ProtocolStatus.CANCELLED:
                return ActionResult("Protocol already cancelled")
            cancelled = self.state.cancel()
            self.queue.clear()
            if self.current is not None:
                self.current.cancel()
            await self._persist(self._event(EventType.PROTOCOL_CANCELLED,
                                            f"Protocol cancelled; {len(cancelled)} steps cancelled",
                                            cancelled_steps=[s.id for s in cancelled]))
            return ActionResult("Protocol cancelled")

    @workflow.update(name=Update.RUN_NEXT_STEP)
    async def run_next_step(self) -> ActionResult:
        async with self.lock:
            self.state.check_protocol_action(ProtocolAction.RUN_NEXT_STEP)
            step = self.state.next_runnable_step()
            return await self._begin_step(step, retry=False)

    @run_next_step.validator
    def _check_run_next_step(self) -> None:
        self.state.check_protocol_action(ProtocolAction.RUN_NEXT_STEP)
        self.state.next_runnable_step()

    @workflow.update(name=Update.RETRY_LATEST)
    async def retry_latest(self) -> ActionResult:
        async with self.lock:
            self.state.check_protocol_action(ProtocolAction.RETRY_LATEST)
            step = self.state.latest_retryable_step()
            return await self._begin_step(step, retry=True)

    @retry_latest.validator
    def _check_retry_latest(self) -> None:
        self.state.check_protocol_action(ProtocolAction.RETRY_LATEST)
        self.state.latest_retryable_step()

    @workflow.update(name=Update.OPEN_PR)
    async def open_pr(self) -> ActionResult:
        async with self.lock:
            self.state.check_protocol_action(ProtocolAction.OPEN_PR)
            await self._persist(self._event(EventType.OPEN_PR_REQUESTED,
                                            f"Pull request for {self.run_info.protocol_name} enqueued"))
            self._enqueue(WorkItem(kind=WorkKind.OPEN_PR))
            return ActionResult("Pull request enqueued", self._job(WorkKind.OPEN_PR))

    @open_pr.validator
    def _check_open_pr(self) -> None:
        self.state.check_protocol_action(ProtocolAction.OPEN_PR)

    async def _begin_step(self, step: StepState, *, retry: bool) -> ActionResult:
        retries = step.retries + 1 if retry else None
        self.state.set_step(step, StepStatus.RUNNING, retries=retries)
        if self.state.status not in PROTOCOL_TERMINAL:
            self.state.set_status(ProtocolStatus.RUNNING)
        kind = EventType.STEP_RETRIED if retry else EventType.STEP_STARTED
        await self._persist(self._event(kind, f"Step {step.step_index} {step.step_name} running"
                                        + (f" (retry {step.retries})" if retry else ""), step))
        self._enqueue(WorkItem(kind=WorkKind.EXECUTE, step_id=step.id))
        return ActionResult(f"Step {step.step_name} enqueued", self._job(WorkKind.EXECUTE, step), step_id=step.id)

    # --- step actions ----------------------------------------------------------------------------

    @workflow.update(name=Update.STEP_RUN)
    async def step_run(self, request: StepRequest) -> ActionResult:
        async with self.lock:
            step = self.state.check_step_action(StepAction.RUN, request.step_id)
            return await self._begin_step(step, retry=False)

    @step_run.validator
    def _check_step_run(self, request: StepRequest) -> None:
        self.state.check_step_action(StepAction.RUN, request.step_id)

    @workflow.update(name=Update.STEP_RUN_QA)
    async def step_run_qa(self, request: StepRequest) -> ActionResult:
        async with self.lock:
            step = self.state.check_step_action(StepAction.RUN_QA, request.step_id)
            self.state.set_step(step, StepStatus.NEEDS_QA)
            await self._persist(self._event(EventType.QA_REQUESTED, f"QA of step {step.step_name} enqueued", step))
            self._enqueue(WorkItem(kind=WorkKind.QA, step_id=step.id))
            return ActionResult(f"QA of step {step.step_name} enqueued", self._job(WorkKind.QA, step),
                                step_id=step.id)

    @step_run_qa.validator
    def _check_step_run_qa(self, request: StepRequest) -> None:
        self.state.check_step_action(StepAction.RUN_QA, request.step_id)

    @workflow.update(name=Update.STEP_APPROVE)
    async def step_approve(self, request: StepRequest) -> ActionResult:
        async with self.lock:
            step = self.state.check_step_action(StepAction.APPROVE, request.step_id)
            self.state.set_step(step, StepStatus.COMPLETED)
            events = [self._event(EventType.MANUAL_APPROVAL, f"Step {step.step_name} approved", step)]
            events += self._complete_if_done()
            await self._persist(*events)
            return ActionResult(f"Step {step.step_name} approved", step_id=step.id)

    @step_approve.validator
    def _check_step_approve(self, request: StepRequest) -> None:
        self.state.check_step_action(StepAction.APPROVE, request.step_id)

    @workflow.update(name=Update.ADD_STEPS)
    async def add_steps(self, steps: list[NewStep]) -> ActionResult:
        async with self.lock:
            self._check_new_steps(steps)
            events = [self.records.event(EventType.STEP_CREATED, f"Step {s.step_index} {s.step_name} created",
                                         step_index=s.step_index) for s in steps]
            try:
                created = await self._create_steps(steps, events)
            except WriteRejected as rejected:
                await self._persist(self._event(EventType.RECORD_REJECTED,
                                                f"{len(steps)} step(s) not created: {rejected.reason}",
                                                step_indexes=[s.step_index for s in steps]))
                raise record_rejected(f"steps not created: {rejected.reason}") from None
            return ActionResult(f"{len(created)} step(s) created", step_id=created[0].id if created else None)

    @add_steps.validator
    def _check_add_steps(self, steps: list[NewStep]) -> None:
        self._check_new_steps(steps)

    def _check_new_steps(self, steps: list[NewStep]) -> None:
        taken = {s.step_index for s in self.state.steps.values()}
        for step in steps:
            if step.step_index in taken:
                raise conflict(f"step_index {step.step_index} already exists in this protocol run")
            taken.add(step.step_index)

    @workflow.update(name=Update.IMPORT_STEPS)
    async def import_steps(self, steps: list[NewStep]) -> ActionResult:
        async with self.lock:
            self._check_import()
            self._check_new_steps(steps)
            self.state.set_status(ProtocolStatus.PLANNING)
            self.pending_imports = list(steps)
            await self._persist(self._event(EventType.CODEMACHINE_IMPORT_ENQUEUED,
                                            f"Import of {len(steps)} steps enqueued"))
            self._enqueue(WorkItem(kind=WorkKind.IMPORT))
            return ActionResult("CodeMachine import enqueued", self._job(WorkKind.IMPORT))

    @import_steps.validator
    def _check_import_steps(self, steps: list[NewStep]) -> None:
        self._check_import()
        self._check_new_steps(steps)

    def _check_import(self) -> None:
        if self.state.status not in (ProtocolStatus.PENDING, ProtocolStatus.PLANNED):
            raise conflict(f"cannot import into a protocol run that is {self.state.status.value}")

    @workflow.update(name=Update.WAIT_IDLE)
    async def wait_idle(self) -> str:
        """Return once no work is queued (or only held by a pause) and none is running: lets a
        client or a test await the end of what an action started instead of polling."""
        await workflow.wait_condition(
            lambda: self.current is None and not self._has_ready_work() and not self.reports_in_flight)
        return self.state.status.value

    # --- CI results ------------------------------------------------------------------------------

    @workflow.signal(name=Signal.CI_REPORT)
    async def ci_report(self, report: CiReport) -> None:
        if report.delivery_id:
            if report.delivery_id in self.seen_deliveries:
                return
            self.seen_deliveries.append(report.delivery_id)
            del self.seen_deliveries[:-SEEN_DELIVERIES_KEPT]
        self.reports_in_flight += 1
        try:
            async with self.lock:
                await self._apply_ci_report(report)
        finally:
            self.reports_in_flight -= 1
