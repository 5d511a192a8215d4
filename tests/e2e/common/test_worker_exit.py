"""A worker told to stop while a record write retries (Postgres unreachable) exits by itself.

The Temporal SDK does not stop a worker while one of its local activities retries, so without
``worker.main.exit_if_still_stopping`` a deploy or a Ctrl-C would hang on such a worker forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
import uuid
from pathlib import Path

from temporalio.client import Client

from capstan.devstack.ports import free_port
from capstan.settings import TemporalSettings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.protocols.workflow_io import ActionResult, ActivityName, Update
from tests.factories import run_input
from worker.main import SHUTDOWN_MARGIN_SECONDS
from workflows.protocols.protocol_run import ProtocolRunWorkflow

SHUTDOWN_TIMEOUT_SECONDS = 1
#: Beyond the watchdog's own deadline: for the process to log, flush and be reaped on a busy machine.
EXIT_SLACK_SECONDS = 5.0
#: How long the worker may take to start and run its first attempt at the write.
WRITE_STARTS_WITHIN_SECONDS = 30.0


class WorkerProcess:
    """``capstan worker`` in a subprocess; its output (stdout and stderr) read line by line as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def wait_for_line(self, pattern: str, timeout: float) -> str:
        """The first line from now on matching ``pattern``, awaited as the worker prints it."""
        regex = re.compile(pattern)
        async with asyncio.timeout(timeout):
            while line := (await self.proc.stdout.readline()).decode(errors="replace"):
                self.lines.append(line)
                if regex.search(line):
                    return line
        raise AssertionError(f"the worker ended without printing {pattern!r}:\n{self.output}")

    async def wait_for_exit(self, timeout: float) -> int:
        """The exit code, once the worker has exited and its output is read to the end."""
        async with asyncio.timeout(timeout):
            while line := (await self.proc.stdout.readline()).decode(errors="replace"):
                self.lines.append(line)
            return await self.proc.wait()

    @property
    def output(self) -> str:
        return "".join(self.lines)


@contextlib.asynccontextmanager
async def worker_process(env: dict[str, str]):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "capstan", "worker", "--surfaces", WorkerSurfaceName.PROTOCOLS,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    try:
        yield WorkerProcess(proc)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


async def test_a_worker_stuck_on_a_record_write_exits_after_its_shutdown_timeout(
        stack, temporal_client: Client, task_queue: str, tmp_path: Path):
    env = {
        **os.environ,
        # Nothing listens there: every record write fails to connect and is retried.
        "CAPSTAN_DATABASE_URL": f"postgresql+psycopg://capstan@127.0.0.1:{free_port()}/capstan",
        "CAPSTAN_TEMPORAL_ADDRESS": stack.temporal_address,
        "CAPSTAN_TEMPORAL_TASK_QUEUE": task_queue,
        "CAPSTAN_GIT_CACHE_DIR": str(tmp_path / "git-cache"),
        "CAPSTAN_WORKER_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT_SECONDS),
    }
    queue = surface_task_queue(TemporalSettings(task_queue=task_queue), WorkerSurfaceName.PROTOCOLS)
    async with worker_process(env) as worker:
        handle = await temporal_client.start_workflow(
            ProtocolRunWorkflow.run, run_input(status="running"), id=f"protocol-run-exit-{uuid.uuid4().hex[:12]}",
            task_queue=queue)
        # The pause's record write cannot complete: the Update is sent and never awaited to its end.
        pause = asyncio.ensure_future(handle.execute_update(Update.PAUSE, result_type=ActionResult))
        try:
            # The worker runs the write, inside the Update's workflow task, and it has failed once already.
            await worker.wait_for_line(rf"activity as failed.*'activity_type': '{ActivityName.RECORD_RUN_CHANGES}'",
                                       WRITE_STARTS_WITHIN_SECONDS)
            stopped_at = time.monotonic()
            worker.proc.send_signal(signal.SIGTERM)
            deadline = SHUTDOWN_TIMEOUT_SECONDS + SHUTDOWN_MARGIN_SECONDS + EXIT_SLACK_SECONDS
            try:
                code = await worker.wait_for_exit(deadline)
            except TimeoutError:
                raise AssertionError(f"the worker still runs {deadline:.0f}s after SIGTERM:\n{worker.output}") from None
            took = time.monotonic() - stopped_at
        finally:
            pause.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pause
            with contextlib.suppress(Exception):
                await handle.terminate("test over")

    assert code == 1, worker.output
    assert re.search(r"ERROR .*worker did not stop within \d+s", worker.output), worker.output
    # It gave the write its shutdown timeout and margin first: it did not just drop the work at once.
    assert took >= SHUTDOWN_TIMEOUT_SECONDS + SHUTDOWN_MARGIN_SECONDS - 0.5, worker.output
