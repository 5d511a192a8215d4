"""Worker processes for tests: the real ``capstan worker`` command, killed or stopped at will."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from capstan.settings import Settings


def worker_env(settings: Settings, cache_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CAPSTAN_DATABASE_URL": settings.database.url,
        "CAPSTAN_TEMPORAL_ADDRESS": settings.temporal.address,
        "CAPSTAN_TEMPORAL_TASK_QUEUE": settings.temporal.task_queue,
        "CAPSTAN_GIT_CACHE_DIR": str(cache_dir),
        **extra,
    }


def start_worker(env: dict[str, str], log_path: Path, *args: str, module: str = "capstan") -> subprocess.Popen:
    """``capstan worker *args`` (``module`` runs another entry point with the same command line)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", module, "worker", *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def kill_worker(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and everything it started: no graceful shutdown, as in a crash."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            kill_worker(proc)


def read_fifo(path: Path) -> str:
    with open(path) as fifo:  # blocks until the step opens it
        return fifo.read()


def descendants(root: int) -> set[int]:
    """Every process below ``root`` in the process tree, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_for_exit(pids: set[int], timeout: float) -> set[int]:
    """Await the exit of ``pids`` through pidfds (readable once a process has exited). Returns the ones
    still alive after ``timeout``, and kills them (through their pidfd: never a recycled pid)."""
    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except ProcessLookupError:
            continue
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    alive, deadline = set(fds), time.monotonic() + timeout
    try:
        while alive and time.monotonic() < deadline:
            for fd, _ in poller.poll(max(1, int((deadline - time.monotonic()) * 1000))):
                poller.unregister(fd)
                alive.discard(fd)
        for fd in alive:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        return {fds[fd] for fd in alive}
    finally:
        for fd in fds:
            os.close(fd)
