"""Stub activities of ``CodingTaskWorkflow`` and ``TaskStatusChangeWorkflow``, registered under the real
names: they record what the workflow asked for, refuse a request the way a scenario wants, and play the
runner (report and exit, hang until cancelled, exit without a result)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.common.records import RECORD_REJECTED_ERROR
from models.tasks.requests import (
    EnqueuedRun,
    EnqueueRecord,
    EnqueueRun,
    ManualStatusChange,
    ResultArrival,
    TaskRequest,
    TaskSource,
)
from models.tasks.status import TERMINAL_STATUSES, RunnerKind, TaskStatus
from models.tasks.workflow_io import (
    ActivityName,
    CodingTaskInput,
    LaunchRequest,
    PullRequest,
    PullRequestInput,
    Readiness,
    RemoteRunner,
    RunnerExit,
    RunnerLaunch,
    Transition,
)

EXECUTION_ID = "task_0b6f7c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b"
#: How the stub runner behaves: exit after its result is signalled, hang until cancelled, or exit at once
#: without ever reporting.
RunnerPlay = Literal["reports", "hangs", "exits_silently"]


def task_input(runner: RunnerKind = RunnerKind.LOCAL, watchdog_seconds: float = 60.0,
               result_grace_seconds: float = 30.0, intake: EnqueueRun | None = None) -> CodingTaskInput:
    return CodingTaskInput(execution_id=EXECUTION_ID, task_id="acme/widgets#11", runner=runner,
                           watchdog_seconds=watchdog_seconds, heartbeat_seconds=2.0,
                           result_grace_seconds=result_grace_seconds, intake=intake)


def intake_input(**changes: Any) -> CodingTaskInput:
    """How the webhook starts a comment's run: the request (and its delivery id) in the workflow's input."""
    return task_input(intake=comment_request(), **changes)


def comment_request(**changes: Any) -> EnqueueRun:
    """What the webhook enqueues for ``@capstan mock fix the typo`` on acme/widgets#11."""
    request = TaskRequest(
        repo_owner="acme", repo_name="widgets", issue_number=11, issue_title="Fix the typo",
        issue_body="It says teh.", requested_by="alice", requester_user_id=42, source=TaskSource.WEBHOOK,
        installation_id=7, clone_url="/srv/widgets.git", agent="mock", instructions="fix the typo", comment_id=5001)
    return EnqueueRun(request=request.model_copy(update=changes), delivery_id="delivery-1")


def dashboard_request() -> EnqueueRun:
    """A dashboard create without an issue: the run opens it first."""
    return EnqueueRun(request=TaskRequest(
        repo_owner="acme", repo_name="widgets", requested_by="bob", requester_user_id=43,
        source=TaskSource.DASHBOARD, agent="mock", instructions="Add a FAQ.",
        new_issue={"title": "Add a FAQ", "body": "Add a FAQ."}, github_read="issue"))


def manual_change(**changes: Any) -> ManualStatusChange:
    return ManualStatusChange(task_id="acme/widgets#11", status=TaskStatus.SUCCESS, summary="Fixed by hand",
                              requester_user_id=42).model_copy(update=changes)


@dataclass
class TaskStubs:
    runner: RunnerPlay = "reports"
    #: The ``ApplicationError.type`` the enqueue write (or a manual status) refuses with, if any.
    refuse: str | None = None
    #: When set, the enqueue write waits for it (``enqueue_recording`` says it began).
    hold_enqueue: asyncio.Event | None = None
    enqueue_recording: asyncio.Event = field(default_factory=asyncio.Event)
    blocked: str | None = None
    pull_error: str | None = None
    #: How many first reads of the execution find nothing (the API has not committed it yet).
    load_misses: int = 0
    #: Called (with the stubs) once the runner runs, so a test can signal the result then.
    on_runner_started: Callable[[], None] | None = None
    #: Called as each transition is recorded.
    on_transition: Callable[[], None] | None = None
    #: When set, the write of a run's last transition waits for it (``final_recording`` says it began).
    hold_final: asyncio.Event | None = None
    final_recording: asyncio.Event = field(default_factory=asyncio.Event)
    calls: list[str] = field(default_factory=list)
    enqueued: list[EnqueueRecord] = field(default_factory=list)
    arrivals: list[ResultArrival] = field(default_factory=list)
    manual: list[ManualStatusChange] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    runner_started: asyncio.Event = field(default_factory=asyncio.Event)
    runner_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    result_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def activities(self) -> list[Callable]:
        @activity.defn(name=ActivityName.LOAD_EXECUTION)
        async def load_task_execution(execution_id: str) -> dict[str, Any]:
            """Runs from before the ``enqueue`` Update (their recorded histories hold its answer)."""
            self.calls.append(ActivityName.LOAD_EXECUTION)
            if self.calls.count(ActivityName.LOAD_EXECUTION) <= self.load_misses:
                raise ApplicationError(f"execution {execution_id} is not recorded", type="ExecutionNotRecorded")
            return {"execution_id": execution_id, "task_id": "acme/widgets#11", "repo_owner": "acme",
                    "repo_name": "widgets", "issue_number": 11, "issue_title": "Fix the typo",
                    "issue_body": "It says teh.", "clone_url": "/srv/widgets.git", "base_branch": "main",
                    "branch": f"capstan/{execution_id}", "agent": "mock", "priority": "normal",
                    "instructions": "fix the typo", "comment_id": 5001}

        @activity.defn(name=ActivityName.READ_TASK_REQUEST)
        async def read_task_request_from_github(request: TaskRequest) -> TaskRequest:
            self.calls.append(ActivityName.READ_TASK_REQUEST)
            if self.refuse == "github_refused":
                raise ApplicationError("reading the task's repository and issue: Not Found",
                                       {"status": 404, "message": "Not Found", "headers": {}},
                                       type="github_refused", non_retryable=True)
            return request.model_copy(update={
                "issue_number": request.issue_number or 12, "issue_title": "Add a FAQ", "issue_body": "Add a FAQ.",
                "clone_url": "/srv/widgets.git", "default_branch": "main", "new_issue": None, "github_read": None})

        @activity.defn(name=ActivityName.RECORD_ENQUEUE)
        async def record_task_enqueue(record: EnqueueRecord) -> EnqueuedRun:
            self.calls.append(ActivityName.RECORD_ENQUEUE)
            if self.hold_enqueue is not None:
                self.enqueue_recording.set()
                await self.hold_enqueue.wait()
            self.enqueued.append(record)
            if self.refuse in ("already_running", "duplicate_request", "not_retryable", RECORD_REJECTED_ERROR):
                raise ApplicationError(f"refused: {self.refuse}", {"taskId": record.request.task_id},
                                       type=self.refuse, non_retryable=True)
            return EnqueuedRun(execution_id=record.execution_id, branch=f"capstan/{record.execution_id}",
                               request=record.request)

        @activity.defn(name=ActivityName.RECORD_RESULT)
        async def record_task_result(arrival: ResultArrival) -> bool:
            self.arrivals.append(arrival)
            return True

        @activity.defn(name=ActivityName.ANNOUNCE_MANUAL_STATUS)
        async def announce_manual_task_status(change: ManualStatusChange) -> None:
            self.calls.append(ActivityName.ANNOUNCE_MANUAL_STATUS)
            if self.refuse == "already_running":
                raise ApplicationError("a run of acme/widgets#11 is queued or running",
                                       {"taskId": change.task_id}, type="already_running", non_retryable=True)

        @activity.defn(name=ActivityName.RECORD_MANUAL_STATUS)
        async def record_manual_task_status(change: ManualStatusChange) -> bool:
            self.manual.append(change)
            return True

        @activity.defn(name=ActivityName.REACT_TO_COMMENT)
        async def react_to_task_comment(execution_id: str) -> None:
            self.calls.append(ActivityName.REACT_TO_COMMENT)

        @activity.defn(name=ActivityName.MINT_GITHUB_TOKEN)
        async def mint_task_github_token(execution_id: str) -> str:
            self.calls.append(ActivityName.MINT_GITHUB_TOKEN)
            return "installation"

        @activity.defn(name=ActivityName.READ_AGENTS_MD)
        async def read_agents_md(execution_id: str) -> str | None:
            self.calls.append(ActivityName.READ_AGENTS_MD)
            return "Run the tests before you commit."

        @activity.defn(name=ActivityName.CHECK_READINESS)
        async def check_task_readiness(request: LaunchRequest) -> Readiness:
            self.calls.append(ActivityName.CHECK_READINESS)
            assert "## Repository Context" in request.prompt and "Run the tests" in request.prompt
            if self.blocked:
                return Readiness(blocked=self.blocked)
            return Readiness(launch=RunnerLaunch(
                execution_id=request.execution_id, task_id="acme/widgets#11", repo_full_name="acme/widgets",
                clone_url="/srv/widgets.git", issue_number=11, agent="mock", agent_command=None,
                prompt=request.prompt, branch=f"capstan/{request.execution_id}", base_branch="main",
                callback_url="http://capstan.test/api/callbacks/complete"))

        @activity.defn(name=ActivityName.RECORD_TRANSITION)
        async def record_task_transition(transition: Transition) -> bool:
            if self.hold_final is not None and transition.status in TERMINAL_STATUSES:
                self.final_recording.set()
                await self.hold_final.wait()
            self.transitions.append(transition)
            if self.on_transition is not None:
                self.on_transition()
            return True

        @activity.defn(name=ActivityName.ANNOUNCE_TRANSITION)
        async def announce_task_transition(transition: Transition) -> None:
            self.announced.append(transition.status)

        @activity.defn(name=ActivityName.RUN_RUNNER_PROCESS)
        async def run_task_runner_process(launch: RunnerLaunch) -> RunnerExit:
            self.calls.append(ActivityName.RUN_RUNNER_PROCESS)
            return await self._play_runner()

        @activity.defn(name=ActivityName.START_REMOTE_RUNNER)
        async def start_task_remote_runner(launch: RunnerLaunch) -> RemoteRunner:
            self.calls.append(ActivityName.START_REMOTE_RUNNER)
            self._started()
            return RemoteRunner(execution_id=launch.execution_id, runner=RunnerKind.FLY, ref="machine-1")

        @activity.defn(name=ActivityName.DESTROY_RUNNER)
        async def destroy_task_runner(remote: RemoteRunner) -> None:
            self.calls.append(f"{ActivityName.DESTROY_RUNNER}:{remote.ref}")

        @activity.defn(name=ActivityName.OPEN_PULL_REQUEST)
        async def open_task_pull_request(request: PullRequestInput) -> PullRequest:
            self.calls.append(ActivityName.OPEN_PULL_REQUEST)
            if self.pull_error:
                raise ApplicationError(self.pull_error, non_retryable=True)
            return PullRequest(url="https://github.test/acme/widgets/pull/7", number=7)

        return [load_task_execution, read_task_request_from_github, record_task_enqueue, record_task_result,
                announce_manual_task_status, record_manual_task_status, react_to_task_comment,
                mint_task_github_token, read_agents_md,
                check_task_readiness, record_task_transition, announce_task_transition, run_task_runner_process,
                start_task_remote_runner, destroy_task_runner, open_task_pull_request]

    def _started(self) -> None:
        self.runner_started.set()
        if self.on_runner_started is not None:
            self.on_runner_started()

    async def _play_runner(self) -> RunnerExit:
        self._started()
        if self.runner == "exits_silently":
            return RunnerExit(exit_code=1, reported=False, message="killed by the OOM killer")
        try:
            while True:  # heartbeats carry the cancel of a stop or a watchdog
                activity.heartbeat()
                if self.runner == "reports" and self.result_arrived.is_set():
                    return RunnerExit(exit_code=0, reported=True)
                await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            self.runner_cancelled.set()
            raise

    @property
    def statuses(self) -> list[str]:
        return [transition.status for transition in self.transitions]
