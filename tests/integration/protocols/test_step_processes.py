"""A step's processes die with the worker that started them: killed outright, or stopped with the stack."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.e2e.protocols.support import create_project, create_run, step_file
from tests.integration.workers import descendants, read_fifo, start_worker, stop_worker, wait_for_exit, worker_env
from tests.support import settle

# Background processes and the shell itself waiting on them; under bubblewrap also one that left the
# shell's session (process mode cannot catch that one: docs/security.md).
LINGERING_STEP = """sleep 3600 &
{escaped}
sleep 3600 &
echo started > {started}
wait"""


@pytest.mark.parametrize(("mode", "stop"), [("bubblewrap", signal.SIGKILL), ("bubblewrap", signal.SIGTERM),
                                            ("process", signal.SIGKILL)],
                         ids=["bubblewrap-worker-killed", "bubblewrap-worker-stopped", "process-worker-killed"])
async def test_a_step_does_not_outlive_its_worker(api, settings, temporal_client, tmp_path, mode, stop):
    fifos = tmp_path / "fifos"
    fifos.mkdir()
    started = fifos / "started.fifo"
    os.mkfifo(started)
    _, project = await create_project(api, tmp_path, {".protocols/linger/01.md": step_file(
        LINGERING_STEP.format(started=started, escaped="(setsid sleep 3600 &)" if mode == "bubblewrap" else ""))})
    run = await create_run(api, project["id"], name="linger")
    worker = start_worker(worker_env(settings, tmp_path / "cache", CAPSTAN_SANDBOX_MODE=mode,
                                     CAPSTAN_SANDBOX_READ_ONLY_PATHS=str(fifos), CAPSTAN_WORKER_SHUTDOWN_TIMEOUT="1"),
                          tmp_path / "worker.log")
    try:
        await api.post(f"/protocols/{run['id']}/actions/start")
        assert await settle(temporal_client, run["id"]) == "planned"
        await api.post(f"/protocols/{run['id']}/actions/run_next_step")
        assert (await asyncio.wait_for(asyncio.to_thread(read_fifo, started), 60)).strip() == "started"
        step_processes = descendants(worker.pid)
        assert len(step_processes) >= 3  # the shell and its sleeps, at least

        os.kill(worker.pid, stop)  # the worker alone: its step must go down with it, not with its group
        await asyncio.to_thread(worker.wait, 30)
        survivors = await asyncio.to_thread(wait_for_exit, step_processes, 15)
        assert not survivors, f"still running after the worker: {survivors}"
    finally:
        stop_worker(worker)
