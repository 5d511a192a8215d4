"""A worker killed while it executes a step: another worker finishes the step, exactly once."""

from __future__ import annotations

import asyncio
import os

from tests.e2e.protocols.support import create_project, create_run, event_types, step_file
from tests.integration.workers import kill_worker, start_worker, stop_worker, worker_env
from tests.support import git, remote_log, settle

# Under the first worker, whose sandbox shows the step the FIFOs, the step announces itself and hangs;
# under the second it just runs.
HANGING_STEP = """if [ -p {hold} ]; then
  echo started > {started}
  cat {hold}
fi
echo "ran once" >> result.txt"""


def read_fifo(path) -> str:
    with open(path) as fifo:
        return fifo.read()


async def test_killed_worker_mid_step_the_step_completes_exactly_once(api, settings, temporal_client, tmp_path):
    fifos = tmp_path / "fifos"
    fifos.mkdir()
    started, hold = fifos / "started.fifo", fifos / "hold.fifo"
    os.mkfifo(started)
    os.mkfifo(hold)
    step = step_file(HANGING_STEP.format(started=started, hold=hold))
    remote, project = await create_project(api, tmp_path, {".protocols/crash/01-only.md": step})
    run = await create_run(api, project["id"], name="crash")
    first = start_worker(worker_env(settings, tmp_path / "cache-a", CAPSTAN_SANDBOX_READ_ONLY_PATHS=str(fifos)),
                         tmp_path / "worker-a.log")
    second = None
    try:
        assert (await api.post(f"/protocols/{run['id']}/actions/start")).status_code == 200
        assert await settle(temporal_client, run["id"]) == "planned"
        assert (await api.post(f"/protocols/{run['id']}/actions/run_next_step")).status_code == 200
        assert (await asyncio.wait_for(asyncio.to_thread(read_fifo, started), 60)).strip() == "started"
        kill_worker(first)
        second = start_worker(worker_env(settings, tmp_path / "cache-b"), tmp_path / "worker-b.log")
        await settle(temporal_client, run["id"], timeout=120)
    finally:
        for proc in (first, second):
            if proc is not None:
                stop_worker(proc)

    step = (await api.get(f"/protocols/{run['id']}/steps")).json()[0]
    assert step["status"] == "needs_qa"
    assert git("show", "refs/heads/crash:result.txt", cwd=remote) == "ran once"
    assert [s for s in remote_log(remote, "crash") if s.startswith("capstan:")] == ["capstan: crash step 0 01-only.md"]
    assert (await event_types(api, run["id"])).count("step_completed") == 1
    artifacts = (await api.get(f"/steps/{step['id']}/artifacts")).json()
    assert len(artifacts) == 1 and artifacts[0]["exit_code"] == 0
