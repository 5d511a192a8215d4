"""What the coding-task workflow and its activities pass each other, and their names and ids.

Histories are visible in the Web UI: inputs carry execution ids and plain task data (the issue, the
prompt), never a token or key; activities mint or open those themselves.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from models.tasks.requests import EnqueueRun
from models.tasks.status import FailureStage, RunnerKind, TaskStatus


class WorkflowName(StrEnum):
    CODING_TASK = "CodingTask"
    TASK_STATUS_CHANGE = "TaskStatusChange"


class UpdateName(StrEnum):
    #: The run's first Update (update-with-start): record the request as the execution.
    ENQUEUE = "enqueue"
    #: The runner's result (``POST /api/callbacks/complete``); only the first counts.
    COMPLETE = "complete"
    #: ``POST /api/tasks/{id}/stop``: end the runner, record ``stopped``.
    STOP = "stop"
    #: ``PUT /api/tasks/{id}/status`` (on ``TaskStatusChange``): a status set by hand.
    SET_STATUS = "set_status"


class SignalName(StrEnum):
    #: The runner's result in runs recorded before it became the ``complete`` Update (replay only).
    COMPLETE = "complete"


class Refusal(StrEnum):
    """``ApplicationError.type`` of a refused Update: the API answers each its own way."""

    #: A run of the task is queued or running (details: ``{taskId}``).
    ALREADY_RUNNING = "already_running"
    #: The comment (by delivery id or comment id) started a run before (details: ``{taskId}``).
    DUPLICATE_REQUEST = "duplicate_request"
    #: A retry of a task whose latest run succeeded (details: ``{status}``).
    NOT_RETRYABLE = "not_retryable"
    #: The run already has a result, or has ended (a second callback).
    ALREADY_FINISHED = "already_finished"
    #: A stop of a run that has ended, or is ending another way (details: ``{status}``).
    NOT_RUNNING = "not_running"
    #: The Update was sent twice to one workflow (each run is enqueued once).
    ALREADY_ENQUEUED = "already_enqueued"
    #: GitHub refused a call made for the request (details: ``{status, message, headers}``).
    GITHUB_REFUSED = "github_refused"
    #: The task of a manual status is unknown.
    TASK_NOT_FOUND = "task_not_found"


class ActivityName(StrEnum):
    #: Runs started before the ``enqueue`` Update read their execution with it (replay, and such runs).
    LOAD_EXECUTION = "load_task_execution"
    READ_TASK_REQUEST = "read_task_request_from_github"
    RECORD_ENQUEUE = "record_task_enqueue"
    RECORD_RESULT = "record_task_result"
    ANNOUNCE_MANUAL_STATUS = "announce_manual_task_status"
    RECORD_MANUAL_STATUS = "record_manual_task_status"
    REACT_TO_COMMENT = "react_to_task_comment"
    MINT_GITHUB_TOKEN = "mint_task_github_token"
    READ_AGENTS_MD = "read_agents_md"
    CHECK_READINESS = "check_task_readiness"
    RECORD_TRANSITION = "record_task_transition"
    ANNOUNCE_TRANSITION = "announce_task_transition"
    RUN_RUNNER_PROCESS = "run_task_runner_process"
    START_REMOTE_RUNNER = "start_task_remote_runner"
    DESTROY_RUNNER = "destroy_task_runner"
    OPEN_PULL_REQUEST = "open_task_pull_request"


def coding_task_workflow_id(queue: str, execution_id: str) -> str:
    """Prefixed by the surface's task queue, so deployments sharing a namespace never meet."""
    return f"{queue}:task:{execution_id}"


def task_status_change_workflow_id(queue: str, change_id: str) -> str:
    return f"{queue}:task-status:{change_id}"


class CodingTaskInput(BaseModel):
    execution_id: str
    #: ``None`` for a dashboard task whose issue the run opens.
    task_id: str | None = None
    runner: RunnerKind
    watchdog_seconds: float
    heartbeat_seconds: float = 10.0
    #: How long a runner that exited may take for its result to arrive.
    result_grace_seconds: float = 30.0
    #: A comment the webhook accepted: the run records it as its first step (no ``enqueue`` Update).
    #: ``None``: the run is enqueued by its first Update (a dashboard create or retry).
    intake: EnqueueRun | None = None


class RunnerLaunch(BaseModel):
    """What a runner is started with (the runner contract's environment without its secrets)."""

    execution_id: str
    task_id: str
    repo_full_name: str
    clone_url: str
    issue_number: int
    agent: str
    #: The agent's command line; ``None`` runs the built-in mock agent.
    agent_command: str | None
    prompt: str
    branch: str
    base_branch: str
    callback_url: str
    image: str = ""
    cpus: int = 2
    memory_mb: int = 2048


class LaunchRequest(BaseModel):
    execution_id: str
    prompt: str


class Readiness(BaseModel):
    """The launch when the agent and runner are ready, else the blocked summary."""

    launch: RunnerLaunch | None = None
    blocked: str | None = None


class RunnerExit(BaseModel):
    exit_code: int
    #: Whether the runner sent its result through the callback.
    reported: bool
    message: str = ""


class RemoteRunner(BaseModel):
    execution_id: str
    runner: RunnerKind
    ref: str
    #: The Fly app the machine was started in (the user may change theirs while it runs).
    app: str | None = None


class RunnerResult(BaseModel):
    """The completion callback's content, as the workflow receives it."""

    status: TaskStatus  # success or failed
    summary: str | None = None
    error: str | None = None
    branch: str | None = None
    base_branch: str | None = None
    commit_hash: str | None = None
    pr_exists: int = 0
    callback_attempt: int | None = None
    callback_max_attempts: int | None = None
    callback_last_http_code: int | None = None


class Transition(BaseModel):
    """One status change of an execution: recorded, then labelled and commented on the issue."""

    execution_id: str
    status: TaskStatus
    summary: str
    failure_stage: FailureStage | None = None
    error: str | None = None
    runner_ref: str | None = None
    commit_hash: str | None = None
    pr_url: str | None = None
    pr_number: int | None = None
    result: RunnerResult | None = None


class PullRequestInput(BaseModel):
    execution_id: str
    result: RunnerResult


class PullRequest(BaseModel):
    url: str
    number: int
