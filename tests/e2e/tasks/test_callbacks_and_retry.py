"""The completion callback (per-execution token, duplicates are no-ops) and retry (a new execution on a
new branch, refused while a run works or after success, run on the retrying user's own credentials)."""

from __future__ import annotations

import json

import httpx

from capstan.secrets import tasks_callback_secret
from integrations.runners.callback import callback_token
from tests.e2e.tasks.runs_support import add_agents
from tests.e2e.tasks.support import deliver, github_world, latest_execution, run_result, sign_in, task_path
from tests.support import git, remote_log

TASK_ID = "acme/widgets#11"
ALICE_KEY = "sk-ant-api03-alice-0123456789"
BOB_KEY = "sk-ant-api03-bob-9876543210"


def _token(settings, execution_id: str) -> str:
    return callback_token(tasks_callback_secret(settings), execution_id)


async def test_callback_token_id_and_status_are_checked_and_a_duplicate_changes_nothing(
        live_api, worker, fake_github, settings, temporal_client, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    assert (await deliver(live_api, fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix",
                                                              user="alice"))).status_code == 202
    execution_id = await latest_execution(live_api, TASK_ID)
    assert await run_result(temporal_client, settings, execution_id) == "success"
    comments, pulls = len(fake_github.comments("acme", "widgets", 11)), fake_github.pulls("acme", "widgets")
    good = {"X-Capstan-Callback-Token": _token(settings, execution_id)}
    body = {"execution_id": execution_id, "status": "complete", "summary": "again"}

    duplicate = await live_api.post("/api/callbacks/complete", json=body, headers=good)
    in_body = await live_api.post("/api/callbacks/complete",
                                  json={**body, "task_id": execution_id, "execution_id": None,
                                        "callback_token": _token(settings, execution_id)})
    porter_header = await live_api.post("/api/callbacks/complete", json=body, headers={
        "X-Porter-Callback-Token": _token(settings, execution_id)})

    for response in (duplicate, in_body, porter_header):
        assert response.status_code == 200, response.text
        assert response.json() == {"ok": True, "ignored": "already_finished"}
    assert len(fake_github.comments("acme", "widgets", 11)) == comments
    assert fake_github.pulls("acme", "widgets") == pulls

    other = "task_00000000-0000-4000-8000-000000000000"
    unknown = await live_api.post("/api/callbacks/complete", json={**body, "execution_id": other},
                                  headers={"X-Capstan-Callback-Token": _token(settings, other)})
    assert unknown.status_code == 200 and unknown.json() == {"ok": True, "ignored": "unknown_execution"}
    wrong = await live_api.post("/api/callbacks/complete", json={**body, "execution_id": other}, headers=good)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid callback token"
    assert (await live_api.post("/api/callbacks/complete", json=body)).status_code == 401
    no_id = await live_api.post("/api/callbacks/complete", json={"status": "complete"}, headers=good)
    assert no_id.status_code == 400 and no_id.json()["error"] == "missing execution id"
    bad_status = await live_api.post("/api/callbacks/complete", json={**body, "status": "done"}, headers=good)
    assert bad_status.status_code == 400 and bad_status.json()["allowed"] == ["complete", "failed", "success"]
    for raw in (b"[]", b"{", b'{"execution_id": "a\\u0000b"}'):
        refused = await live_api.post("/api/callbacks/complete", content=raw,
                                      headers={**good, "Content-Type": "application/json"})
        assert refused.status_code == 400, raw


async def test_retry_of_a_failed_task_runs_a_new_execution_on_a_new_branch(
        live_api, worker, fake_github, settings, temporal_client, shared_with_steps, tmp_path):
    repo = await github_world(live_api, fake_github, tmp_path)
    ready = shared_with_steps / "fixed-upstream"
    add_agents(settings, fixer=f"test -e {ready} || {{ echo 'the model is down' >&2; exit 3; }}; "
                               "echo fixed > fixed.txt")
    assert (await deliver(live_api, fake_github.comment_event("acme", "widgets", 11, "@capstan fixer now",
                                                              user="alice"))).status_code == 202
    first = await latest_execution(live_api, TASK_ID)
    assert await run_result(temporal_client, settings, first) == "failed"
    failed = (await live_api.get(task_path(TASK_ID))).json()
    assert failed["failureStage"] == "agent" and "the model is down" in failed["errorMessage"]
    assert failed["error"]["stage"] == "agent"
    assert fake_github.comments("acme", "widgets", 11)[-1].body.startswith("❌ Capstan failed: agent exited with "
                                                                           "code 3.")
    ready.write_text("")

    retried = await live_api.post(task_path(TASK_ID, "retry"))

    assert retried.status_code == 200, retried.text
    second = retried.json()["executionId"]
    assert retried.json() == {"ok": True, "taskId": TASK_ID, "executionId": second,
                              "branch": f"capstan/{second}", "status": "queued"}
    assert second != first
    assert await run_result(temporal_client, settings, second) == "success"
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert [run["executionId"] for run in status["executions"]] == [second, first]
    assert [run["status"] for run in status["executions"]] == ["success", "failed"]
    assert remote_log(repo.remote, f"capstan/{second}") == [f"capstan: {TASK_ID}", "initial"]
    assert [pull.head for pull in fake_github.pulls("acme", "widgets")] == [f"capstan/{second}"]

    done = await live_api.put(task_path(TASK_ID, "retry"))
    assert done.status_code == 409 and done.json()["error"] == "not_retryable"


def _keyed_agent(settings, ready) -> None:
    """An agent that needs an Anthropic key and commits the key it was given (so the test can read which it
    was); it fails until ``ready`` exists."""
    settings.tasks.agents = json.dumps({"keyed": {
        "command": f'test -e {ready} || {{ echo "the model is down" >&2; exit 3; }}; '
                   'printf %s "$ANTHROPIC_API_KEY" > key.txt', "requires": ["anthropic"]}})


async def test_a_retry_runs_on_the_retrying_users_own_keys(live_api, worker, fake_github, settings, temporal_client,
                                                            shared_with_steps, tmp_path):
    """Probe row 1: Bob retrying Alice's failed task must not run the agent with Alice's stored key."""
    repo = await github_world(live_api, fake_github, tmp_path)
    fake_github.add_user("bob", email="bob@example.com")
    fake_github.add_installation(7, "acme", repos=["acme/widgets"], users=["alice", "bob"])
    ready = shared_with_steps / "model-is-up"
    _keyed_agent(settings, ready)
    assert (await live_api.put("/api/config/credentials", json={"anthropic": ALICE_KEY})).status_code == 200
    assert (await deliver(live_api, fake_github.comment_event("acme", "widgets", 11, "@capstan keyed fix it",
                                                              user="alice"))).status_code == 202
    first = await latest_execution(live_api, TASK_ID)
    assert await run_result(temporal_client, settings, first) == "failed"
    ready.write_text("")

    async with httpx.AsyncClient(base_url=str(live_api.base_url), timeout=60) as bob:
        await sign_in(bob, fake_github, "bob")
        without_a_key = await bob.post(task_path(TASK_ID, "retry"))
        assert without_a_key.status_code == 400, without_a_key.text
        assert without_a_key.json()["error"] == "Task blocked: missing Anthropic credentials."
        assert (await bob.put("/api/config/credentials", json={"anthropic": BOB_KEY})).status_code == 200

        retried = await bob.post(task_path(TASK_ID, "retry"))

        assert retried.status_code == 200, retried.text
        second = retried.json()["executionId"]
        assert await run_result(temporal_client, settings, second) == "success"
        status = (await bob.get(task_path(TASK_ID))).json()
    assert git("show", f"refs/heads/capstan/{second}:key.txt", cwd=repo.remote) == BOB_KEY
    assert [(run["executionId"], run["requestedBy"]) for run in status["executions"]] == [
        (second, "bob"), (first, "alice")]
    assert status["status"] == "success"
