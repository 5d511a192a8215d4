"""Worker processes for tests: the real ``capstan worker`` command, killed or stopped at will."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "capstan", "worker"], env=env, stdout=log,
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
