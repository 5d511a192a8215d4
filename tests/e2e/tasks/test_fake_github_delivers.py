"""The demo's path, end to end: the fake GitHub itself delivers the signed ``issue_comment`` webhook of
a user's comment to the live API (no test-made payload), the run opens the PR, and every comment Capstan
posts on the way, delivered back from the App's Bot as GitHub would, is ignored; so is a dashboard task's
status comment, which GitHub delivers as its user's, even when it quotes a mention."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.tasks.support import WEBHOOK_SECRET, github_world, latest_execution, run_result, task_path

TASK_ID = "acme/widgets#11"


async def test_a_comment_delivered_by_the_fake_runs_and_capstans_own_comments_are_ignored(
        live_api, worker, fake_github, settings, temporal_client, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    fake_github.configure_webhook(f"{live_api.base_url}/api/webhooks/github", WEBHOOK_SECRET,
                                  deliver_bot_comments=True)

    _, delivery = fake_github.post_comment("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")

    assert delivery is not None and await asyncio.to_thread(delivery.done.wait, 30)
    [accepted] = fake_github.deliveries()
    assert (accepted.status, accepted.response) == (202, {"status": "accepted", "taskId": TASK_ID})
    execution_id = await latest_execution(live_api, TASK_ID)
    assert await run_result(temporal_client, settings, execution_id) == "success"
    [pull] = fake_github.pulls("acme", "widgets")
    assert pull.head == f"capstan/{execution_id}"

    deadline = asyncio.get_running_loop().time() + 30
    while len(fake_github.deliveries()) < 4 or any(d.status is None for d in fake_github.deliveries()):
        assert asyncio.get_running_loop().time() < deadline, fake_github.deliveries()
        await asyncio.sleep(0.1)
    from_bot = fake_github.deliveries()[1:]
    assert len(from_bot) == 3   # queued, running, success
    assert {(d.sender, d.sender_type) for d in from_bot} == {("capstan-fake[bot]", "Bot")}
    assert all(d.status == 202 and d.response["status"] == "ignored" for d in from_bot), from_bot
    assert len(fake_github.pulls("acme", "widgets")) == 1


ECHOER = "echo 'I could not; ask @capstan mock to try' >&2; exit 1"


@pytest.fixture
def tasks_settings(tasks_settings):
    """An agent that fails quoting a mention: its failure comment holds ``@capstan mock``."""
    tasks_settings.tasks.agents = json.dumps({"echoer": ECHOER})
    return tasks_settings


async def test_a_dashboard_tasks_own_status_comment_that_quotes_a_mention_starts_no_run(
        live_api, worker, fake_github, settings, temporal_client, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    fake_github.configure_webhook(f"{live_api.base_url}/api/webhooks/github", WEBHOOK_SECRET)

    created = await live_api.post("/api/tasks", json={"repoOwner": "acme", "repoName": "widgets", "issueNumber": 11,
                                                      "agent": "echoer"})

    assert created.status_code == 201, created.text
    assert await run_result(temporal_client, settings, created.json()["executionId"]) == "failed"
    # The run commented with alice's token: GitHub delivers those comments as alice's.
    deadline = asyncio.get_running_loop().time() + 30
    while len(fake_github.deliveries()) < 3 or any(d.status is None for d in fake_github.deliveries()):
        assert asyncio.get_running_loop().time() < deadline, fake_github.deliveries()
        await asyncio.sleep(0.1)
    answers = {(d.sender, d.response["status"], d.response.get("reason")) for d in fake_github.deliveries()}
    assert answers == {("alice", "ignored", "no_mention"), ("alice", "ignored", "own_comment")}, answers
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert len(status["executions"]) == 1 and status["status"] == "failed"
