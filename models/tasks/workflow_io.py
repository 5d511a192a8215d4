"""What the coding-task workflow and its activities pass each other, and their names and ids.

Histories are visible in the Web UI: inputs carry execution ids and plain task data (the issue, the
prompt), never a token or key; activities mint or open those themselves.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from models.tasks.status import FailureStage, RunnerKind, TaskStatus


class WorkflowName(StrEnum):
    CODING_TASK = "CodingTask"


class SignalName(StrEnum):
    COMPLETE = "complete"


class ActivityName(StrEnum):
    LOAD_EXECUTION = "load_task_execution"
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


class CodingTaskInput(BaseModel):
    execution_id: str
    task_id: str
    runner: RunnerKind
    watchdog_seconds: float
    heartbeat_seconds: float = 10.0
    #: How long a runner that exited may take for its result to arrive.
    result_grace_seconds: float = 30.0


class ExecutionContext(BaseModel):
    """The run as recorded when it was accepted (no secret)."""

    execution_id: str
    task_id: str
    repo_owner: str
    repo_name: str
    issue_number: int
    issue_title: str
    issue_body: str
    clone_url: str
    base_branch: str
    branch: str
    agent: str
    priority: str
    instructions: str
    comment_id: int | None = None


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
