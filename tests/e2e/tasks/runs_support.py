"""Agents the run tests configure: a blocking one whose processes the test can find."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

from capstan.settings import Settings
from tests.support import processes_with


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
        return processes_with(self.marker)
