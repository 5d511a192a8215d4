"""Child processes of the local stack: started in their own session, stopped politely."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from capstan.devstack import DevStackError


def spawn(args: list[str], *, log_path: Path | None = None, env: dict[str, str] | None = None,
          user: str | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """Start a child in a new session so a terminal's Ctrl-C reaches only the supervisor,
    which then stops children in order."""
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 - owned by the child
    try:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT if out else None, stdin=subprocess.DEVNULL,
            env=env, user=user, cwd=cwd, start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise DevStackError(f"executable not found: {args[0]}") from exc
    finally:
        if out:
            out.close()


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal the child's process group, then kill it if it outlives ``timeout``."""
    stop_all([proc], sig, timeout)


def stop_all(procs: list[subprocess.Popen], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal every child's process group at once, wait for them all within ``timeout``, kill what is
    left. Each child bounds its own graceful shutdown; ``timeout`` is the net under them."""
    running = [proc for proc in procs if proc.poll() is None]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.wait()
        kill_group(proc)  # what the child started in its group must not outlive it


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (the child leads it: ``spawn`` starts a new session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float,
               log_path: Path | None = None) -> None:
    """Poll ``ready`` while the child lives. Servers offer no readiness event to await."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            hint = f"; see {log_path}" if log_path else ""
            raise DevStackError(f"{what} exited with code {proc.returncode} while starting{hint}")
        if ready():
            return
        time.sleep(0.1)
    stop(proc)
    raise DevStackError(f"{what} did not become ready within {timeout:.0f}s")
