"""The work ProtocolRunWorkflow queues and performs one item at a time: planning, a CodeMachine
import, a step's execution, its QA, and a pull request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

from models.protocols.event_types import EventType
from models.protocols.forges import forge_for, forge_repository
from models.protocols.status import ProtocolStatus, StepStatus
from models.protocols.workflow_io import (
    JOB_TYPES,
    ActivityName,
    OpenPullRequestInput,
    PullRequestResult,
    StepState,
    WorkItem,
    WorkKind,
)
from models.protocols.workspace_io import (
    BranchInput,
    ExecuteStepResult,
    PlanInput,
    PlanResult,
    QaResult,
    StepWorkInput,
    default_protocol_root,
)
from workflows.common.failures import failure_reason
from workflows.common.retry import bounded_retry
from workflows.protocols.run_base import ProtocolRunBase


class WorkRunner(ProtocolRunBase):
    async def _perform(self, item: WorkItem) -> None:
        if item.kind == WorkKind.PLAN:
            await self._plan()
        elif item.kind == WorkKind.IMPORT:
            await self._import()
        elif item.kind == WorkKind.EXECUTE:
            await self._execute(item)
        elif item.kind == WorkKind.QA:
            await self._qa(item)
        elif item.kind == WorkKind.OPEN_PR:
            await self._open_pr()

    def _retry(self) -> RetryPolicy:
        return bounded_retry(self.options.activity_max_attempts, maximum_interval=timedelta(seconds=30))

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
                await self._persist(self._event(EventType.JOB_FAILED, f"Planning failed: {failure_reason(error)}",
                                                job=JOB_TYPES[WorkKind.PLAN]))
            return
        async with self.lock:
            known = {s.step_index for s in self.state.steps.values()}
            new = [s for s in plan.steps if s.step_index not in known]
            if plan.steps:
                message = f"Planned {len(plan.steps)} steps from {plan.root} at {plan.base_sha[:12]}"
            else:
                message = f"No step files in {plan.root}; planned 0 steps"
            planned = self._event(EventType.PROTOCOL_PLANNED, message, root=plan.root, base_sha=plan.base_sha,
                                  steps=len(plan.steps), created=len(new))
            await self._create_steps_or_block(new, [planned], f"Planning failed: the steps in {plan.root} were "
                                              "not recorded", JOB_TYPES[WorkKind.PLAN])

    async def _import(self) -> None:
        async with self.lock:
            steps, self.pending_imports = self.pending_imports, []
            imported = self._event(EventType.CODEMACHINE_IMPORTED, f"Imported {len(steps)} steps")
            await self._create_steps_or_block(steps, [imported], "Import failed: the steps were not recorded",
                                              JOB_TYPES[WorkKind.IMPORT])

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
                    await self._persist(*self._fail_step(step, EventType.JOB_FAILED, f"Step {step.step_name} could not "
                                                         f"run: {failure_reason(error)}",
                                                         job=JOB_TYPES[WorkKind.EXECUTE]))
            return
        async with self.lock:
            if step.status != StepStatus.RUNNING:
                return  # cancelled or moved by an action while it ran
            meta = {"exit_code": result.exit_code, "artifact_id": result.artifact_id,
                    "commit_sha": result.commit_sha, "changed": result.changed}
            if result.exit_code != 0:
                await self._persist(*self._fail_step(step, EventType.STEP_FAILED,
                                                     f"Step {step.step_name}: {result.message}", **meta))
                return
            self.state.set_step(step, StepStatus.NEEDS_QA, summary=result.message)
            sha = f" as {result.commit_sha[:12]}" if result.changed and result.commit_sha else " (no changes)"
            await self._persist(self._event(EventType.STEP_COMPLETED, f"Step {step.step_name} executed{sha}; needs QA",
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
                    await self._persist(*self._fail_step(step, EventType.JOB_FAILED,
                                                         f"QA of {step.step_name} could not run: "
                                                         f"{failure_reason(error)}",
                                                         job=JOB_TYPES[WorkKind.QA]))
            return
        async with self.lock:
            if step.status != StepStatus.NEEDS_QA:
                return
            meta = {"exit_code": result.exit_code, "artifact_id": result.artifact_id}
            if not result.passed:
                await self._persist(*self._fail_step(step, EventType.QA_FAILED, f"QA of {step.step_name} failed: "
                                                     f"{result.message}", **meta))
                return
            self.state.set_step(step, StepStatus.COMPLETED)
            events = [self._event(EventType.QA_PASSED, f"QA of {step.step_name} passed: {result.message}", step,
                                  **meta)]
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
            await self._persist(self._event(EventType.PR_OPENED, f"Pull request {verb}: {pr.url}", url=pr.url,
                                            number=pr.number, forge=forge, created=pr.created))

    async def _open_pr_failed(self, reason: str) -> None:
        async with self.lock:
            if self.state.status != ProtocolStatus.CANCELLED:
                self.state.set_status(ProtocolStatus.BLOCKED)
            await self._persist(self._event(EventType.OPEN_PR_FAILED, f"Pull request not opened: {reason}"))

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
