"""What the webhook tests share: payload builders, signed posts, rows and the signals a run got."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from capstan.db import SessionFactory, create_session_factory
from capstan.settings import Settings
from models.protocols.event import Event
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, StepRun
from models.protocols.settings import WebhookSettings
from models.protocols.webhook import WebhookDelivery
from models.protocols.workflow_io import CiReport, Signal, protocol_run_workflow_id
from tests.support import github_fixture

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


