"""``POST /integrations/github/webhook?workspaceId=ws_…``: GitHub's real payloads (``tests/fixtures/github``),
signed as GitHub signs them. The checks in their order, each refusal writing nothing; a failed run's
``pipeline.failed`` in the workspace of the URL only, once per delivery (also when copies race); ``ping``; and
the events and runs that are ignored."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from tests.e2e.platform_v1.engine_world import count_rows
from tests.e2e.platform_v1.github_world import SECRET, WEBHOOK, failed_run, fixture, send, sign


def _enable(settings, secret: str | None = SECRET) -> None:
    settings.platform.github_webhook_enabled = True
    settings.platform.github_webhook_secret = SecretStr(secret) if secret else None


async def _events(db_engine, workspace: str) -> list[dict[str, Any]]:
    async with db_engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, topic, subject_type, subject_id, data, correlation_id, occurred_at "
                                       "FROM platform_events WHERE workspace_id = :ws ORDER BY created_at"),
                                  {"ws": workspace})
        return [dict(row._mapping) for row in rows]


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("error")


async def test_the_checks_come_in_order_and_a_refusal_writes_nothing(api, settings, workspaces, db_engine):
    a, _ = workspaces
    payload = failed_run()
    # 1. Switched off (the default): 404 to every request, signed or not, any method.
    assert _error(await send(api, a, "workflow_run", payload)) == (404, "not_found")
    assert _error(await api.get(f"{WEBHOOK}?workspaceId={a}")) == (404, "not_found")
    # 2. Enabled without a secret: 503, signed or not.
    _enable(settings, secret=None)
    assert _error(await send(api, a, "workflow_run", payload)) == (503, "webhook_not_configured")
    _enable(settings)
    # 3. The signature over the raw body, before anything else is looked at.
    assert _error(await send(api, a, "workflow_run", payload, secret="not-the-secret")) == (401, "invalid_signature")
    assert _error(await send(api, a, "workflow_run", payload, secret=None)) == (401, "invalid_signature")
    raw = json.dumps(payload).encode()
    respaced = await send(api, a, "workflow_run", None, body=raw.replace(b", ", b",  "),
                          headers={"x-hub-signature-256": sign(raw)})
    assert _error(respaced) == (401, "invalid_signature")
    garbage = await send(api, None, None, None, body=b"\x00not json", delivery="",
                         headers={"x-hub-signature-256": "sha256=00"})
    assert _error(garbage) == (401, "invalid_signature")  # no delivery, no event, no workspace: the signature first
    # 4. The delivery id, then the event.
    assert _error(await send(api, None, None, payload, delivery=" ")) == (400, "delivery_required")
    assert _error(await send(api, None, None, payload, delivery="x" * 256)) == (400, "delivery_required")
    assert _error(await send(api, None, None, payload)) == (400, "event_required")
    assert _error(await send(api, None, "Workflow Run!", payload)) == (400, "event_required")
    # 5. The workspace of the URL.
    assert _error(await send(api, None, "workflow_run", payload)) == (400, "workspace_required")
    assert _error(await send(api, "", "workflow_run", payload)) == (400, "workspace_required")
    assert _error(await send(api, "ws_" + "0" * 32, "workflow_run", payload)) == (404, "workspace_not_found")
    assert _error(await send(api, "not-a-workspace", "workflow_run", payload)) == (404, "workspace_not_found")
    # A malformed payload of a relevant event: 400, and the delivery is not seen (its redelivery is read).
    run = payload["workflow_run"]
    malformed: list[Any] = [
        ["not", "an", "object"], {**payload, "workflow_run": None},
        {k: v for k, v in payload.items() if k != "repository"},
        {**payload, "workflow_run": {**run, "id": "289782451"}}, {**payload, "workflow_run": {**run, "id": -1}},
        {**payload, "workflow_run": {**run, "id": 2**64}}, {**payload, "workflow_run": {**run, "head_sha": "main"}},
        {**payload, "workflow_run": {**run, "html_url": "javascript:alert(1)"}},
        {**payload, "workflow_run": {**run, "name": "n" * 256}},
        {**payload, "workflow_run": {**run, "conclusion": ["failure"]}},
        {**payload, "repository": {"full_name": "no-slash"}}, {**payload, "action": 7},
    ]
    for bad in malformed:
        refused = await send(api, a, "workflow_run", bad, delivery="the-delivery")
        assert refused.status_code == 400, (bad if not isinstance(bad, dict) else list(bad), refused.text)
    assert await count_rows(db_engine, "platform_webhook_deliveries") == 0
    assert await count_rows(db_engine, "platform_events") == 0
    redelivered = await send(api, a, "workflow_run", payload, delivery="the-delivery")
    assert redelivered.status_code == 202 and redelivered.json()["status"] == "accepted", redelivered.text


@pytest.mark.parametrize("conclusion", ["failure", "timed_out", "startup_failure"])
async def test_a_failed_run_writes_one_pipeline_failed_event(api, settings, workspaces, db_engine, conclusion):
    _enable(settings)
    a, _ = workspaces
    payload = failed_run(conclusion, name="CI")
    delivery = str(uuid.uuid4())
    accepted = await send(api, a, "workflow_run", payload, delivery=delivery,
                          headers={"x-correlation-id": f"gh-{conclusion}"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"status": "accepted", "eventId": accepted.json()["eventId"]}
    [event] = await _events(db_engine, a)
    assert event["id"] == accepted.json()["eventId"] and event["topic"] == "pipeline.failed"
    assert (event["subject_type"], event["subject_id"]) == ("pipeline", "github:octo-org/octo-repo:289782451")
    assert event["data"] == {"provider": "github", "repository": "octo-org/octo-repo", "pipeline": "CI",
                             "runId": 289782451, "url": "https://github.com/octo-org/octo-repo/actions/runs/289782451",
                             "branch": "master", "sha": "3484a3fb816e0859fd6e1cea078d76385ff50625",
                             "conclusion": conclusion}
    assert event["correlation_id"] == f"gh-{conclusion}"
    assert event["occurred_at"].isoformat() == "2020-10-05T16:33:49+00:00"  # the run's end, not the delivery's
    again = await send(api, a, "workflow_run", payload, delivery=delivery)
    assert again.status_code == 200 and again.json() == {"status": "duplicate", "deliveryId": delivery}
    assert len(await _events(db_engine, a)) == 1


async def test_the_pipeline_is_named_by_its_workflow_when_the_run_has_no_name(api, settings, workspaces, db_engine):
    _enable(settings)
    a, _ = workspaces
    payload = failed_run()  # GitHub's own payload: the run's name is ""
    assert payload["workflow_run"]["name"] == ""
    assert (await send(api, a, "workflow_run", payload)).status_code == 202
    [event] = await _events(db_engine, a)
    assert event["data"]["pipeline"] == payload["workflow"]["name"]


async def test_copies_of_one_delivery_at_once_write_one_event(api, settings, workspaces, db_engine):
    _enable(settings)
    a, _ = workspaces
    answers = await asyncio.gather(*(send(api, a, "workflow_run", failed_run(), delivery="same-guid")
                                     for _ in range(5)))
    statuses = sorted(answer.json()["status"] for answer in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 4, [answer.text for answer in answers]
    assert len(await _events(db_engine, a)) == 1
    assert await count_rows(db_engine, "platform_webhook_deliveries", "delivery_id = 'same-guid'") == 1


async def test_ping_is_pong_and_other_events_and_runs_are_ignored(api, settings, workspaces, db_engine):
    _enable(settings)
    a, _ = workspaces
    pinged = await send(api, a, "ping", fixture("ping"), delivery="ping-1")
    assert pinged.status_code == 200 and pinged.json() == {"status": "pong"}
    assert (await send(api, a, "ping", fixture("ping"), delivery="ping-1")).json()["status"] == "duplicate"
    ignored = [("push", fixture("push")), ("pull_request", fixture("pull_request", "opened.payload")),
               ("check_run", fixture("check_run", "completed.payload")),
               ("check_suite", fixture("check_suite", "completed.payload")),
               ("issue_comment", fixture("issue_comment", "created.payload")), ("status", fixture("status")),
               ("installation", fixture("installation", "created.payload")),
               ("workflow_run", fixture("workflow_run", "requested.payload")),
               ("workflow_run", fixture("workflow_run", "completed.payload")),  # success
               ("workflow_run", failed_run("cancelled")), ("workflow_run", failed_run("neutral")),
               ("workflow_run", {**failed_run(), "action": "in_progress"})]
    for event, payload in ignored:
        answer = await send(api, a, event, payload)
        assert answer.status_code == 200, (event, answer.text)
        assert answer.json()["status"] == "ignored" and answer.json()["reason"], (event, answer.text)
    assert await _events(db_engine, a) == []


async def test_an_event_lands_only_in_the_workspace_of_the_url(api, settings, workspaces, db_engine):
    _enable(settings)
    a, b = workspaces
    assert (await send(api, a, "workflow_run", failed_run())).status_code == 202
    assert len(await _events(db_engine, a)) == 1 and await _events(db_engine, b) == []
    assert (await send(api, b, "workflow_run", failed_run("timed_out"))).status_code == 202
    [in_a], [in_b] = await _events(db_engine, a), await _events(db_engine, b)
    assert (in_a["data"]["conclusion"], in_b["data"]["conclusion"]) == ("failure", "timed_out")
