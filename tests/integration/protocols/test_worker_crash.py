"""A worker killed in the middle of a setup run: another worker finishes it, exactly once."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from models.protocols.workflow_io import project_setup_workflow_id
from tests.integration.workers import kill_worker, read_fifo, start_worker, stop_worker, wait_for_exit, worker_env
from tests.support import make_git_repo, workflow_result

# A git that announces the clone (and its pid) on a FIFO and then hangs, like a fetch stuck on a dead network.
HANGING_GIT = """#!/bin/sh
if [ "$1" = "clone" ]; then
  echo $$ > "$CAPSTAN_TEST_STARTED_FIFO"
  exec cat "$CAPSTAN_TEST_HOLD_FIFO"
fi
exec git "$@"
"""


def hanging_git(tmp_path: Path) -> tuple[Path, Path, Path]:
    script = tmp_path / "hanging-git"
    script.write_text(HANGING_GIT)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    started, hold = tmp_path / "started.fifo", tmp_path / "hold.fifo"
    os.mkfifo(started)
    os.mkfifo(hold)
    return script, started, hold


async def test_killed_worker_mid_activity_the_run_completes_exactly_once(api, settings, temporal_client, tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    script, started, hold = hanging_git(tmp_path)
    first = start_worker(worker_env(settings, tmp_path / "cache-a", CAPSTAN_GIT_BINARY=str(script),
                                    CAPSTAN_TEST_STARTED_FIFO=str(started), CAPSTAN_TEST_HOLD_FIFO=str(hold)),
                         tmp_path / "worker-a.log")
    second = None
    try:
        project = (await api.post("/projects", json={"name": "crash", "git_url": str(repo)})).json()
        # The clone has begun on the first worker: kill it there. Its git dies with it.
        git_pid = int((await asyncio.wait_for(asyncio.to_thread(read_fifo, started), 60)).strip())
        kill_worker(first)
        assert await asyncio.to_thread(wait_for_exit, {git_pid}, 10) == set(), "the dead worker's git lives on"

        second = start_worker(worker_env(settings, tmp_path / "cache-b"), tmp_path / "worker-b.log")
        workflow_id = project_setup_workflow_id(project["id"])
        result = await workflow_result(temporal_client, workflow_id, timeout=90)
        assert result["status"] == "completed"
    finally:
        for proc in (first, second):
            if proc is not None:
                stop_worker(proc)

    run = (await api.get(f"/projects/{project['id']}/protocols")).json()[0]
    assert run["status"] == "completed"
    events = [e["event_type"] for e in (await api.get(f"/protocols/{run['id']}/events")).json()]
    assert events == ["setup_completed", "ci_provider_detected", "base_branch_verified", "repository_fetched",
                      "setup_started"]
    # The fetch really ran twice: once on the dead worker, once on the new one.
    history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
    fetch_attempts = [e.activity_task_started_event_attributes.attempt for e in history.events
                      if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert max(fetch_attempts) >= 2
