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
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

from models.common import search_attributes as sa
from models.protocols.forges import forge_for, forge_repository
from models.protocols.status import PROTOCOL_TERMINAL, ProtocolAction, ProtocolStatus, StepAction, StepStatus
from models.protocols.workflow_io import (
    JOB_TYPES,
    ActionResult,
    ActivityName,
    CiOutcome,
    CiReport,
    NewStep,
    OpenPullRequestInput,
    ProjectSnapshot,
    ProtocolRunInput,
    ProtocolRunSnapshot,
    PullRequestResult,
    RunRecordsWrite,
    Signal,
    StepRequest,
    StepState,
    StepStatusChange,
    Update,
    WorkItem,
    WorkKind,
)
from models.protocols.workspace_io import (
    BranchInput,
    CreateStepsWrite,
    ExecuteStepResult,
    PlanInput,
    PlanResult,
    QaResult,
    StepWorkInput,
    default_protocol_root,
)
from workflows.common.records import RECORD_REJECTED, RECORDS_RETRY, RecordWriter, rejection_reason
from workflows.protocols.project_setup import failure_reason
from workflows.protocols.protocol_state import ProtocolRunState, conflict, record_rejected

IMPORT_JOB = "codemachine_import_job"
SEEN_DELIVERIES_KEPT = 500


@workflow.defn(name="ProtocolRunWorkflow")
class ProtocolRunWorkflow:
    @workflow.init
    def __init__(self, run_input: ProtocolRunInput) -> None:
        self.project: ProjectSnapshot = run_input.project
        self.run_info: ProtocolRunSnapshot = run_input.run
        self.options = run_input.options
        self.state = ProtocolRunState(run_input.run.status, run_input.run.steps, run_input.run.runtime_state,
                                      run_input.last_step_id)
        self.queue: list[WorkItem] = list(run_input.pending_work)
        self.seen_deliveries: list[str] = list(run_input.seen_deliveries)
        self.pending_imports: list[NewStep] = []
        self.records = RecordWriter(self.project.id, self.run_info.id)
        self.lock = asyncio.Lock()
        self.current: asyncio.Task | None = None
        self.job_seq = 0
        self.work_seq = 0
        self.reports_in_flight = 0

    # --- main loop -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, run_input: ProtocolRunInput) -> dict[str, Any]:
        while True:
            await workflow.wait_condition(
                lambda: self._has_ready_work() or self._finished() or self._history_is_long())
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
            if self._history_is_long() and not self._finished():
                workflow.continue_as_new(self._continue_input())
            if self._finished() and not self._has_ready_work():
                return {"protocol_run_id": self.run_info.id, "status": self.state.status.value}

    def _has_ready_work(self) -> bool:
        return bool(self.queue) and self.state.status != ProtocolStatus.PAUSED

    def _finished(self) -> bool:
        return self.state.status in PROTOCOL_TERMINAL and not self.queue

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

    # --- writing ---------------------------------------------------------------------------------

    async def _persist(self, *events) -> None:
        """Write the protocol status, every changed step and the events, in one transaction."""
        changes = [StepStatusChange(step_run_id=s.id, status=s.status, retries=s.retries, summary=s.summary)
                   for s in self.state.take_changed_steps()]
        await self.records.write(RunRecordsWrite(
            project_id=self.project.id, protocol_run_id=self.run_info.id,
            protocol_status=self.state.status.value, protocol_runtime_state=self.state.take_runtime_state(),
            step_changes=changes, events=list(events)))
        workflow.upsert_search_attributes([sa.STATUS.value_set(self.state.status.value)])

    def _event(self, event_type: str, message: str, step: StepState | None = None, **metadata):
        return self.records.event(event_type, message, step_run_id=step.id if step else None,
                                  metadata=metadata or None)

    def _job(self, kind: str, step: StepState | None = None, job_type: str | None = None) -> dict[str, Any]:
        self.job_seq += 1
        info = workflow.info()
        return {"id": f"{info.workflow_id}/{kind}/{info.run_id}/{self.job_seq}", "type": job_type or JOB_TYPES[kind],
                "workflow_id": info.workflow_id, "run_id": info.run_id, "step_id": step.id if step else None}

    def _enqueue(self, item: WorkItem, *, first: bool = False) -> None:
        if first:
            self.queue.insert(0, item)
        else:
            self.queue.append(item)

    # --- protocol actions ------------------------------------------------------------------------

    @workflow.update(name=Update.START)
    async def start(self) -> ActionResult:
        async with self.lock:
            self.state.check_protocol_action(ProtocolAction.START)
            self.state.set_status(ProtocolStatus.PLANNING)
            await self._persist(self._event("planning_started", "Planning enqueued"))
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
            await self._persist(self._event("protocol_paused", "Protocol paused"))
            return ActionResult("Protocol paused")

    @pause.validator
    def _check_pause(self) -> None:
        self.state.check_protocol_action(ProtocolAction.PAUSE)

    @workflow.update(name=Update.RESUME)
    async def resume(self) -> ActionResult:
        async with self.lock:
            self.state.check_protocol_action(ProtocolAction.RESUME)
            self.state.set_status(ProtocolStatus.RUNNING)
            await self._persist(self._event("protocol_resumed", "Protocol resumed"))
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
            await self._persist(self._event("protocol_cancelled",
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
            await self._persist(self._event("open_pr_requested", f"Pull request for {self.run_info.protocol_name} "
                                                                 "enqueued"))
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
        kind = "step_retried" if retry else "step_started"
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
            await self._persist(self._event("qa_requested", f"QA of step {step.step_name} enqueued", step))
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
            events = [self._event("manual_approval", f"Step {step.step_name} approved", step)]
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
            try:
                created = await self._create_steps(steps)
            except ActivityError as error:
                reason = rejection_reason(error)
                if reason is None:
                    raise
                await self._persist(self._event(RECORD_REJECTED, f"{len(steps)} step(s) not created: {reason}",
                                                step_indexes=[s.step_index for s in steps]))
                raise record_rejected(f"steps not created: {reason}") from None
            await self._persist(*[self._event("step_created", f"Step {s.step_index} {s.step_name} created", s)
                                  for s in created])
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
            await self._persist(self._event("codemachine_import_enqueued", f"Import of {len(steps)} steps enqueued"))
            self._enqueue(WorkItem(kind=IMPORT_JOB))
            return ActionResult("CodeMachine import enqueued", self._job(IMPORT_JOB, job_type=IMPORT_JOB))

    @import_steps.validator
    def _check_import_steps(self, steps: list[NewStep]) -> None:
        self._check_import()
        self._check_new_steps(steps)

    def _check_import(self) -> None:
        if self.state.status not in (ProtocolStatus.PENDING, ProtocolStatus.PLANNED):
            raise conflict(f"cannot import into a protocol run that is {self.state.status.value}")

    async def _create_steps(self, steps: list[NewStep]) -> list[StepState]:
        if not steps:
            return []
        created: list[StepState] = await workflow.execute_activity(
            ActivityName.CREATE_STEP_RUNS,
            CreateStepsWrite(project_id=self.project.id, protocol_run_id=self.run_info.id, steps=steps),
            result_type=list[StepState], start_to_close_timeout=timedelta(seconds=30), retry_policy=RECORDS_RETRY)
        self.state.add_steps(created)
        return created

    async def _create_steps_or_block(self, steps: list[NewStep], failure: str, job: str) -> list[StepState] | None:
        """Create the steps queued work found; steps Postgres refuses block the run with an event instead."""
        try:
            return await self._create_steps(steps)
        except ActivityError as error:
            reason = rejection_reason(error)
            if reason is None:
                raise
        if self.state.status == ProtocolStatus.PLANNING:
            self.state.set_status(ProtocolStatus.BLOCKED)
        await self._persist(self._event(RECORD_REJECTED, f"{failure}: {reason}", job=job))
        return None

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

    async def _apply_ci_report(self, report: CiReport) -> None:
        meta = {"source": report.source, "event": report.event_name, "status": report.status,
                "outcome": report.outcome, "branch": report.branch, "delivery_id": report.delivery_id}
        if self.state.status == ProtocolStatus.CANCELLED:
            await self._persist(self._event("ci_ignored", f"CI {report.status} ignored: run is cancelled", **meta))
            return
        if report.outcome == CiOutcome.MERGED:
            events = [self._event("pr_merged", "Pull request merged; protocol completed", **meta)]
            if self.state.status != ProtocolStatus.COMPLETED:
                self.state.set_status(ProtocolStatus.COMPLETED)
                events.append(self._event("protocol_completed", "Protocol completed"))
            await self._persist(*events)
            return
        step = self.state.ci_target_step()
        if step is None:
            await self._persist(self._event("ci_unmatched", f"CI {report.status}: no step has run yet", **meta))
            return
        if report.outcome == CiOutcome.RUNNING:
            self.state.set_step(step, StepStatus.RUNNING)
            await self._persist(self._event("ci_running", f"CI {report.status} for step {step.step_name}", step,
                                            **meta))
        elif report.outcome == CiOutcome.SUCCESS:
            if self.options.auto_qa_on_ci:
                self.state.set_step(step, StepStatus.NEEDS_QA)
                await self._persist(self._event("ci_succeeded", f"CI passed for step {step.step_name}; QA enqueued",
                                                step, **meta))
                self._enqueue(WorkItem(kind=WorkKind.QA, step_id=step.id), first=True)
            else:
                self.state.set_step(step, StepStatus.COMPLETED)
                events = [self._event("ci_succeeded", f"CI passed for step {step.step_name}", step, **meta)]
                events += self._after_completion(step, depth=0)
                await self._persist(*events)
        elif report.outcome == CiOutcome.FAILURE:
            await self._persist(*self._fail_step(step, "ci_failed", f"CI {report.status} for step {step.step_name}",
                                                 **meta))

    # --- work ------------------------------------------------------------------------------------

    async def _perform(self, item: WorkItem) -> None:
        if item.kind == WorkKind.PLAN:
            await self._plan()
        elif item.kind == IMPORT_JOB:
            await self._import()
        elif item.kind == WorkKind.EXECUTE:
            await self._execute(item)
        elif item.kind == WorkKind.QA:
            await self._qa(item)
        elif item.kind == WorkKind.OPEN_PR:
            await self._open_pr()

    def _retry(self) -> RetryPolicy:
        return RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=30),
                           maximum_attempts=self.options.activity_max_attempts)

    async def _activity(self, name: str, arg: Any, result_type: type, timeout: float) -> Any:
        return await workflow.execute_activity(
            name, arg, result_type=result_type, retry_policy=self._retry(),
            start_to_close_timeout=timedelta(seconds=timeout + 300),
            heartbeat_timeout=timedelta(seconds=self.options.heartbeat_timeout_seconds))

    @property
    def protocol_root(self) -> str:
        return self.run_info.protocol_root or default_protocol_root(self.run_info.protocol_name)

    async def _plan(self) -> None:
        request = PlanInput(git_url=self.project.git_url, base_branch=self.run_info.base_branch,
                            protocol_name=self.run_info.protocol_name, protocol_root=self.run_info.protocol_root)
        try:
            plan: PlanResult = await self._activity(ActivityName.PLAN_PROTOCOL, request, PlanResult, 600)
        except ActivityError as error:
            async with self.lock:
                if self.state.status == ProtocolStatus.PLANNING:
                    self.state.set_status(ProtocolStatus.BLOCKED)
                await self._persist(self._event("job_failed", f"Planning failed: {failure_reason(error)}",
                                                job=JOB_TYPES[WorkKind.PLAN]))
            return
        async with self.lock:
            known = {s.step_index for s in self.state.steps.values()}
            created = await self._create_steps_or_block([s for s in plan.steps if s.step_index not in known],
                                                        f"Planning failed: the steps in {plan.root} were not recorded",
                                                        JOB_TYPES[WorkKind.PLAN])
            if created is None:
                return
            if self.state.status == ProtocolStatus.PLANNING:
                self.state.set_status(ProtocolStatus.PLANNED)
            if plan.steps:
                message = f"Planned {len(plan.steps)} steps from {plan.root} at {plan.base_sha[:12]}"
            else:
                message = f"No step files in {plan.root}; planned 0 steps"
            await self._persist(self._event("protocol_planned", message, root=plan.root, base_sha=plan.base_sha,
                                            steps=len(plan.steps), created=len(created)))

    async def _import(self) -> None:
        async with self.lock:
            steps, self.pending_imports = self.pending_imports, []
            created = await self._create_steps_or_block(steps, "Import failed: the steps were not recorded", IMPORT_JOB)
            if created is None:
                return
            if self.state.status == ProtocolStatus.PLANNING:
                self.state.set_status(ProtocolStatus.PLANNED)
            await self._persist(self._event("codemachine_imported", f"Imported {len(created)} steps"))

    def _next_work_seq(self) -> int:
        self.work_seq += 1
        return self.work_seq

    def _work_input(self, step: StepState, kind: str, timeout: float) -> StepWorkInput:
        info = workflow.info()
        return StepWorkInput(
            project_id=self.project.id, protocol_run_id=self.run_info.id, step_id=step.id,
            step_index=step.step_index, step_name=step.step_name, git_url=self.project.git_url,
            base_branch=self.run_info.base_branch, protocol_branch=self.run_info.protocol_name,
            protocol_root=self.protocol_root, execution_key=f"{info.run_id}/{kind}/{step.id}/{self._next_work_seq()}",
            engine_id=step.engine_id, model=step.model, qa_command=self.project.qa_command,
            prompt=(step.runtime_state or {}).get("prompt"), timeout_seconds=timeout)

    async def _execute(self, item: WorkItem) -> None:
        step = self.state.steps.get(item.step_id)
        if step is None or step.status != StepStatus.RUNNING:
            return
        request = self._work_input(step, "exec", self.options.step_timeout_seconds)
        try:
            result: ExecuteStepResult = await self._activity(ActivityName.EXECUTE_STEP, request, ExecuteStepResult,
                                                             self.options.step_timeout_seconds)
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                return  # cancelled with the run: the cancel action recorded it
            async with self.lock:
                if step.status == StepStatus.RUNNING:
                    await self._persist(*self._fail_step(step, "job_failed", f"Step {step.step_name} could not "
                                                         f"run: {failure_reason(error)}",
                                                         job=JOB_TYPES[WorkKind.EXECUTE]))
            return
        async with self.lock:
            if step.status != StepStatus.RUNNING:
                return  # cancelled or moved by an action while it ran
            meta = {"exit_code": result.exit_code, "artifact_id": result.artifact_id,
                    "commit_sha": result.commit_sha, "changed": result.changed}
            if result.exit_code != 0:
                await self._persist(*self._fail_step(step, "step_failed", f"Step {step.step_name}: {result.message}",
                                                     **meta))
                return
            self.state.set_step(step, StepStatus.NEEDS_QA, summary=result.message)
            sha = f" as {result.commit_sha[:12]}" if result.changed and result.commit_sha else " (no changes)"
            await self._persist(self._event("step_completed", f"Step {step.step_name} executed{sha}; needs QA",
                                            step, **meta))
            if self.options.auto_qa_after_exec:
                self._enqueue(WorkItem(kind=WorkKind.QA, step_id=step.id, depth=item.depth), first=True)

    async def _qa(self, item: WorkItem) -> None:
        step = self.state.steps.get(item.step_id)
        if step is None or step.status != StepStatus.NEEDS_QA:
            return
        request = self._work_input(step, "qa", self.options.qa_timeout_seconds)
        try:
            result: QaResult = await self._activity(ActivityName.RUN_QA, request, QaResult,
                                                    self.options.qa_timeout_seconds)
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                return  # cancelled with the run: the cancel action recorded it
            async with self.lock:
                if step.status == StepStatus.NEEDS_QA:
                    await self._persist(*self._fail_step(step, "job_failed", f"QA of {step.step_name} could not "
                                                         f"run: {failure_reason(error)}",
                                                         job=JOB_TYPES[WorkKind.QA]))
            return
        async with self.lock:
            if step.status != StepStatus.NEEDS_QA:
                return
            meta = {"exit_code": result.exit_code, "artifact_id": result.artifact_id}
            if not result.passed:
                await self._persist(*self._fail_step(step, "qa_failed", f"QA of {step.step_name} failed: "
                                                     f"{result.message}", **meta))
                return
            self.state.set_step(step, StepStatus.COMPLETED)
            events = [self._event("qa_passed", f"QA of {step.step_name} passed: {result.message}", step, **meta)]
            events += self._after_completion(step, item.depth)
            await self._persist(*events)

    async def _open_pr(self) -> None:
        forge = forge_for(self.project.ci_provider, self.project.git_url)
        repository = forge_repository(self.project.git_url, self.project.forge_repository, forge) if forge else None
        if forge is None or repository is None:
            await self._open_pr_failed("no GitHub or GitLab repository is known for this project "
                                       "(set ci_provider and forge_repository)")
            return
        try:
            await self._activity(ActivityName.ENSURE_PROTOCOL_BRANCH, BranchInput(
                git_url=self.project.git_url, base_branch=self.run_info.base_branch,
                protocol_branch=self.run_info.protocol_name), str, 600)
            pr: PullRequestResult = await self._activity(ActivityName.OPEN_PULL_REQUEST, OpenPullRequestInput(
                project_id=self.project.id, protocol_run_id=self.run_info.id, forge=forge, repository=repository,
                head_branch=self.run_info.protocol_name, base_branch=self.run_info.base_branch,
                title=self._pr_title(), body=self._pr_body()), PullRequestResult, 60)
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                return  # cancelled with the run: the cancel action recorded it
            await self._open_pr_failed(failure_reason(error))
            return
        async with self.lock:
            verb = "opened" if pr.created else "already open"
            await self._persist(self._event("pr_opened", f"Pull request {verb}: {pr.url}", url=pr.url,
                                            number=pr.number, forge=forge, created=pr.created))

    async def _open_pr_failed(self, reason: str) -> None:
        async with self.lock:
            if self.state.status != ProtocolStatus.CANCELLED:
                self.state.set_status(ProtocolStatus.BLOCKED)
            await self._persist(self._event("open_pr_failed", f"Pull request not opened: {reason}"))

    def _pr_title(self) -> str:
        return f"{self.run_info.protocol_name}: {self.run_info.description}" if self.run_info.description \
            else f"Protocol {self.run_info.protocol_name}"

    def _pr_body(self) -> str:
        lines = [self.run_info.description or f"Changes of protocol `{self.run_info.protocol_name}`.", "",
                 "Steps:"]
        lines += [f"- [{'x' if s.status == StepStatus.COMPLETED else ' '}] {s.step_index}. {s.step_name} "
                  f"({s.status})" for s in self.state.ordered_steps()]
        lines += ["", f"Opened by Capstan for protocol run {self.run_info.id}."]
        return "\n".join(lines)

    # --- shared transitions ----------------------------------------------------------------------

    def _fail_step(self, step: StepState, event_type: str, message: str, **meta) -> list:
        """Step failed → protocol blocked, unless its loop policy sends the run round again."""
        self.state.set_step(step, StepStatus.FAILED)
        if self.state.status not in PROTOCOL_TERMINAL:
            self.state.set_status(ProtocolStatus.BLOCKED)
        events = [self._event(event_type, message, step, **meta)]
        loop = self.state.apply_loop_policy(step)
        if loop is None:
            return events
        if not loop.reset:
            events.append(self._event("loop_policy_exhausted", f"Loop of step {step.step_name} reached "
                                      f"{loop.max_iterations} iterations; run stays blocked", step,
                                      iterations=loop.iteration))
            return events
        first = loop.reset[0]
        self.state.set_step(first, StepStatus.RUNNING)
        self.state.set_status(ProtocolStatus.RUNNING)
        self._enqueue(WorkItem(kind=WorkKind.EXECUTE, step_id=first.id), first=True)
        events.append(self._event("loop_policy_applied", f"Loop {loop.iteration}/{loop.max_iterations}: reset "
                                  f"{len(loop.reset)} steps, running {first.step_name} again", step,
                                  iteration=loop.iteration, reset_steps=[s.id for s in loop.reset]))
        return events

    def _after_completion(self, step: StepState, depth: int) -> list:
        """A completed step may trigger another (inline, depth ≤ 3) or complete the protocol."""
        target = self.state.trigger_target(step, depth)
        if target is not None and target.status != StepStatus.RUNNING:
            self.state.record_trigger(step, target, depth + 1)
            self.state.set_step(target, StepStatus.RUNNING)
            self._enqueue(WorkItem(kind=WorkKind.EXECUTE, step_id=target.id, depth=depth + 1), first=True)
            return [self._event("trigger_policy_applied", f"Step {step.step_name} triggered {target.step_name} "
                                f"(depth {depth + 1})", target, source_step=step.id, depth=depth + 1)]
        return self._complete_if_done()

    def _complete_if_done(self) -> list:
        if not self.state.can_complete():
            return []
        self.state.set_status(ProtocolStatus.COMPLETED)
        return [self._event("protocol_completed", "Every step is done; protocol completed")]

