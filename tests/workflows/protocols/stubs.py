"""Stand-ins for Capstan's activities, registered under the real activity names.

No git, no Postgres: each stub notes what it was called with and answers from a
script the test sets (by default every step executes and passes QA). The record
writes are applied to a small in-memory copy of what Postgres would hold, so a
test reads the run's status, its steps and its events the way a user would.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.protocols.workflow_io import (
    ActivityName,
    EventRecord,
    FetchRepositoryInput,
    FetchRepositoryResult,
    LostSetupSweep,
    NewStep,
    OpenPullRequestInput,
    PullRequestResult,
    RunRecordsResult,
    RunRecordsWrite,
    StepState,
)
from models.protocols.workspace_io import (
    BranchInput,
    CreateStepsWrite,
    ExecuteStepResult,
    PlanInput,
    PlanResult,
    QaResult,
    StepWorkInput,
)

BASE_SHA = "b" * 40


def executed(commit_sha: str = "c" * 40, message: str = "done") -> ExecuteStepResult:
    return ExecuteStepResult(exit_code=0, changed=True, commit_sha=commit_sha, artifact_id=None, message=message)


def execution_failed(message: str = "exit 1") -> ExecuteStepResult:
    return ExecuteStepResult(exit_code=1, changed=False, commit_sha=None, artifact_id=None, message=message)


def qa_passed(message: str = "ok") -> QaResult:
    return QaResult(passed=True, exit_code=0, artifact_id=None, message=message)


def qa_failed(message: str = "tests failed") -> QaResult:
    return QaResult(passed=False, exit_code=1, artifact_id=None, message=message)


@dataclass
class Records:
    """What ``write_run_records`` and ``create_step_runs`` would have left in Postgres."""

    protocol_status: str | None = None
    runtime_state: dict[str, Any] | None = None
    steps: dict[int, StepState] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)

    def step_statuses(self) -> list[str]:
        return [s.status for s in sorted(self.steps.values(), key=lambda s: s.step_index)]

    def event_types(self) -> list[str]:
        return [e.event_type for e in self.events]

    def events_of(self, event_type: str) -> list[EventRecord]:
        return [e for e in self.events if e.event_type == event_type]


class StubActivities:
    """One set of stubs per test. Script them before acting:

    - ``plan`` is what planning finds; ``execute_results`` / ``qa_results`` are used in turn
      (then every execution succeeds and every QA passes);
    - ``failures[name] = message`` makes that activity fail for good (non-retryable);
    - ``hold_execution()`` keeps ``execute_step`` running, heartbeating, until ``release()``
      or until it is cancelled; ``execution_started`` is set when it begins.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.records = Records()
        self.plan = PlanResult(root=".protocols/0001-demo", base_sha=BASE_SHA, steps=[])
        self.execute_results: list[ExecuteStepResult] = []
        self.qa_results: list[QaResult] = []
        self.failures: dict[str, str] = {}
        self.execution_started = asyncio.Event()
        self.execution_cancelled = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._next_step_id = 1

    # --- scripting and reading -------------------------------------------------------------------

    def load(self, status: str, steps: list[StepState]) -> None:
        """The rows a run's workflow starts from (the API starts it from Postgres)."""
        self.records.protocol_status = status
        self.records.steps.update({s.id: StepState(**vars(s)) for s in steps})
        self._next_step_id = max(self.records.steps, default=0) + 1

    def hold_execution(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def calls_to(self, name: str) -> list[Any]:
        return [arg for called, arg in self.calls if called == name]

    def _called(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        if name in self.failures:
            raise ApplicationError(self.failures[name], type="StubFailure", non_retryable=True)

    @property
    def activities(self) -> list:
        """Every activity name Capstan's workflows call, each with its stub."""
        return [self.record_run_changes, self.write_run_records, self.create_step_runs, self.fetch_repository,
                self.plan_protocol, self.execute_step, self.run_qa, self.ensure_protocol_branch, self.open_pull_request,
                self.start_lost_setups]

    # --- records ---------------------------------------------------------------------------------

    @activity.defn(name=ActivityName.RECORD_RUN_CHANGES)
    async def record_run_changes(self, write: RunRecordsWrite) -> RunRecordsResult:
        self._called(ActivityName.RECORD_RUN_CHANGES, write)
        steps = self._create(write.new_steps)
        ids = {s.step_index: s.id for s in steps}
        write.events = [replace(e, step_run_id=ids[e.step_index], step_index=None) if e.step_index is not None
                        else e for e in write.events]
        return RunRecordsResult(event_ids=self._apply(write), steps=steps)

    @activity.defn(name=ActivityName.WRITE_RUN_RECORDS)
    async def write_run_records(self, write: RunRecordsWrite) -> list[int]:
        self._called(ActivityName.WRITE_RUN_RECORDS, write)
        return self._apply(write)

    def _apply(self, write: RunRecordsWrite) -> list[int]:
        records = self.records
        if write.protocol_status is not None:
            records.protocol_status = write.protocol_status
        if write.protocol_runtime_state is not None:
            records.runtime_state = write.protocol_runtime_state
        for change in write.step_changes:
            step = records.steps[change.step_run_id]
            step.status = change.status
            step.retries = step.retries if change.retries is None else change.retries
            step.summary = step.summary if change.summary is None else change.summary
        seen = {e.dedupe_key for e in records.events}
        new = [e for e in write.events if e.dedupe_key is None or e.dedupe_key not in seen]
        first_id = len(records.events) + 1
        records.events.extend(new)
        return list(range(first_id, first_id + len(new)))

    @activity.defn(name=ActivityName.CREATE_STEP_RUNS)
    async def create_step_runs(self, write: CreateStepsWrite) -> list[StepState]:
        self._called(ActivityName.CREATE_STEP_RUNS, write)
        return self._create(write.steps)

    def _create(self, steps: list[NewStep]) -> list[StepState]:
        by_index = {s.step_index: s for s in self.records.steps.values()}
        for new in steps:
            if new.step_index not in by_index:
                step = StepState(id=self._next_step_id, **vars(new))
                self._next_step_id += 1
                self.records.steps[step.id] = by_index[new.step_index] = step
        return [StepState(**vars(by_index[i])) for i in sorted({s.step_index for s in steps})]

    # --- git and the workspace -------------------------------------------------------------------

    @activity.defn(name=ActivityName.FETCH_REPOSITORY)
    async def fetch_repository(self, request: FetchRepositoryInput) -> FetchRepositoryResult:
        self._called(ActivityName.FETCH_REPOSITORY, request)
        return FetchRepositoryResult(head_sha=BASE_SHA, detected_ci_provider=None)

    @activity.defn(name=ActivityName.PLAN_PROTOCOL)
    async def plan_protocol(self, request: PlanInput) -> PlanResult:
        self._called(ActivityName.PLAN_PROTOCOL, request)
        return self.plan

    @activity.defn(name=ActivityName.EXECUTE_STEP)
    async def execute_step(self, request: StepWorkInput) -> ExecuteStepResult:
        self._called(ActivityName.EXECUTE_STEP, request)
        self.execution_started.set()
        try:
            while not self._released.is_set():
                activity.heartbeat()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), timeout=0.2)
        except asyncio.CancelledError:
            self.execution_cancelled.set()
            raise
        return self.execute_results.pop(0) if self.execute_results else executed()

    @activity.defn(name=ActivityName.RUN_QA)
    async def run_qa(self, request: StepWorkInput) -> QaResult:
        self._called(ActivityName.RUN_QA, request)
        return self.qa_results.pop(0) if self.qa_results else qa_passed()

    @activity.defn(name=ActivityName.ENSURE_PROTOCOL_BRANCH)
    async def ensure_protocol_branch(self, request: BranchInput) -> str:
        self._called(ActivityName.ENSURE_PROTOCOL_BRANCH, request)
        return BASE_SHA

    # --- the forge -------------------------------------------------------------------------------

    @activity.defn(name=ActivityName.OPEN_PULL_REQUEST)
    async def open_pull_request(self, request: OpenPullRequestInput) -> PullRequestResult:
        self._called(ActivityName.OPEN_PULL_REQUEST, request)
        return PullRequestResult(url=f"https://github.com/{request.repository}/pull/7", number=7, created=True)

    # --- the lost-setup sweep --------------------------------------------------------------------

    @activity.defn(name=ActivityName.START_LOST_SETUPS)
    async def start_lost_setups(self, sweep: LostSetupSweep) -> int:
        self._called(ActivityName.START_LOST_SETUPS, sweep)
        return 0
