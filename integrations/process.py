"""Running an outside program: report progress while it runs (an activity passes its heartbeat), kill it on
cancel or timeout."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HEARTBEAT_EVERY = 1.0

#: Called about every second while a program runs, with what it is doing. Inside an activity, the
#: activity's heartbeat (``activities.common.heartbeat``): how a cancel reaches the program and a lost
#: worker is noticed.
Heartbeat = Callable[[str], None]


@dataclass
class ProcessResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


async def run_process(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
                      stdin: bytes | None = None, timeout: float | None = None,
                      merge_output: bool = False, heartbeat: Heartbeat | None = None,
                      heartbeat_detail: str = "") -> ProcessResult:
    """Run ``args`` to completion. The child gets its own process group so a timeout or a
    cancelled activity kills everything it started, and dies with the worker (Linux)."""
    proc = await asyncio.create_subprocess_exec(
        *dying_with_worker(args, signal.SIGKILL), cwd=cwd, env=env, start_new_session=True,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_output else asyncio.subprocess.PIPE,
    )
    communicate = asyncio.ensure_future(proc.communicate(stdin))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    timed_out = False
    try:
        while True:
            wait = HEARTBEAT_EVERY if deadline is None else max(0.0, min(HEARTBEAT_EVERY, deadline - loop.time()))
            done, _ = await asyncio.wait({communicate}, timeout=wait)
            if done:
                break
            if deadline is not None and loop.time() >= deadline:
                timed_out = True
                _kill_group(proc)
                await communicate
                break
            if heartbeat is not None:
                heartbeat(heartbeat_detail or args[0])
    except asyncio.CancelledError:
        _kill_group(proc)
        with contextlib.suppress(Exception):
            await communicate
        raise
    out, err = communicate.result()
    return ProcessResult(proc.returncode if proc.returncode is not None else -1,
                         (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"), timed_out)


@functools.cache
def _setpriv() -> str | None:
    return shutil.which("setpriv") if sys.platform == "linux" else None


def dying_with_worker(args: Sequence[str], sig: signal.Signals) -> list[str]:
    """``args`` wrapped so the kernel sends ``sig`` to the child when the worker dies (Linux, util-linux
    ``setpriv --pdeathsig``), so no child outlives a worker killed without a chance to clean up.

    Not a ``preexec_fn``: Python code between fork and exec in a multi-threaded worker can deadlock
    on a lock another thread held at the fork. Where ``setpriv`` is missing, ``args`` come back as
    they are and callers that must not leak a child watch the worker some other way."""
    setpriv = _setpriv()
    return [setpriv, f"--pdeathsig={sig.name[3:]}", "--", *args] if setpriv else list(args)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}
