"""The webhook's decision table, row by row, and exactly-once intake: a bad signature records nothing,
refusals answer their reason, a repeated delivery (or the same comment under another delivery id) is
acted on once, and a number no column holds is a 400."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import text

from models.tasks.settings import TasksSettings
from tests.e2e.tasks.runs_support import BlockingAgent, add_agents
from tests.e2e.tasks.support import WEBHOOK_SECRET, deliver, github_world, latest_execution, run_result, signature

TASK_ID = "acme/widgets#11"


async def _counts(db_engine) -> tuple[int, int, int]:
    async with db_engine.connect() as connection:
        return tuple([(await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                      for table in ("coding_tasks", "coding_task_executions", "coding_task_deliveries")])


async def test_a_bad_or_missing_signature_is_401_and_nothing_is_read_recorded_or_called(
        live_api, worker, fake_github, db_engine, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix it", user="alice")
    calls_before = len(fake_github.requests)

    wrong_key = await deliver(live_api, payload, secret="not-the-secret")
    missing = await deliver(live_api, payload, signed="")
    not_json_badly_signed = await deliver(live_api, b"{not json", signed="sha256=00")

    for response in (wrong_key, missing, not_json_badly_signed):
        assert response.status_code == 401, response.text
        assert response.json()["status"] == response.json()["error"] == "invalid_signature"
    assert await _counts(db_engine) == (0, 0, 0)
    assert len(fake_github.requests) == calls_before


async def test_each_refusal_answers_its_reason_and_records_nothing(live_api, fake_github, settings, db_engine,
                                                                  tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    event = fake_github.comment_event

    async def answer(payload, **kwargs) -> tuple[int, dict]:
        response = await deliver(live_api, payload, **kwargs)
        return response.status_code, response.json()

    mention = event("acme", "widgets", 11, "@capstan mock fix it", user="alice")
    assert await answer(mention, event="ping") == (202, {"status": "ignored", "reason": "event"})
    not_an_object = await deliver(live_api, b"[1, 2]")
    assert not_an_object.status_code == 400 and not_an_object.json()["error"] == "invalid_payload"
    malformed = await deliver(live_api, b'{"action": "created",')
    assert malformed.status_code == 400 and malformed.json()["error"] == "malformed_json"
    assert await answer(event("acme", "widgets", 11, "thanks @capstanfoo", user="alice")) == (
        202, {"status": "ignored", "reason": "no_mention"})
    assert await answer(event("acme", "widgets", 11, "@capstan mock x", user="alice", action="edited")) == (
        202, {"status": "ignored", "reason": "action"})
    assert await answer(event("acme", "widgets", 11, "@capstan mock x", user="dependabot", user_type="Bot")) == (
        202, {"status": "ignored", "reason": "bot"})
    no_installation = event("acme", "widgets", 11, "@capstan mock x", user="alice")
    del no_installation["installation"]
    assert await answer(no_installation) == (200, {"status": "missing_installation"})
    fake_github.add_user("bob")
    assert await answer(event("acme", "widgets", 11, "@capstan mock x", user="bob")) == (
        200, {"status": "missing_user_oauth"})
    fake_github.add_repo("acme", "gadgets")
    fake_github.add_issue("acme", "gadgets", 3, "Other repo")
    fake_github.add_installation(8, "acme-two", repos=["acme/gadgets"], users=["alice"])
    assert await answer(event("acme", "gadgets", 3, "@capstan mock x", user="alice")) == (
        200, {"status": "repo_not_selected"})
    settings.tasks.allowlist = ["carol"]
    assert await answer(mention) == (200, {"status": "not_authorized"})
    settings.tasks = TasksSettings(webhook_secret=None, callback_base_url=settings.tasks.callback_base_url)
    refused = await deliver(live_api, mention)
    assert refused.status_code == 503 and refused.json()["status"] == "webhook_secret_not_configured"

    assert await _counts(db_engine) == (0, 0, 0)


async def test_mention_grammar_agent_priority_and_multiline_instructions(live_api, worker, fake_github, settings,
                                                                          temporal_client, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    body = "Could you look?\n@Capstan MOCK --priority=high fix the typo\nand the heading"
    response = await deliver(live_api, fake_github.comment_event("acme", "widgets", 11, body, user="alice"))
    assert response.status_code == 202, response.text
    execution_id = await latest_execution(live_api, TASK_ID)
    assert await run_result(temporal_client, settings, execution_id) == "success"

    [task] = (await live_api.get("/api/tasks")).json()
    assert (task["agent"], task["priorityName"], task["priority"]) == ("mock", "high", 3)
    assert "capstan:priority:high" in fake_github.labels("acme", "widgets", 11)


async def test_a_repeated_delivery_is_accepted_once_and_acted_on_once(live_api, worker, fake_github, settings,
                                                                      temporal_client, db_engine, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")
    body = json.dumps(payload).encode()

    first, second = await asyncio.gather(*(deliver(live_api, body, delivery="delivery-1") for _ in range(2)))

    answers = sorted([first.json(), second.json()], key=len)
    assert [first.status_code, second.status_code] == [202, 202]
    assert answers == [{"status": "accepted", "taskId": TASK_ID},
                       {"status": "accepted", "taskId": TASK_ID, "duplicate": True}]
    execution_id = await latest_execution(live_api, TASK_ID)
    assert await run_result(temporal_client, settings, execution_id) == "success"
    late = await deliver(live_api, body, delivery="delivery-1")
    assert late.status_code == 202 and late.json() == {"status": "accepted", "taskId": TASK_ID, "duplicate": True}

    assert await _counts(db_engine) == (1, 1, 1)
    assert len(fake_github.pulls("acme", "widgets")) == 1
    assert fake_github.reactions("acme", "widgets", payload["comment"]["id"]) == ["eyes"]


async def test_a_second_mention_while_a_run_works_is_ignored(live_api, worker, fake_github, settings,
                                                            shared_with_steps, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    agent = BlockingAgent(shared_with_steps)
    add_agents(settings, sleeper=agent.command)
    first = await deliver(live_api, fake_github.comment_event("acme", "widgets", 11, "@capstan sleeper go",
                                                              user="alice"))
    assert first.status_code == 202
    await agent.started()

    second = await deliver(live_api, fake_github.comment_event("acme", "widgets", 11, "@capstan mock again",
                                                               user="alice"))

    assert second.status_code == 202
    assert second.json() == {"status": "ignored", "reason": "already_running", "taskId": TASK_ID}
    assert len((await live_api.get(f"/api/tasks/{'acme%2Fwidgets%2311'}/status")).json()["executions"]) == 1
    assert (await live_api.post("/api/tasks/acme%2Fwidgets%2311/stop")).status_code == 200


def test_the_signature_is_githubs():
    # The digest GitHub documents for the secret "It's a Secret to Everybody" and body "Hello, World!".
    assert signature(b"Hello, World!", "It's a Secret to Everybody") == \
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert WEBHOOK_SECRET not in signature(b"x")


async def test_a_comment_starts_one_run_whatever_delivery_id_brings_it(live_api, worker, fake_github, settings,
                                                                       temporal_client, db_engine, tmp_path):
    """Probe row 2: ``X-GitHub-Delivery`` is not signed, so a replayed comment with a new delivery id must not
    start another run, neither while the first works nor once it ended."""
    await github_world(live_api, fake_github, tmp_path)
    body = json.dumps(fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo",
                                                user="alice")).encode()

    first, second = await asyncio.gather(deliver(live_api, body, delivery="delivery-a"),
                                         deliver(live_api, body, delivery="delivery-b"))

    answers = sorted([first.json(), second.json()], key=len)
    assert [first.status_code, second.status_code] == [202, 202]
    assert answers == [{"status": "accepted", "taskId": TASK_ID},
                       {"status": "accepted", "taskId": TASK_ID, "duplicate": True}]
    execution_id = await latest_execution(live_api, TASK_ID)
    assert await run_result(temporal_client, settings, execution_id) == "success"
    replayed = await deliver(live_api, body, delivery="delivery-c")  # after the run ended
    assert replayed.status_code == 202
    assert replayed.json() == {"status": "accepted", "taskId": TASK_ID, "duplicate": True}

    assert await _counts(db_engine) == (1, 1, 1)
    assert len(fake_github.pulls("acme", "widgets")) == 1


@pytest.mark.parametrize(("where", "value", "error"), [
    (("issue", "number"), 2**31, "invalid_payload"), (("issue", "number"), 0, "invalid_payload"),
    (("comment", "id"), -5, "invalid_payload"), (("comment", "user", "id"), 0, "invalid_payload"),
    # GitHub's ids go to BIGINT columns: the strict JSON reader already refuses what a signed 64-bit
    # integer cannot hold, naming where.
    (("comment", "id"), 2**63, "invalid_number"), (("installation", "id"), 2**63, "invalid_number"),
], ids=["issue-number-2^31", "issue-number-0", "comment-id-negative", "user-id-0", "comment-id-2^63",
        "installation-id-2^63"])
async def test_an_integer_beyond_its_column_is_400_and_records_nothing(live_api, fake_github, db_engine, tmp_path,
                                                                       where, value, error):
    """Probe row 6: a signed payload whose number no column holds is refused, naming the field, never a 500."""
    await github_world(live_api, fake_github, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix it", user="alice")
    node = payload
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value

    response = await deliver(live_api, payload)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert ".".join(where) in response.json()["detail"]
    assert await _counts(db_engine) == (0, 0, 0)
