"""A worker killed while its runner's agent works: another worker runs the agent again, the branch is
pushed once, one PR is opened, and the task ends ``success`` exactly once."""

from __future__ import annotations

import asyncio
import json
import os

from tests.e2e.tasks.support import deliver, github_world, latest_execution, run_result, task_path
from tests.integration.workers import kill_worker, read_fifo, start_worker, stop_worker, worker_env
from tests.support import remote_log

TASK_ID = "acme/widgets#11"
# Under the first worker, whose sandbox shows the FIFOs, the agent announces itself and hangs; under the
# second it just does its work.
HANGING_AGENT = "if [ -p {hold} ]; then echo started > {started}; cat {hold}; fi; echo fixed > fixed.txt"


async def test_killed_worker_mid_agent_the_task_finishes_once_with_one_pr(
        live_api, fake_github, settings, temporal_client, tmp_path):
    repo = await github_world(live_api, fake_github, tmp_path)
    fifos = tmp_path / "fifos"
    fifos.mkdir()
    started, hold = fifos / "started.fifo", fifos / "hold.fifo"
    os.mkfifo(started)
    os.mkfifo(hold)
    agents = json.dumps({"slow": HANGING_AGENT.format(started=started, hold=hold)})
    settings.tasks.agents = agents
    common = {**fake_github.env(), "CAPSTAN_SECRETS_KEY": settings.secrets.key.get_secret_value(),
              "CAPSTAN_TASKS_CALLBACK_BASE_URL": settings.tasks.callback_base_url, "CAPSTAN_TASKS_AGENTS": agents,
              "CAPSTAN_TASKS_WORKDIR": str(tmp_path / "task-runs"), "CAPSTAN_ACTIVITY_HEARTBEAT_TIMEOUT": "2",
              "CAPSTAN_SANDBOX_MODE": "bubblewrap"}
    first = start_worker(worker_env(settings, tmp_path / "cache-a", CAPSTAN_SANDBOX_READ_ONLY_PATHS=str(fifos),
                                    **common), tmp_path / "worker-a.log", "--surfaces", "tasks")
    second = None
    try:
        payload = fake_github.comment_event("acme", "widgets", 11, "@capstan slow fix it", user="alice")
        assert (await deliver(live_api, payload)).status_code == 202
        assert (await asyncio.wait_for(asyncio.to_thread(read_fifo, started), 60)).strip() == "started"
        kill_worker(first)
        second = start_worker(worker_env(settings, tmp_path / "cache-b", **common), tmp_path / "worker-b.log",
                              "--surfaces", "tasks")
        execution_id = await latest_execution(live_api, TASK_ID)
        assert await run_result(temporal_client, settings, execution_id) == "success"
    finally:
        for proc in (first, second):
            if proc is not None:
                stop_worker(proc)

    branch = f"capstan/{execution_id}"
    assert remote_log(repo.remote, branch) == [f"capstan: {TASK_ID}", "initial"]
    [pull] = fake_github.pulls("acme", "widgets")
    assert pull.head == branch
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert status["status"] == "success" and len(status["executions"]) == 1
    summaries = [comment.body.split("\n\n<!-- capstan:")[0] for comment in fake_github.comments("acme", "widgets", 11)
                 if "<!-- capstan:" in comment.body]
    assert [summary.split(" ")[0] for summary in summaries] == ["Task", "Task", "✅"]
