"""Step engines, a registry keyed by ``engine_id``.

- ``script``: runs the step file's first fenced ``sh`` block in the worktree
  (runbook automation; no model needed).
- ``command``: runs the configured agent CLI (``CAPSTAN_COMMAND_ENGINE``) in the
  worktree with the step file on stdin and its path in ``$CAPSTAN_STEP_FILE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from activities.process import child_env, run_process
from activities.stepfile import StepFile

DEFAULT_ENGINE = "script"


@dataclass
class EngineContext:
    worktree: Path
    step_path: Path
    step_text: str
    step: StepFile
    model: str | None
    timeout: float


@dataclass
class EngineOutcome:
    exit_code: int
    output: str
    message: str


class Engine(Protocol):
    async def run(self, ctx: EngineContext) -> EngineOutcome: ...


def _env(ctx: EngineContext) -> dict[str, str]:
    return child_env(CAPSTAN_STEP_FILE=str(ctx.step_path), CAPSTAN_MODEL=ctx.model or "")


async def run_shell(script: str, ctx: EngineContext, what: str) -> EngineOutcome:
    result = await run_process(["sh", "-e", "-c", script], cwd=ctx.worktree, env=_env(ctx), timeout=ctx.timeout,
                               merge_output=True, heartbeat_detail=what)
    if result.timed_out:
        return EngineOutcome(124, result.stdout, f"{what} timed out after {ctx.timeout:.0f}s")
    verdict = "succeeded" if result.returncode == 0 else f"exited with code {result.returncode}"
    return EngineOutcome(result.returncode, result.stdout, f"{what} {verdict}")


class ScriptEngine:
    async def run(self, ctx: EngineContext) -> EngineOutcome:
        if ctx.step.script is None:
            return EngineOutcome(2, "", "the step file has no ```sh block to run")
        return await run_shell(ctx.step.script, ctx, "script")


class CommandEngine:
    def __init__(self, command: str | None) -> None:
        self.command = command

    async def run(self, ctx: EngineContext) -> EngineOutcome:
        if not self.command:
            return EngineOutcome(2, "", "the command engine is not configured (CAPSTAN_COMMAND_ENGINE)")
        result = await run_process(["sh", "-c", self.command], cwd=ctx.worktree, env=_env(ctx),
                                   stdin=ctx.step_text.encode(), timeout=ctx.timeout, merge_output=True,
                                   heartbeat_detail="command engine")
        if result.timed_out:
            return EngineOutcome(124, result.stdout, f"command timed out after {ctx.timeout:.0f}s")
        verdict = "succeeded" if result.returncode == 0 else f"exited with code {result.returncode}"
        return EngineOutcome(result.returncode, result.stdout, f"command {verdict}")


def engine_registry(command_engine: str | None) -> dict[str, Engine]:
    return {"script": ScriptEngine(), "command": CommandEngine(command_engine)}
