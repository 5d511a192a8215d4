"""Step policies (CodeMachine loop and trigger), as stored in ``StepRun.policy``.

``policy`` is one object or a list of them:

- ``{"type": "loop", "step_back": N, "max_iterations": M}`` — when the step
  fails (execution or QA), reset it and the N steps before it to ``pending``
  and run again from the earliest, at most M times for this step; the count is
  kept in the protocol's ``runtime_state.loop_counts[<step id>]``.
- ``{"type": "trigger", "agent_id": "<agent>"}`` — when the step completes,
  run the step whose ``runtime_state.agent_id`` is ``<agent>`` at once
  (inline), nesting at most ``MAX_TRIGGER_DEPTH`` deep.

Steps carry their CodeMachine agent in ``runtime_state.agent_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.common.limits import PG_INTEGER_MAX

MAX_TRIGGER_DEPTH = 3


@dataclass(frozen=True)
class LoopPolicy:
    step_back: int
    max_iterations: int


@dataclass(frozen=True)
class TriggerPolicy:
    agent_id: str


def _entries(policy: dict[str, Any] | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if policy is None:
        return []
    return [policy] if isinstance(policy, dict) else [p for p in policy if isinstance(p, dict)]


def loop_policy(policy: dict[str, Any] | list[dict[str, Any]] | None) -> LoopPolicy | None:
    for entry in _entries(policy):
        if entry.get("type") == "loop":
            return LoopPolicy(step_back=max(0, int(entry.get("step_back", 0))),
                              max_iterations=max(0, int(entry.get("max_iterations", 1))))
    return None


def trigger_policy(policy: dict[str, Any] | list[dict[str, Any]] | None) -> TriggerPolicy | None:
    for entry in _entries(policy):
        if entry.get("type") == "trigger" and entry.get("agent_id"):
            return TriggerPolicy(agent_id=str(entry["agent_id"]))
    return None


def validate_policy(policy: Any) -> list[str]:
    """Problems with a policy value, for 400 answers; empty when it is valid."""
    problems: list[str] = []
    if policy is None:
        return problems
    entries = [policy] if isinstance(policy, dict) else policy if isinstance(policy, list) else None
    if entries is None:
        return ["policy must be an object or a list of objects"]
    for i, entry in enumerate(entries):
        where = f"policy[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be an object")
            continue
        kind = entry.get("type")
        if kind == "loop":
            for key in ("step_back", "max_iterations"):
                value = entry.get(key)
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= PG_INTEGER_MAX:
                    problems.append(f"{where}.{key} must be an integer from 0 to {PG_INTEGER_MAX}")
        elif kind == "trigger":
            if not isinstance(entry.get("agent_id"), str) or not entry["agent_id"]:
                problems.append(f"{where}.agent_id must be a non-empty string")
        else:
            problems.append(f"{where}.type must be 'loop' or 'trigger'")
    return problems
