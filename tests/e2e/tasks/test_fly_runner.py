"""The ``fly`` runner end to end: a signed comment starts a Fly Machine of the user's app (the fake Fly)
with the runner image and the runner contract's environment; the test plays the machine (pushes the
branch, calls back with the machine's own URL and token) and the run opens the PR and destroys the
machine. A stopped run destroys its machine too; a user without a Fly setup is blocked at dispatch;
a machine Fly refuses fails the start. No secret the machine gets goes through Temporal history."""

from __future__ import annotations

import asyncio

import pytest

from capstan.settings import Settings
from models.tasks.workflow_io import UpdateName
from tests.e2e.tasks.fly_support import (
    ANTHROPIC_KEY,
    FLY_APP,
    FLY_TOKEN,
    RUNNER_IMAGE,
    await_request,
    await_run_waiting,
    await_update,
    call_back,
    history_text,
    play_machine,
    point_at_fakes,
    store_fly_setup,
)
from tests.e2e.tasks.support import deliver, github_world, latest_execution, run_result, task_path
from tests.fakes.fly import FakeFly
from tests.support import git, remote_log

TASK_ID = "acme/widgets#11"
OPENROUTER_KEY = "or-key-of-alice-for-the-machine-42"


@pytest.fixture
def fly_settings(tasks_settings: Settings, fake_fly, fake_anthropic) -> Settings:
    """Runs go to Fly Machines (the fake), from a known image and size; set before the worker and API start."""
    point_at_fakes(tasks_settings, fake_fly, fake_anthropic)
    tasks_settings.tasks.runner = "fly"
    tasks_settings.tasks.worker_image = RUNNER_IMAGE
    tasks_settings.tasks.machine_cpus = 4
    tasks_settings.tasks.machine_memory_mb = 4096
    return tasks_settings


async def fly_world(client, fake_github, fake_fly: FakeFly, tmp_path):
    """alice signed in, with a Fly token of her org and the app runs go to, saved through the API."""
    repo = await github_world(client, fake_github, tmp_path)
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")
    fake_fly.add_app(FLY_APP)
    saved = await client.put("/api/config/fly", json={"flyToken": FLY_TOKEN, "flyAppName": FLY_APP, "validate": True})
    assert saved.json()["validation"]["status"] == "ready", saved.text
    return repo


async def the_machine(fake_fly: FakeFly):
    return await asyncio.to_thread(fake_fly.wait_for_machine, FLY_APP)


def summaries(fake_github, number: int = 11) -> list[str]:
    bodies = [comment.body for comment in fake_github.comments("acme", "widgets", number)]
    return [body.split("\n\n<!-- capstan:")[0] for body in bodies if "<!-- capstan:" in body]


async def test_a_comment_runs_on_a_fly_machine_that_pushes_calls_back_and_is_destroyed(
        fly_settings, worker, live_api, fake_github, fake_fly, temporal_client, settings, tmp_path, live_port):
    repo = await fly_world(live_api, fake_github, fake_fly, tmp_path)
    assert (await live_api.put("/api/config/credentials", json={"anthropic": ANTHROPIC_KEY})).status_code == 200
    assert (await live_api.put("/api/config/provider-credentials",
                               json={"openrouter": {"OPENROUTER_API_KEY": OPENROUTER_KEY}})).status_code == 200
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")

    accepted = await deliver(live_api, payload)

    assert accepted.status_code == 202, accepted.text
    execution_id = await latest_execution(live_api, TASK_ID)
    machine = await the_machine(fake_fly)
    branch = f"capstan/{execution_id}"
    # the machine: the runner image, its size, and the runner contract
    assert machine.image == RUNNER_IMAGE and machine.state == "started"
    assert machine.guest == {"cpu_kind": "shared", "cpus": 4, "memory_mb": 4096}
    assert machine.config["auto_destroy"] is True
    env = machine.env
    assert env["TASK_ID"] == env["CAPSTAN_EXECUTION_ID"] == execution_id
    assert env["CAPSTAN_TASK_ID"] == TASK_ID and env["REPO_FULL_NAME"] == "acme/widgets"
    assert env["REPO_URL"] == str(repo.remote) and env["ISSUE_NUMBER"] == "11" and env["AGENT"] == "mock"
    assert env["BRANCH"] == env["BRANCH_NAME"] == branch and env["BASE_BRANCH"] == "main"
    assert env["CALLBACK_URL"] == f"http://127.0.0.1:{live_port}/api/callbacks/complete"
    assert env["CALLBACK_TOKEN"] and env["GITHUB_TOKEN"]
    assert env["GITHUB_TOKEN"] in {minted.token for minted in fake_github.minted_tokens}
    assert env["ANTHROPIC_API_KEY"] == ANTHROPIC_KEY and env["OPENROUTER_API_KEY"] == OPENROUTER_KEY
    assert "## Additional Instructions\nfix the typo" in env["PROMPT"] and "## Task\nFix the typo" in env["PROMPT"]
    assert FLY_TOKEN not in env.values()
    [create] = fake_fly.requests_to(f"/apps/{FLY_APP}/machines", method="POST")
    assert create.headers["authorization"] == f"Bearer {FLY_TOKEN}"

    # the machine's work: push the branch, report with its own callback URL and token
    short_sha = play_machine(machine, tmp_path / "machine")
    reported = await call_back(machine, {"status": "complete", "branch_name": branch, "base_branch": "main",
                                         "commit_hash": short_sha, "pr_exists": 0,
                                         "summary": f"Agent completed successfully. Branch {branch} pushed."})
    assert reported.status_code == 200, reported.text
    assert reported.json() == {"ok": True, "executionId": execution_id}

    assert await run_result(temporal_client, settings, execution_id) == "success"
    [pull] = fake_github.pulls("acme", "widgets")
    assert (pull.head, pull.base, pull.title) == (branch, "main", "Fix the typo")
    assert remote_log(repo.remote, branch) == ["agent: fix the typo", "initial"]
    assert fake_fly.machine(machine.id).state == "destroyed"
    [destroy] = fake_fly.requests_to(f"/apps/{FLY_APP}/machines/{machine.id}", method="DELETE")
    assert destroy.query == {"force": "true"} and destroy.headers["authorization"] == f"Bearer {FLY_TOKEN}"
    said = summaries(fake_github)
    assert said[:2] == ["Task queued", f"Task running on fly runner {machine.id}."]
    assert said[2].startswith(f"✅ Capstan completed this task. PR: {pull.url}") and len(said) == 3
    assert fake_github.labels("acme", "widgets", 11) == [
        "bug", "capstan:task", "capstan:success", "capstan:agent:mock", "capstan:priority:normal"]
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert (status["status"], status["prUrl"], status["commitHash"]) == ("success", pull.url, short_sha)
    [execution] = status["executions"]
    assert (execution["runner"], execution["runnerRef"]) == ("fly", machine.id)

    # nothing the machine was given in secret went through Temporal
    history = await history_text(temporal_client, settings, execution_id)
    assert machine.id in history and execution_id in history  # the search does see the history's contents
    for name in ("CALLBACK_TOKEN", "GITHUB_TOKEN", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"):
        assert env[name] not in history, name
    assert FLY_TOKEN not in history
    assert git("rev-parse", "--short", f"refs/heads/{branch}", cwd=repo.remote) == short_sha


async def test_a_stopped_run_destroys_its_machine_and_is_stopped(
        fly_settings, worker, live_api, fake_github, fake_fly, temporal_client, settings, tmp_path):
    await fly_world(live_api, fake_github, fake_fly, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")
    assert (await deliver(live_api, payload)).status_code == 202
    execution_id = await latest_execution(live_api, TASK_ID)
    machine = await the_machine(fake_fly)
    await await_run_waiting(temporal_client, settings, execution_id)

    stopped = await live_api.post(task_path(TASK_ID, "stop"))

    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {"ok": True, "taskId": TASK_ID, "executionId": execution_id, "status": "stopped"}
    assert await run_result(temporal_client, settings, execution_id) == "stopped"
    assert fake_fly.machine(machine.id).state == "destroyed"
    [destroy] = fake_fly.requests_to(f"/machines/{machine.id}", method="DELETE")
    assert destroy.query == {"force": "true"}
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert status["status"] == "stopped" and status["completedAt"]
    assert summaries(fake_github)[-1] == "Stopped by user"
    assert "capstan:stopped" in fake_github.labels("acme", "widgets", 11)
    # the machine's late callback changes nothing
    late = await call_back(machine, {"status": "complete", "branch_name": f"capstan/{execution_id}"})
    assert late.json() == {"ok": True, "ignored": "already_finished"}
    assert fake_github.pulls("acme", "widgets") == []


async def test_a_user_without_a_fly_setup_is_blocked_at_dispatch(
        fly_settings, worker, live_api, fake_github, fake_fly, temporal_client, settings, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    await store_fly_setup(live_api, app="")  # a token, but no app
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")

    assert (await deliver(live_api, payload)).status_code == 202
    execution_id = await latest_execution(live_api, TASK_ID)

    assert await run_result(temporal_client, settings, execution_id) == "failed"
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert (status["status"], status["failureStage"]) == ("failed", "dispatch")
    assert status["errorMessage"] == "Task blocked: missing Fly setup."
    assert status["error"] == {"stage": "dispatch", "message": "Task blocked: missing Fly setup."}
    assert summaries(fake_github) == ["Task queued", "Task blocked: missing Fly setup."]
    assert fake_fly.requests == [] and fake_fly.machines() == []


async def test_a_machine_fly_refuses_fails_the_start(
        fly_settings, worker, live_api, fake_github, fake_fly, temporal_client, settings, tmp_path):
    await fly_world(live_api, fake_github, fake_fly, tmp_path)
    await live_api.put("/api/config/credentials", json={"anthropic": ANTHROPIC_KEY})
    # Fly quotes what it refuses, here a value of the machine's environment
    fake_fly.fail_next("/machines", 422, {"error": f"image not found: {RUNNER_IMAGE} (env ANTHROPIC_API_KEY="
                                                   f"{ANTHROPIC_KEY})"}, method="POST")
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")

    assert (await deliver(live_api, payload)).status_code == 202
    execution_id = await latest_execution(live_api, TASK_ID)

    assert await run_result(temporal_client, settings, execution_id) == "failed"
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert (status["status"], status["failureStage"]) == ("failed", "dispatch")
    assert "image not found" in status["errorMessage"]
    assert summaries(fake_github)[-1] == "Task failed to start on fly runner."
    assert fake_fly.machines() == []
    history = await history_text(temporal_client, settings, execution_id)
    assert "image not found" in history
    for secret in (FLY_TOKEN, ANTHROPIC_KEY):
        assert secret not in status["errorMessage"] and secret not in history
        assert all(secret not in comment.body for comment in fake_github.comments("acme", "widgets", 11))


async def test_a_machine_that_never_calls_back_is_destroyed_by_the_watchdog(
        fly_settings, worker, live_api, fake_github, fake_fly, temporal_client, settings, tmp_path):
    settings.tasks.watchdog_seconds = 3
    await fly_world(live_api, fake_github, fake_fly, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")

    assert (await deliver(live_api, payload)).status_code == 202
    execution_id = await latest_execution(live_api, TASK_ID)

    assert await run_result(temporal_client, settings, execution_id) == "timed_out"
    [machine] = fake_fly.machines(FLY_APP)
    assert machine.state == "destroyed"
    assert fake_fly.requests_to(f"/machines/{machine.id}", method="DELETE")[0].query == {"force": "true"}
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert (status["status"], status["failureStage"]) == ("timed_out", "agent")
    assert summaries(fake_github)[-1].startswith("❌ Capstan failed: timeout after")


async def stop_and_release(client, release, temporal_client, settings, execution_id) -> tuple[int, dict]:
    """Ask to stop while Fly holds a request; once the run has the stop (its ``stop`` Update accepted), let
    Fly answer. The stop route's answer."""
    stopping = asyncio.ensure_future(client.post(task_path(TASK_ID, "stop")))
    try:
        await await_update(temporal_client, settings, execution_id, UpdateName.STOP)
    finally:
        release.set()
    answer = await stopping
    return answer.status_code, answer.json()


async def test_a_stop_while_the_run_announces_itself_still_stops_it(
        fly_settings, worker, live_api, fake_github, fake_fly, temporal_client, settings, tmp_path):
    """A stop that lands while an activity is in flight reaches the workflow as that activity's error
    (caused by CancelledError): the run must stop, not take it for a GitHub failure and go on waiting."""
    settings.temporal.update_timeout_seconds = 15
    await fly_world(live_api, fake_github, fake_fly, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")
    release = fake_fly.hold_next("/machines", method="POST")
    assert (await deliver(live_api, payload)).status_code == 202
    execution_id = await latest_execution(live_api, TASK_ID)
    await await_request(fake_fly, "/machines", "POST")
    # GitHub fails the running announcement's label writes a few times: it is in flight when the stop lands
    fake_github.fail_next("/issues/11/labels", 502, method="PUT", times=3)
    release.set()
    await await_run_waiting(temporal_client, settings, execution_id, announcing=True)

    stopped = await live_api.post(task_path(TASK_ID, "stop"))

    assert (stopped.status_code, stopped.json()["status"]) == (200, "stopped"), stopped.text
    assert await run_result(temporal_client, settings, execution_id, timeout=30) == "stopped"
    [machine] = fake_fly.machines(FLY_APP)
    assert machine.state == "destroyed"


async def test_a_stop_while_the_machine_starts_destroys_the_machine(
        fly_settings, worker, live_api, fake_github, fake_fly, temporal_client, settings, tmp_path):
    """Fly is slow to create the machine; the stop waits for its id and destroys it, it does not leave a
    machine running that nothing will destroy."""
    await fly_world(live_api, fake_github, fake_fly, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")
    release = fake_fly.hold_next("/machines", method="POST")
    assert (await deliver(live_api, payload)).status_code == 202
    execution_id = await latest_execution(live_api, TASK_ID)
    await await_request(fake_fly, "/machines", "POST")

    status, body = await stop_and_release(live_api, release, temporal_client, settings, execution_id)

    assert await run_result(temporal_client, settings, execution_id, timeout=30) == "stopped"
    assert (status, body["status"]) == (200, "stopped"), body
    machine = await asyncio.to_thread(fake_fly.wait_for_machine, FLY_APP)
    await asyncio.to_thread(fake_fly.wait_for_state, machine.id, "destroyed", 20)


async def test_a_machine_is_destroyed_in_its_own_app_after_the_user_changes_app(
        fly_settings, worker, live_api, fake_github, fake_fly, temporal_client, settings, tmp_path):
    await fly_world(live_api, fake_github, fake_fly, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")
    assert (await deliver(live_api, payload)).status_code == 202
    execution_id = await latest_execution(live_api, TASK_ID)
    machine = await the_machine(fake_fly)
    await await_run_waiting(temporal_client, settings, execution_id)
    fake_fly.add_app("other-runs")
    await store_fly_setup(live_api, app="other-runs")

    stopped = await live_api.post(task_path(TASK_ID, "stop"))

    assert stopped.json()["status"] == "stopped", stopped.text
    assert fake_fly.machine(machine.id).state == "destroyed", [
        (r.method, r.path) for r in fake_fly.requests_to("/machines/", method="DELETE")]


async def test_a_stop_not_recorded_within_the_update_timeout_is_202_stopping_then_completes(
        fly_settings, worker, live_api, fake_github, fake_fly, temporal_client, settings, tmp_path):
    """The stop waits for the machine Fly is still creating; past the update timeout the route answers 202
    ``stopping`` (the run took the stop) and the stop completes later."""
    settings.temporal.update_timeout_seconds = 3
    await fly_world(live_api, fake_github, fake_fly, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")
    release = fake_fly.hold_next("/machines", method="POST")
    assert (await deliver(live_api, payload)).status_code == 202
    execution_id = await latest_execution(live_api, TASK_ID)
    await await_request(fake_fly, "/machines", "POST")

    stopping = await live_api.post(task_path(TASK_ID, "stop"))

    assert stopping.status_code == 202, stopping.text
    assert stopping.json() == {"ok": True, "taskId": TASK_ID, "executionId": execution_id, "status": "stopping"}
    release.set()
    assert await run_result(temporal_client, settings, execution_id, timeout=30) == "stopped"
    machine = await asyncio.to_thread(fake_fly.wait_for_machine, FLY_APP)
    await asyncio.to_thread(fake_fly.wait_for_state, machine.id, "destroyed", 20)
    again = await live_api.post(task_path(TASK_ID, "stop"))
    assert (again.status_code, again.json()["status"]) == (409, "stopped")
