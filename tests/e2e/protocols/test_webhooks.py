"""Webhooks over HTTP: verification, mapping to a run, recording, dedupe and the ``ci_report`` signal."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from capstan.devstack.ports import free_port
from capstan.settings import ApiSettings, Settings
from models.protocols.settings import WebhookSettings
from tests.e2e.protocols.webhook_support import (  # noqa: F401 - fixtures
    SECRET,
    answer,
    ci_signals,
    deliveries,
    error,
    event_count,
    events_of,
    make_project,
    make_run,
    pipeline,
    post_github,
    post_gitlab,
    secured_api,
    sessions,
    signature,
    workflow_exists,
    workflow_run,
)
from tests.support import github_fixture

# --- GitHub: verification -------------------------------------------------------------------------

async def test_signed_github_delivery_is_recorded_and_signalled(secured_api, sessions, temporal_client):
    project = await make_project(sessions)
    run = await make_run(sessions, project, "feature-x")

    response = await post_github(secured_api, "workflow_run", workflow_run("feature-x"), secret=SECRET,
                                 delivery="gh-1")
    answer(response, "Webhook recorded")

    [event] = await events_of(sessions, run.id)
    assert event.event_type == "github_workflow_run" and event.project_id == project.id
    assert event.message == "GitHub workflow_run on branch feature-x: success (outcome success)"
    assert event.event_metadata["delivery_id"] == "gh-1"
    assert event.event_metadata["event"] == "workflow_run"
    assert event.event_metadata["status"] == "success" and event.event_metadata["outcome"] == "success"
    [delivery] = await deliveries(sessions)
    assert (delivery.provider, delivery.delivery_id, delivery.event_name, delivery.protocol_run_id,
            delivery.signalled) == ("github", "gh-1", "workflow_run", run.id, True)
    [report] = await ci_signals(temporal_client, run.id)
    assert (report.outcome, report.source, report.event_name, report.status, report.delivery_id, report.branch) == \
        ("success", "github", "workflow_run", "success", "gh-1", "feature-x")
    # The event is also in the run's API history.
    listed = (await secured_api.get(f"/protocols/{run.id}/events")).json()
    assert [e["event_type"] for e in listed] == ["github_workflow_run"]


@pytest.mark.parametrize("how", ["wrong secret", "missing", "other body", "no prefix"])
async def test_bad_or_missing_github_signature_is_401_and_records_nothing(secured_api, sessions, temporal_client,
                                                                          how):
    project = await make_project(sessions)
    run = await make_run(sessions, project, "feature-x")
    payload = workflow_run("feature-x")
    body = json.dumps(payload).encode()
    headers = {
        "wrong secret": {"X-Hub-Signature-256": signature(body, "not-the-secret")},
        "missing": {},
        "other body": {"X-Hub-Signature-256": signature(body + b" ")},
        "no prefix": {"X-Hub-Signature-256": signature(body).removeprefix("sha256=")},
    }[how]
    response = await post_github(secured_api, "workflow_run", payload, delivery="gh-bad", headers=headers)
    error(response, 401, "invalid_signature")
    assert await event_count(sessions) == 0
    assert await deliveries(sessions) == []
    assert not await workflow_exists(temporal_client, run.id)


async def test_signature_is_checked_before_the_body_is_read(secured_api, sessions):
    """A JSON array (a 400 once read) with no signature is refused as unauthenticated first."""
    error(await post_github(secured_api, "workflow_run", [1, 2]), 401)
    error(await post_github(secured_api, "workflow_run", [1, 2], secret=SECRET), 400, "invalid_payload")


async def test_without_a_secret_unsigned_deliveries_are_accepted(api, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    answer(await post_github(api, "workflow_run", workflow_run("feature-x", None, "in_progress")), "Webhook recorded")
    [report] = await ci_signals(temporal_client, run.id)
    assert report.outcome == "running" and report.status == "in_progress" and report.delivery_id is None


async def test_ping_answers_pong_and_records_nothing(secured_api, sessions, temporal_client):
    answer(await post_github(secured_api, "ping", github_fixture("ping"), secret=SECRET, delivery="p-1"), "pong")
    answer(await post_github(secured_api, "ping", github_fixture("ping"), secret=SECRET, run_id=999999), "pong")
    error(await post_github(secured_api, "ping", github_fixture("ping")), 401)
    assert await event_count(sessions) == 0 and await deliveries(sessions) == []


async def test_form_encoded_github_delivery_is_accepted(secured_api, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    body = urlencode({"payload": json.dumps(workflow_run("feature-x", "failure"))}).encode()
    response = await post_github(secured_api, "workflow_run", None, secret=SECRET, body=body,
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    answer(response, "Webhook recorded")
    assert [r.outcome for r in await ci_signals(temporal_client, run.id)] == ["failure"]


# --- dedupe and retries ---------------------------------------------------------------------------

async def test_a_repeated_delivery_is_recorded_and_signalled_once(secured_api, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    payload = workflow_run("feature-x")
    answer(await post_github(secured_api, "workflow_run", payload, secret=SECRET, delivery="gh-dup"),
           "Webhook recorded")
    for _ in range(2):
        answer(await post_github(secured_api, "workflow_run", payload, secret=SECRET, delivery="gh-dup"),
               "Duplicate delivery ignored")
    assert len(await events_of(sessions, run.id)) == 1
    assert len(await deliveries(sessions)) == 1
    assert [r.delivery_id for r in await ci_signals(temporal_client, run.id)] == ["gh-dup"]


async def test_without_a_delivery_id_there_is_no_dedupe(api, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    for _ in range(2):
        answer(await post_github(api, "workflow_run", workflow_run("feature-x")), "Webhook recorded")
    assert len(await events_of(sessions, run.id)) == 2
    assert await deliveries(sessions) == []
    assert len(await ci_signals(temporal_client, run.id)) == 2


@contextlib.asynccontextmanager
async def api_without_temporal(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with a client whose Temporal server is not there."""
    unreachable = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True, data_converter=pydantic_data_converter)
    app = create_app(settings, temporal_client=unreachable)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://capstan.test") as client:
            yield client


async def test_temporal_down_is_503_and_the_redelivery_signals(settings, api, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    payload = pipeline("failed", "feature-x")
    async with api_without_temporal(settings) as down:
        response = await post_gitlab(down, payload, delivery="gl-retry")
    error(response, 503, "service_unavailable")
    assert response.headers["retry-after"]
    # Recorded, not yet signalled.
    assert len(await events_of(sessions, run.id)) == 1
    assert [d.signalled for d in await deliveries(sessions)] == [False]
    assert not await workflow_exists(temporal_client, run.id)

    # The sender retries once Temporal is back: signalled now, still one event.
    answer(await post_gitlab(api, payload, delivery="gl-retry"), "Webhook recorded")
    assert len(await events_of(sessions, run.id)) == 1
    assert [d.signalled for d in await deliveries(sessions)] == [True]
    assert [(r.outcome, r.delivery_id) for r in await ci_signals(temporal_client, run.id)] == [("failure", "gl-retry")]
    answer(await post_gitlab(api, payload, delivery="gl-retry"), "Duplicate delivery ignored")
    assert len(await ci_signals(temporal_client, run.id)) == 1


# --- mapping to a run -----------------------------------------------------------------------------

async def test_protocol_run_id_query_wins_over_the_branch(api, sessions, temporal_client):
    project = await make_project(sessions)
    by_branch = await make_run(sessions, project, "master")
    chosen = await make_run(sessions, project, "other-name")
    answer(await post_github(api, "workflow_run", workflow_run("master"), run_id=chosen.id), "Webhook recorded")
    assert len(await events_of(sessions, chosen.id)) == 1 and await events_of(sessions, by_branch.id) == []
    assert len(await ci_signals(temporal_client, chosen.id)) == 1
    assert await ci_signals(temporal_client, by_branch.id) == []


async def test_branch_maps_to_the_newest_run_of_that_name(api, sessions, temporal_client):
    project = await make_project(sessions)
    older = await make_run(sessions, project, "feature-x")
    newer = await make_run(sessions, project, "feature-x")
    answer(await post_github(api, "check_suite", _check_suite("feature-x")), "Webhook recorded")
    assert await events_of(sessions, older.id) == []
    assert [e.event_type for e in await events_of(sessions, newer.id)] == ["github_check_suite"]


def _check_suite(branch: str) -> dict[str, Any]:
    payload = github_fixture("check_suite", "completed.payload")
    payload["check_suite"]["head_branch"] = branch
    return payload


async def test_refs_heads_is_stripped_and_the_full_ref_wins_over_its_last_segment(api, sessions):
    project = await make_project(sessions)
    short = await make_run(sessions, project, "feature-x")
    full = await make_run(sessions, project, "team/feature-x")
    answer(await post_gitlab(api, pipeline("success", "refs/heads/team/feature-x")), "Webhook recorded")
    assert len(await events_of(sessions, full.id)) == 1 and await events_of(sessions, short.id) == []
    # A ref whose full name is no run falls back to its last segment.
    answer(await post_gitlab(api, pipeline("running", "refs/heads/other/feature-x")), "Webhook recorded")
    [event] = await events_of(sessions, short.id)
    assert event.message == "GitLab Pipeline Hook on branch other/feature-x: running (outcome running)"


async def test_unknown_run_or_branch_is_404_and_records_nothing(api, sessions, temporal_client):
    await make_run(sessions, await make_project(sessions), "feature-x")
    error(await post_github(api, "workflow_run", workflow_run("feature-x"), run_id=999999), 404,
          "protocol_run_not_found")
    error(await post_github(api, "workflow_run", workflow_run("feature-x"), run_id=2**40), 404,
          "protocol_run_not_found")
    error(await post_github(api, "workflow_run", workflow_run("nobody")), 404, "protocol_run_not_found")
    error(await post_gitlab(api, pipeline("success")), 404, "protocol_run_not_found")  # no ref at all
    error(await post_github(api, "workflow_run", workflow_run("feature-x"), run_id="abc"), 400, "validation_error")
    assert await event_count(sessions) == 0 and await deliveries(sessions) == []


async def test_unknown_status_is_recorded_without_a_signal(api, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "changes")
    answer(await post_github(api, "pull_request", github_fixture("pull_request", "opened.payload"), delivery="pr-1"),
           "Webhook recorded")
    [event] = await events_of(sessions, run.id)
    assert event.event_type == "github_pull_request" and event.event_metadata["outcome"] is None
    assert event.event_metadata["status"] == "open"
    assert not await workflow_exists(temporal_client, run.id)
    answer(await post_github(api, "pull_request", github_fixture("pull_request", "opened.payload"), delivery="pr-1"),
           "Duplicate delivery ignored")
    assert len(await events_of(sessions, run.id)) == 1


async def test_other_events_are_ignored_but_recorded_when_they_match_a_run(api, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    push = {**github_fixture("push"), "ref": "refs/heads/feature-x"}
    answer(await post_github(api, "push", push, delivery="push-1"), "Webhook ignored")
    [event] = await events_of(sessions, run.id)
    assert event.event_type == "github_push" and event.message == "GitHub push on branch feature-x: ignored"
    assert [d.delivery_id for d in await deliveries(sessions)] == ["push-1"]
    # Events that match no run are answered 200, not 404, and leave nothing behind.
    for event in ("installation", "issue_comment"):
        answer(await post_github(api, event, github_fixture(event, "created.payload")), "Webhook ignored")
    answer(await post_gitlab(api, {"object_kind": "note"}, event="Note Hook"), "Webhook ignored")
    assert await event_count(sessions) == 1
    assert not await workflow_exists(temporal_client, run.id)


# --- GitLab ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["X-Gitlab-Token", "X-Deksdenflow-Webhook-Token"])
async def test_gitlab_token_headers_are_accepted(secured_api, sessions, temporal_client, header):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    response = await post_gitlab(secured_api, pipeline("success", "feature-x"), delivery="gl-1",
                                 headers={header: SECRET})
    answer(response, "Webhook recorded")
    [event] = await events_of(sessions, run.id)
    assert event.event_type == "gitlab_pipeline_hook"
    assert event.message == "GitLab Pipeline Hook on branch feature-x: success (outcome success)"
    [report] = await ci_signals(temporal_client, run.id)
    assert (report.source, report.outcome, report.delivery_id) == ("gitlab", "success", "gl-1")


async def test_gitlab_signature_header_is_accepted(secured_api, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    body = json.dumps(pipeline("canceled", "feature-x")).encode()
    response = await secured_api.post("/webhooks/gitlab", content=body, headers={
        "content-type": "application/json", "X-Gitlab-Event": "Pipeline Hook",
        "X-Gitlab-Signature-256": signature(body)})
    answer(response, "Webhook recorded")
    assert [r.outcome for r in await ci_signals(temporal_client, run.id)] == ["failure"]


@pytest.mark.parametrize("headers", [
    {}, {"X-Gitlab-Token": "wrong"}, {"X-Deksdenflow-Webhook-Token": "wrong"},
    {"X-Gitlab-Signature-256": "sha256=" + "0" * 64}, {"X-Gitlab-Token": SECRET.upper()},
])
async def test_wrong_or_missing_gitlab_token_is_401(secured_api, sessions, temporal_client, headers):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    error(await post_gitlab(secured_api, pipeline("success", "feature-x"), delivery="gl-x", headers=headers), 401,
          "invalid_webhook_token")
    assert await event_count(sessions) == 0 and await deliveries(sessions) == []
    assert not await workflow_exists(temporal_client, run.id)


async def test_gitlab_merge_request_and_job_hooks(api, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    merge = {"object_kind": "merge_request",
             "object_attributes": {"state": "merged", "action": "merge", "source_branch": "feature-x"}}
    answer(await post_gitlab(api, merge, event="Merge Request Hook"), "Webhook recorded")
    job = {"object_kind": "build", "ref": "feature-x", "build_status": "running"}
    answer(await post_gitlab(api, job, event=None), "Webhook recorded")  # event from object_kind
    assert [e.event_type for e in await events_of(sessions, run.id)] == ["gitlab_merge_request_hook",
                                                                        "gitlab_job_hook"]
    assert [r.outcome for r in await ci_signals(temporal_client, run.id)] == ["merged", "running"]


async def test_gitlab_pipeline_with_only_a_top_level_ref_maps_to_its_run(api, sessions, temporal_client):
    """As the original orchestrator read them: the branch from the top-level ``ref`` when
    ``object_attributes`` has none, the status from ``state`` when it has no ``status``."""
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    payload = {"object_kind": "pipeline", "ref": "refs/heads/feature-x", "object_attributes": {"state": "failed"}}
    answer(await post_gitlab(api, payload, delivery="gl-top-ref"), "Webhook recorded")
    [event] = await events_of(sessions, run.id)
    assert event.message == "GitLab Pipeline Hook on branch feature-x: failed (outcome failure)"
    [report] = await ci_signals(temporal_client, run.id)
    assert (report.outcome, report.branch, report.delivery_id) == ("failure", "feature-x", "gl-top-ref")



# --- bad input and auth ---------------------------------------------------------------------------

async def test_malformed_bodies_are_400(api, sessions):
    await make_run(sessions, await make_project(sessions), "feature-x")
    error(await post_github(api, "workflow_run", None, body=b'{"workflow_run": '), 400, "malformed_json")
    error(await post_gitlab(api, [1, 2]), 400, "invalid_payload")
    error(await post_github(api, "workflow_run", "text"), 400, "invalid_payload")
    error(await post_github(api, "workflow_run", {"zen": "x\u0000"}), 400, "nul_byte")
    error(await api.post("/webhooks/github", json=workflow_run("feature-x")), 400, "missing_event")
    error(await post_gitlab(api, {"no": "kind"}, event=None), 400, "missing_event")
    error(await post_github(api, "workflow_run", workflow_run("feature-x"), delivery="d" * 201), 400,
          "validation_error")
    assert await event_count(sessions) == 0


async def test_oversized_fields_are_stored_cut_not_refused(api, sessions):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    payload = workflow_run("b" * 30000, "s" * 30000)
    answer(await post_github(api, "x" * 100, payload, run_id=run.id, delivery="long"), "Webhook ignored")
    answer(await post_github(api, "workflow_run", payload, run_id=run.id), "Webhook recorded")
    ignored, recorded = await events_of(sessions, run.id)
    assert len(ignored.event_type) == 100 and len(recorded.message) == 20000
    assert recorded.event_metadata["branch"] == "b" * 30000


async def test_the_api_bearer_token_does_not_guard_webhooks(settings, api_factory, sessions, temporal_client):
    guarded = Settings(**{**vars(settings), "api": ApiSettings(api_token="api-token"),
                          "webhooks": WebhookSettings(token=SECRET)})
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    async with api_factory(guarded) as client:
        error(await client.get("/projects"), 401)
        answer(await post_github(client, "workflow_run", workflow_run("feature-x"), secret=SECRET),
               "Webhook recorded")
        answer(await post_gitlab(client, pipeline("success", "feature-x"),
                                 headers={"X-Gitlab-Token": SECRET, "Authorization": "Bearer wrong"}),
               "Webhook recorded")
    assert len(await ci_signals(temporal_client, run.id)) == 2


