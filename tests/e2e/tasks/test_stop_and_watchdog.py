"""Stop really stops: the runner's processes are gone before the task says ``stopped``; the watchdog
ends a runner that never reports as ``timed_out``, its processes killed too."""

from __future__ import annotations

from tests.e2e.tasks.runs_support import BlockingAgent, add_agents
from tests.e2e.tasks.support import deliver, github_world, latest_execution, run_result, task_path
from tests.support import ProcessWatch, git

TASK_ID = "acme/widgets#11"


def _last_summary(fake_github) -> str:
    return fake_github.comments("acme", "widgets", 11)[-1].body.split("\n\n<!-- capstan:")[0]


def _branches(remote) -> list[str]:
    return git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=remote).splitlines()


async def test_stop_kills_the_runner_then_records_stopped(live_api, worker, fake_github, settings, temporal_client,
                                                           shared_with_steps, tmp_path):
    repo = await github_world(live_api, fake_github, tmp_path)
    agent = BlockingAgent(shared_with_steps)
    add_agents(settings, sleeper=agent.command)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan sleeper take your time", user="alice")
    assert (await deliver(live_api, payload)).status_code == 202

    pids = await agent.started()
    assert len(pids) >= 2, "the agent's shell and its sleep run"
    watch = ProcessWatch(pids)
    running = (await live_api.get(task_path(TASK_ID))).json()
    assert running["status"] == "running" and running["progress"] == 10

    stopped = await live_api.post(task_path(TASK_ID, "stop"))

    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {"ok": True, "taskId": TASK_ID, "executionId": running["executionId"],
                              "status": "stopped"}
    assert watch.still_running(timeout=0) == 0, "the runner's processes outlived the stop"
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert status["status"] == "stopped" and status["completedAt"] and status["progress"] == 100
    assert "capstan:stopped" in fake_github.labels("acme", "widgets", 11)
    assert _last_summary(fake_github) == "Stopped by user"
    assert f"capstan/{running['executionId']}" not in _branches(repo.remote)

    again = await live_api.put(task_path(TASK_ID, "stop"))
    assert again.status_code == 409 and again.json()["error"] == "not_running"
    assert again.json()["status"] == "stopped"


async def test_the_watchdog_ends_a_silent_runner_as_timed_out(live_api, worker, fake_github, settings,
                                                              temporal_client, shared_with_steps, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    agent = BlockingAgent(shared_with_steps)
    add_agents(settings, sleeper=agent.command)
    settings.tasks.watchdog_seconds = 3
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan sleeper never answer", user="alice")
    assert (await deliver(live_api, payload)).status_code == 202
    watch = ProcessWatch(await agent.started())
    execution_id = await latest_execution(live_api, TASK_ID)

    assert await run_result(temporal_client, settings, execution_id) == "timed_out"

    assert watch.still_running(timeout=0) == 0, "the runner's processes outlived the watchdog"
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert status["status"] == "timed_out" and status["failureStage"] == "agent"
    assert status["error"] == {"stage": "agent", "message": "timeout after 3 seconds"}
    assert _last_summary(fake_github) == "❌ Capstan failed: timeout after 3 seconds"
    assert "capstan:timed_out" in fake_github.labels("acme", "widgets", 11)
