"""Agents the run tests configure (a blocking one, a failing one) and watching their processes."""

from __future__ import annotations

import asyncio
import json
import os
import random
import select
from pathlib import Path

from capstan.settings import Settings


def add_agents(settings: Settings, **commands: str) -> None:
    """Make ``commands`` (name → shell command line) known agents of this test's API and worker."""
    settings.tasks.agents = json.dumps(commands)


class BlockingAgent:
    """An agent command that tells the test it started (a FIFO in a folder the sandbox may read) and
    then sleeps until it is killed; its processes carry a marker the test finds them by."""

    def __init__(self, shared: Path) -> None:
        self.fifo = shared / f"agent-started-{random.randrange(10**8)}"
        os.mkfifo(self.fifo)
        self.marker = f"900.{random.randrange(10**8):08d}"
        self.command = f"sleep {self.marker} & printf started > {self.fifo}; wait"
        self._reader = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)

    async def started(self, timeout: float = 120.0) -> list[int]:
        """Wait until the agent runs; the pids of its processes."""
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(self._reader, lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, timeout)
        finally:
            loop.remove_reader(self._reader)
            os.close(self._reader)
        return pids_with(self.marker)


def pids_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class ProcessWatch:
    """pidfds of processes, opened while they run, so their end can be awaited without racing pid reuse."""

    def __init__(self, pids: list[int]) -> None:
        self.fds = [os.pidfd_open(pid) for pid in pids]

    def still_running(self, timeout: float = 10.0) -> int:
        """How many are still running after waiting at most ``timeout`` seconds for each."""
        try:
            return sum(1 for fd in self.fds if not select.select([fd], [], [], timeout)[0])
        finally:
            for fd in self.fds:
                os.close(fd)
