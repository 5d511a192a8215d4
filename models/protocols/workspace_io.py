"""Inputs and outputs of the workspace activities (planning, step execution, QA)."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.protocols.workflow_io import NewStep


def default_protocol_root(protocol_name: str) -> str:
    return f".protocols/{protocol_name}"


@dataclass
class PlanInput:
    git_url: str
    base_branch: str
    protocol_name: str
    protocol_root: str | None = None


@dataclass
class PlanResult:
    root: str
    base_sha: str
    steps: list[NewStep] = field(default_factory=list)


@dataclass
class StepWorkInput:
    """What execute_step and run_qa need; ``execution_key`` is unique per try of the step."""

    project_id: int
    protocol_run_id: int
    step_id: int
    step_index: int
    step_name: str
    git_url: str
    base_branch: str
    protocol_branch: str
    protocol_root: str
    execution_key: str
    engine_id: str | None = None
    model: str | None = None
    qa_command: str | None = None
    # The step's own prompt (CodeMachine agents), used when the repository has no step file.
    prompt: str | None = None
    timeout_seconds: float = 3600.0


@dataclass
class ExecuteStepResult:
    exit_code: int
    changed: bool
    commit_sha: str | None
    artifact_id: int | None
    message: str
    already_done: bool = False


@dataclass
class QaResult:
    passed: bool
    exit_code: int | None
    artifact_id: int | None
    message: str


@dataclass
class BranchInput:
    git_url: str
    base_branch: str
    protocol_branch: str


@dataclass
class CreateStepsWrite:
    project_id: int
    protocol_run_id: int
    steps: list[NewStep]
