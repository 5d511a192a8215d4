"""Step engines, a registry keyed by ``engine_id``.

- ``script``: runs the step file's first fenced ``sh`` block in the worktree
  (runbook automation; no model needed).
- ``command``: runs the configured agent CLI (``CAPSTAN_COMMAND_ENGINE``) in the
  worktree with the step file on stdin and its path in ``$CAPSTAN_STEP_FILE``.

Both run through the sandbox (integrations/sandbox.py): the environment a step gets is
PATH, HOME, the locale, ``CAPSTAN_STEP_FILE`` and ``CAPSTAN_MODEL`` (plus what the
operator passes with ``CAPSTAN_SANDBOX_PASS_ENV``), never the worker's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from integrations.protocols.stepfile import StepFile
from integrations.sandbox import Sandbox, SandboxResult, SandboxUnavailable, SandboxView, shell

DEFAULT_ENGINE = "script"


# The exit code of a step that could not start because no sandbox can run here.
NO_SANDBOX_EXIT_CODE = 126


@dataclass
class EngineContext:
    sandbox: Sandbox
    view: SandboxView
    step_path: Path
    step_text: str
    step: StepFile
    model: str | None
    timeout: float

    @property
    def worktree(self) -> Path:
        return self.view.worktree


@dataclass
class EngineOutcome:
    exit_code: int
    output: str
    message: str


class Engine(Protocol):
    async def run(self, ctx: EngineContext) -> EngineOutcome: ...


async def run_sandboxed(argv: list[str], ctx: EngineContext, what: str, stdin: bytes | None = None) -> EngineOutcome:
    env = {"CAPSTAN_STEP_FILE": str(ctx.step_path), "CAPSTAN_MODEL": ctx.model or ""}
    try:
        result = await ctx.sandbox.run(argv, ctx.view, env=env, stdin=stdin, timeout=ctx.timeout, heartbeat=what)
    except SandboxUnavailable as exc:
        return EngineOutcome(NO_SANDBOX_EXIT_CODE, "", f"{what} did not run: {exc}")
    return _outcome(result, ctx, what)


def _outcome(result: SandboxResult, ctx: EngineContext, what: str) -> EngineOutcome:
    if result.timed_out:
        return EngineOutcome(124, result.output, f"{what} timed out after {ctx.timeout:.0f}s")
    verdict = "succeeded" if result.returncode == 0 else f"exited with code {result.returncode}"
    return EngineOutcome(result.returncode, result.output, f"{what} {verdict}")


async def run_shell(script: str, ctx: EngineContext, what: str) -> EngineOutcome:
    return await run_sandboxed(shell(script, errexit=True), ctx, what)


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
        return await run_sandboxed(shell(self.command), ctx, "command", stdin=ctx.step_text.encode())


def engine_registry(command_engine: str | None) -> dict[str, Engine]:
    return {"script": ScriptEngine(), "command": CommandEngine(command_engine)}
