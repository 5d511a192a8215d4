"""scripts/ci/report.sh run by bash against the real app served by uvicorn on a real port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from sqlmodel import select
from temporalio.client import Client

from api.app import create_app
from capstan.db import SessionFactory, create_session_factory
from capstan.devstack.ports import free_port
from capstan.settings import ApiSettings, Settings
from models.protocols.settings import WebhookSettings
from models.protocols.webhook import WebhookDelivery
from tests.e2e.protocols.test_webhooks import ci_signals
from tests.factories import events_of, protocol_run_row

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "ci" / "report.sh"
SECRET = "ci-hook-secret"
API_TOKEN = "ci-api-token"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


async def report(*args: str, **env: str) -> Result:
    """Run the script with only PATH and ``env`` set (no CI variables of the machine running the tests)."""
    process = await asyncio.create_subprocess_exec(
        "bash", str(SCRIPT), *args, env={"PATH": os.environ["PATH"], "DEKSDENFLOW_CI_RETRIES": "0", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return Result(process.returncode, stdout.decode(), stderr.decode())


@contextlib.asynccontextmanager
async def serving(settings: Settings, temporal_client: Client) -> AsyncIterator[str]:
    """The app on a real port, in this event loop (it shares the session's Temporal client).

    The socket listens before the server starts, so a client may connect at once:
    its connection waits in the backlog until the app is up.
    """
    app = create_app(settings, temporal_client=temporal_client)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def sessions(db_engine, settings) -> SessionFactory:  # ``settings`` empties the tables first
    return create_session_factory(db_engine)


@pytest.fixture
async def api_base(settings: Settings, temporal_client: Client) -> AsyncIterator[str]:
    """A server with a webhook secret and an API bearer token."""
    guarded = Settings(**{**vars(settings), "api": ApiSettings(api_token=API_TOKEN),
                          "webhooks": WebhookSettings(token=SECRET)})
    async with serving(guarded, temporal_client) as base:
        yield base


async def delivery_ids(sessions: SessionFactory) -> list[str]:
    async with sessions() as session:
        return list((await session.exec(select(WebhookDelivery.delivery_id))).all())


async def test_success_by_run_id_is_recorded_and_signalled(api_base, sessions, temporal_client):
    run = await protocol_run_row(sessions, name="feature-x")
    result = await report("success", DEKSDENFLOW_API_BASE=api_base + "/", DEKSDENFLOW_WEBHOOK_TOKEN=SECRET,
                          DEKSDENFLOW_API_TOKEN=API_TOKEN, DEKSDENFLOW_PROTOCOL_RUN_ID=str(run.id),
                          CI_PROJECT_ID="4", CI_JOB_ID="77")
    assert result.code == 0, result.stderr
    assert "reported success" in result.stdout and "Webhook recorded" in result.stdout

    [event] = await events_of(sessions, run.id)
    assert event.event_type == "gitlab_pipeline_hook"
    assert event.event_metadata["status"] == "success" and event.event_metadata["outcome"] == "success"
    assert await delivery_ids(sessions) == ["ci-gitlab-4-77-success"]
    [signal] = await ci_signals(temporal_client, run.id)
    assert (signal.source, signal.outcome, signal.delivery_id) == ("gitlab", "success", "ci-gitlab-4-77-success")

    # The same job reporting again is recorded and acted on once.
    again = await report("success", DEKSDENFLOW_API_BASE=api_base, DEKSDENFLOW_WEBHOOK_TOKEN=SECRET,
                         DEKSDENFLOW_PROTOCOL_RUN_ID=str(run.id), CI_PROJECT_ID="4", CI_JOB_ID="77")
    assert again.code == 0 and "Duplicate delivery ignored" in again.stdout
    assert len(await events_of(sessions, run.id)) == 1 and len(await ci_signals(temporal_client, run.id)) == 1


async def test_failure_by_branch(api_base, sessions, temporal_client):
    run = await protocol_run_row(sessions, name="feature-y")
    # GitHub sets GITHUB_HEAD_REF empty outside pull requests: the ref name is used then.
    result = await report("failure", DEKSDENFLOW_API_BASE=api_base, DEKSDENFLOW_WEBHOOK_TOKEN=SECRET,
                          GITHUB_HEAD_REF="", GITHUB_REF_NAME="feature-y", GITHUB_RUN_ID="555", GITHUB_JOB="test")
    assert result.code == 0, result.stderr
    [event] = await events_of(sessions, run.id)
    assert event.message == "GitLab Pipeline Hook on branch feature-y: failed (outcome failure)"
    [signal] = await ci_signals(temporal_client, run.id)
    assert signal.outcome == "failure" and signal.branch == "feature-y"
    assert signal.delivery_id == "ci-github-repo-555-1-test-failure"


async def test_branch_names_are_json_escaped(api_base, sessions):
    name = 'odd"name\\x'
    run = await protocol_run_row(sessions, name=name)
    result = await report("success", DEKSDENFLOW_API_BASE=api_base, DEKSDENFLOW_WEBHOOK_TOKEN=SECRET,
                          CI_COMMIT_REF_NAME=name)
    assert result.code == 0, result.stderr
    [event] = await events_of(sessions, run.id)
    assert event.event_metadata["branch"] == name
    assert (await delivery_ids(sessions))[0].startswith("ci-")


async def test_wrong_webhook_token_fails_clearly(api_base, sessions):
    run = await protocol_run_row(sessions, name="feature-x")
    result = await report("success", DEKSDENFLOW_API_BASE=api_base, DEKSDENFLOW_WEBHOOK_TOKEN="wrong",
                          DEKSDENFLOW_PROTOCOL_RUN_ID=str(run.id))
    assert result.code == 1
    assert "HTTP 401" in result.stderr and "DEKSDENFLOW_WEBHOOK_TOKEN" in result.stderr
    assert await events_of(sessions, run.id) == [] and await delivery_ids(sessions) == []


async def test_unknown_run_fails_clearly(api_base, sessions):
    result = await report("failure", DEKSDENFLOW_API_BASE=api_base, DEKSDENFLOW_WEBHOOK_TOKEN=SECRET,
                          DEKSDENFLOW_PROTOCOL_RUN_ID="999999")
    assert result.code == 1 and "HTTP 404" in result.stderr and "protocol run 999999" in result.stderr


async def test_unreachable_api_fails_clearly():
    result = await report("success", DEKSDENFLOW_API_BASE=f"http://127.0.0.1:{free_port()}")
    assert result.code == 1 and "could not reach" in result.stderr


@pytest.mark.parametrize("args, env", [
    ((), {}), (("passed",), {}), (("success", "extra"), {}),
    (("success",), {"DEKSDENFLOW_PROTOCOL_RUN_ID": "12; rm -rf /"}),
])
async def test_usage_errors_exit_2(args, env):
    result = await report(*args, DEKSDENFLOW_API_BASE="http://127.0.0.1:9", **env)
    assert result.code == 2 and result.stdout == ""
    assert "usage: report.sh success|failure" in result.stderr or "must be a number" in result.stderr
