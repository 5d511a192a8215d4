"""Child processes of the local stack: started in their own session, stopped politely."""

from __future__ import annotations

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
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


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
