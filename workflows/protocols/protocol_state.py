"""The state of one protocol run and the rules that move it: pure and deterministic.

``ProtocolRunWorkflow`` holds one ``ProtocolRunState``; update validators and
handlers ask it what is allowed (``models.protocols.status`` has the tables) and tell it
what happened. Every change is noted, so the workflow can write exactly the
changed steps to Postgres.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.exceptions import ApplicationError

from models.protocols.policies import MAX_TRIGGER_DEPTH, loop_policy, trigger_policy
from models.protocols.status import (
    STEP_CANCELLABLE,
    STEP_RETRYABLE,
    STEP_RUNNABLE,
    ProtocolAction,
    ProtocolStatus,
    StepAction,
    StepStatus,
    protocol_action_refusal,
    protocol_can_complete,
    step_action_refusal,
)
from models.protocols.workflow_io import StepState, UpdateErrorType


def conflict(message: str) -> ApplicationError:
    return ApplicationError(message, type=UpdateErrorType.CONFLICT, non_retryable=True)


def not_found(message: str) -> ApplicationError:
    return ApplicationError(message, type=UpdateErrorType.NOT_FOUND, non_retryable=True)


def record_rejected(message: str) -> ApplicationError:
    return ApplicationError(message, type=UpdateErrorType.RECORD_REJECTED, non_retryable=True)


@dataclass
class LoopApplication:
    failed_step: StepState
    reset: list[StepState]
    iteration: int
    max_iterations: int


class ProtocolRunState:
    def __init__(self, status: str, steps: list[StepState], runtime_state: dict | None,
                 last_step_id: int | None = None) -> None:
        self.status = ProtocolStatus(status)
        self.steps: dict[int, StepState] = {s.id: s for s in steps}
        self.runtime_state: dict = dict(runtime_state or {})
        self.last_step_id = last_step_id
        self._changed_steps: set[int] = set()
        self._runtime_changed = False

    # --- reading ---------------------------------------------------------------------------------

    def ordered_steps(self) -> list[StepState]:
        return sorted(self.steps.values(), key=lambda s: s.step_index)

    def step(self, step_id: int) -> StepState:
        step = self.steps.get(step_id)
        if step is None:
            raise not_found(f"step {step_id} is not part of this protocol run")
        return step

    def next_runnable_step(self) -> StepState:
        for step in self.ordered_steps():
            if step.status in STEP_RUNNABLE:
                return step
        raise not_found("no pending, blocked or failed step to run")

    def latest_retryable_step(self) -> StepState:
        for step in reversed(self.ordered_steps()):
            if step.status in STEP_RETRYABLE:
                return step
        raise not_found("no failed or blocked step to retry")

    def ci_target_step(self) -> StepState | None:
        """The step a CI result is about: the one the run last worked on, else the latest started; ``None``
        when every step is still pending (``latest_created_step`` then, in runs that follow the original)."""
        if self.last_step_id in self.steps:
            return self.steps[self.last_step_id]
        started = [s for s in self.ordered_steps() if s.status != StepStatus.PENDING]
        return started[-1] if started else None

    def latest_created_step(self) -> StepState | None:
        """The step created last (the highest id): where the original orchestrator applied a CI result when
        no step had changed since it was created."""
        return max(self.steps.values(), key=lambda s: s.id, default=None)

    def can_complete(self) -> bool:
        statuses = [StepStatus(s.status) for s in self.steps.values()]
        return bool(statuses) and protocol_can_complete(self.status, statuses)

    # --- guards ----------------------------------------------------------------------------------

    def check_protocol_action(self, action: ProtocolAction) -> None:
        if refusal := protocol_action_refusal(action, self.status):
            raise conflict(refusal)

    def check_step_action(self, action: StepAction, step_id: int) -> StepState:
        step = self.step(step_id)
        if refusal := step_action_refusal(action, step_id, step.status):
            raise conflict(refusal)
        return step

    # --- changes ---------------------------------------------------------------------------------

    def set_status(self, status: ProtocolStatus) -> None:
        self.status = status

    def set_step(self, step: StepState, status: StepStatus, *, retries: int | None = None,
                 summary: str | None = None) -> None:
        step.status = status.value
        if retries is not None:
            step.retries = retries
        if summary is not None:
            step.summary = summary
        self._changed_steps.add(step.id)
        if status in (StepStatus.RUNNING, StepStatus.NEEDS_QA):
            self.last_step_id = step.id

    def add_steps(self, steps: list[StepState]) -> None:
        for step in steps:
            self.steps[step.id] = step

    def cancel(self) -> list[StepState]:
        cancelled = [s for s in self.ordered_steps() if s.status in STEP_CANCELLABLE]
        for step in cancelled:
            self.set_step(step, StepStatus.CANCELLED)
        self.status = ProtocolStatus.CANCELLED
        return cancelled

    def take_changed_steps(self) -> list[StepState]:
        changed = [self.steps[i] for i in sorted(self._changed_steps)]
        self._changed_steps.clear()
        return changed

    def take_runtime_state(self) -> dict | None:
        if not self._runtime_changed:
            return None
        self._runtime_changed = False
        return dict(self.runtime_state)

    def mark_unwritten(self, step_ids: list[int], runtime_state: bool) -> None:
        """Changes taken for a write that was refused: the next write carries them again."""
        self._changed_steps.update(step_ids)
        self._runtime_changed = self._runtime_changed or runtime_state

    # --- policies --------------------------------------------------------------------------------

    def apply_loop_policy(self, failed: StepState) -> LoopApplication | None:
        """Reset the failed step and ``step_back`` steps before it to pending, while the step's
        loop count stays under ``max_iterations``. Counts live in ``runtime_state.loop_counts``."""
        policy = loop_policy(failed.policy)
        if policy is None:
            return None
        counts = dict(self.runtime_state.get("loop_counts") or {})
        done = int(counts.get(str(failed.id), 0))
        if done >= policy.max_iterations:
            return LoopApplication(failed, [], done, policy.max_iterations)
        counts[str(failed.id)] = done + 1
        self.runtime_state["loop_counts"] = counts
        self._runtime_changed = True
        lowest = failed.step_index - policy.step_back
        reset = [s for s in self.ordered_steps()
                 if lowest <= s.step_index <= failed.step_index and s.status != StepStatus.CANCELLED]
        for step in reset:
            self.set_step(step, StepStatus.PENDING)
        return LoopApplication(failed, reset, done + 1, policy.max_iterations)

    def trigger_target(self, completed: StepState, depth: int) -> StepState | None:
        """The step a completed step's trigger policy names (by agent id), if depth allows."""
        policy = trigger_policy(completed.policy)
        if policy is None or depth >= MAX_TRIGGER_DEPTH:
            return None
        for step in self.ordered_steps():
            if step.id != completed.id and (step.runtime_state or {}).get("agent_id") == policy.agent_id \
                    and step.status != StepStatus.CANCELLED:
                return step
        return None

    def record_trigger(self, source: StepState, target: StepState, depth: int) -> None:
        triggers = list(self.runtime_state.get("triggers") or [])
        triggers.append({"from_step": source.id, "to_step": target.id, "depth": depth})
        self.runtime_state["triggers"] = triggers[-100:]
        self._runtime_changed = True
