"""Webhooks over HTTP: verification, mapping to a run, recording, dedupe, the ``ci_report`` signal,
and (with a worker) what each CI outcome does to the run."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from capstan.db import SessionFactory, create_session_factory
from capstan.devstack.ports import free_port
from capstan.settings import ApiSettings, Settings, WebhookSettings
from models.protocols.event import Event
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, StepRun
from models.protocols.webhook import WebhookDelivery
from models.protocols.workflow_io import CiReport, Signal, protocol_run_workflow_id
from tests.support import github_fixture, make_git_repo, workflow_result

SECRET = "hook-secret"


def workflow_run(branch: str, conclusion: str | None = "success", status: str = "completed") -> dict[str, Any]:
    payload = github_fixture("workflow_run", "completed.payload")
    payload["workflow_run"].update(head_branch=branch, conclusion=conclusion, status=status)
    return payload


def pipeline(status: str, ref: str | None = None) -> dict[str, Any]:
    return {"object_kind": "pipeline", "object_attributes": {"id": 9, "status": status, "ref": ref}}


def with_webhooks(settings: Settings, **webhooks: Any) -> Settings:
    return Settings(**{**vars(settings), "webhooks": WebhookSettings(**webhooks)})


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_github(api: httpx.AsyncClient, event: str, payload: Any, *, secret: str | None = None,
                      delivery: str | None = None, run_id: int | None = None, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps(payload).encode() if body is None else body
    sent = {"content-type": "application/json", "X-GitHub-Event": event}
    if delivery:
        sent["X-GitHub-Delivery"] = delivery
    if secret:
        sent["X-Hub-Signature-256"] = signature(body, secret)
    sent.update(headers or {})
    params = {"protocol_run_id": run_id} if run_id is not None else None
    return await api.post("/webhooks/github", content=body, headers=sent, params=params)


async def post_gitlab(api: httpx.AsyncClient, payload: Any, *, event: str | None = "Pipeline Hook",
                      delivery: str | None = None, run_id: int | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
    sent = {"X-Gitlab-Event": event} if event else {}
    if delivery:
        sent["X-Gitlab-Event-UUID"] = delivery
    sent.update(headers or {})
    params = {"protocol_run_id": run_id} if run_id is not None else None
    return await api.post("/webhooks/gitlab", json=payload, headers=sent, params=params)


def answer(response: httpx.Response, message: str) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"message": message, "job": None}


def error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "detail", "request_id"}
    if code:
        assert body["error"] == code


# --- rows and signals -----------------------------------------------------------------------------

@pytest.fixture
def sessions(db_engine, settings) -> SessionFactory:  # ``settings`` empties the tables first
    return create_session_factory(db_engine)


async def add(sessions: SessionFactory, row):
    async with sessions() as session:
        session.add(row)
        await session.commit()
        await session.refresh(row)
        return row


async def make_project(sessions: SessionFactory, git_url: str = "/nowhere", **extra: Any) -> Project:
    return await add(sessions, Project(name="demo", git_url=git_url, base_branch="main", **extra))


async def make_run(sessions: SessionFactory, project: Project, name: str, status: str = "running") -> ProtocolRun:
    return await add(sessions, ProtocolRun(project_id=project.id, protocol_name=name, status=status,
                                           base_branch="main"))


async def make_step(sessions: SessionFactory, run: ProtocolRun, status: str = "running", index: int = 0) -> StepRun:
    return await add(sessions, StepRun(protocol_run_id=run.id, step_index=index, step_name=f"{index:02d}-step.md",
                                       status=status))


async def events_of(sessions: SessionFactory, run_id: int) -> list[Event]:
    async with sessions() as session:
        query = select(Event).where(Event.protocol_run_id == run_id).order_by(col(Event.id))
        return list((await session.exec(query)).all())


async def deliveries(sessions: SessionFactory) -> list[WebhookDelivery]:
    async with sessions() as session:
        return list((await session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id)))).all())


async def event_count(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return (await session.exec(text("SELECT count(*) FROM events"))).scalar_one()


async def ci_signals(temporal_client: Client, run_id: int) -> list[CiReport]:
    """The ``ci_report`` signals in the run workflow's history; [] when there is no workflow."""
    handle = temporal_client.get_workflow_handle(protocol_run_workflow_id(run_id))
    try:
        history = await handle.fetch_history()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return []
        raise
    reports = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attributes = event.workflow_execution_signaled_event_attributes
            if attributes.signal_name == Signal.CI_REPORT:
                reports += await temporal_client.data_converter.decode(attributes.input.payloads, [CiReport])
    return reports


async def workflow_exists(temporal_client: Client, run_id: int) -> bool:
    try:
        await temporal_client.get_workflow_handle(protocol_run_workflow_id(run_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


@pytest.fixture
async def secured_api(settings: Settings, api_factory) -> AsyncIterator[httpx.AsyncClient]:
    async with api_factory(with_webhooks(settings, token=SECRET)) as client:
        yield client


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
    app = create_app(settings, temporal_client=unreachable, reconcile=False)
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


# --- with a worker: what each outcome does to the run ---------------------------------------------

async def ci_applied(temporal_client: Client, run_id: int, timeout: float = 60.0) -> None:
    """Wait until the workflow has written the effect of its last ``ci_report`` signal
    (the first records activity that completes after the signal, or the workflow's end)."""
    handle = temporal_client.get_workflow_handle(protocol_run_workflow_id(run_id))

    async def follow() -> None:
        signals_seen = 0
        signals_wanted = len(await ci_signals(temporal_client, run_id))
        async for event in handle.fetch_history_events(wait_new_event=True):
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                signals_seen += 1
            elif signals_seen >= signals_wanted and event.event_type in (
                    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED):
                return

    await asyncio.wait_for(follow(), timeout)


async def run_and_steps(sessions: SessionFactory, run_id: int) -> tuple[ProtocolRun, list[StepRun]]:
    async with sessions() as session:
        run = await session.get(ProtocolRun, run_id)
        steps = (await session.exec(select(StepRun).where(StepRun.protocol_run_id == run_id)
                                    .order_by(col(StepRun.step_index)))).all()
        return run, list(steps)


async def test_ci_success_completes_the_step_and_the_protocol(api, worker, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    await make_step(sessions, run, "running")
    answer(await post_github(api, "workflow_run", workflow_run("feature-x"), delivery="ok-1"), "Webhook recorded")
    await workflow_result(temporal_client, protocol_run_workflow_id(run.id))
    run, [step] = await run_and_steps(sessions, run.id)
    assert step.status == "completed" and run.status == "completed"
    types = [e.event_type for e in await events_of(sessions, run.id)]
    assert types == ["github_workflow_run", "ci_succeeded", "protocol_completed"]


async def test_ci_running_marks_the_latest_step_running(api, worker, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    await make_step(sessions, run, "completed", 0)
    await make_step(sessions, run, "needs_qa", 1)
    await make_step(sessions, run, "pending", 2)
    answer(await post_github(api, "workflow_run", workflow_run("feature-x", None, "queued")), "Webhook recorded")
    await ci_applied(temporal_client, run.id)
    run, steps = await run_and_steps(sessions, run.id)
    assert [s.status for s in steps] == ["completed", "running", "pending"]
    assert run.status == "running"
    assert [e.event_type for e in await events_of(sessions, run.id)] == ["github_workflow_run", "ci_running"]


async def test_ci_failure_fails_the_step_and_blocks_the_protocol(api, worker, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    await make_step(sessions, run, "completed", 0)
    await make_step(sessions, run, "running", 1)
    answer(await post_gitlab(api, pipeline("failed", "feature-x"), delivery="fail-1"), "Webhook recorded")
    await ci_applied(temporal_client, run.id)
    run, steps = await run_and_steps(sessions, run.id)
    assert [s.status for s in steps] == ["completed", "failed"] and run.status == "blocked"
    [_, failed] = await events_of(sessions, run.id)
    assert failed.event_type == "ci_failed" and failed.step_run_id == steps[1].id


async def test_merged_pull_request_completes_the_protocol(api, worker, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "changes")
    await make_step(sessions, run, "needs_qa")
    merged = github_fixture("pull_request", "closed.payload")
    merged["pull_request"]["merged"] = True
    answer(await post_github(api, "pull_request", merged, delivery="merge-1"), "Webhook recorded")
    await workflow_result(temporal_client, protocol_run_workflow_id(run.id))
    run, _ = await run_and_steps(sessions, run.id)
    assert run.status == "completed"
    assert [e.event_type for e in await events_of(sessions, run.id)] == [
        "github_pull_request", "pr_merged", "protocol_completed"]


async def test_ci_success_runs_qa_when_auto_qa_on_ci(settings, api_factory, worker, sessions, temporal_client,
                                                     tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    run = await make_run(sessions, await make_project(sessions, str(repo), qa_command="true"), "feature-x")
    await make_step(sessions, run, "running")
    async with api_factory(with_webhooks(settings, auto_qa_on_ci=True)) as client:
        answer(await post_github(client, "check_run", _check_run("feature-x")), "Webhook recorded")
    await workflow_result(temporal_client, protocol_run_workflow_id(run.id))
    run, [step] = await run_and_steps(sessions, run.id)
    assert step.status == "completed" and run.status == "completed"
    types = [e.event_type for e in await events_of(sessions, run.id)]
    assert types == ["github_check_run", "ci_succeeded", "qa_passed", "protocol_completed"]


def _check_run(branch: str) -> dict[str, Any]:
    payload = github_fixture("check_run", "completed.payload")
    payload["check_run"]["check_suite"]["head_branch"] = branch
    return payload
