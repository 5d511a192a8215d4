"""What the coding-tasks tests share: the API over real HTTP, signing in through the fake GitHub's
OAuth pages, signed webhook deliveries, and waiting for a run's workflow to end."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import uvicorn
from temporalio.client import Client

from api.app import create_app
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.tasks.workflow_io import coding_task_workflow_id
from tests.fakes.github import FakeGitHub
from tests.support import make_bare_remote

WEBHOOK_SECRET = "tasks-webhook-secret-of-the-test"
#: How long a test waits for a run to end before it fails.
RUN_SECONDS = 120.0
#: How often a test looks whether a run recorded itself.
RECORD_POLL_SECONDS = 0.05


class _Server(uvicorn.Server):
    """uvicorn announcing the end of its startup (success or not) with an event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_finished = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.startup_finished.set()


class LiveApi:
    """``create_app`` served on 127.0.0.1:``port`` in the running event loop; ``async with`` gives a client."""

    def __init__(self, settings: Settings, temporal: Client, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        app = create_app(settings, temporal_client=temporal)
        self._server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                              lifespan="on", access_log=False))
        self._serving: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        self._serving = asyncio.create_task(self._server.serve())
        await self._server.startup_finished.wait()
        if not self._server.started:
            await self._serving
            raise RuntimeError(f"the API did not start on {self.url}")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=60)
        return self._client

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._server.should_exit = True
        if self._serving is not None:
            await self._serving


def task_path(task_id: str, action: str = "status") -> str:
    """``acme/widgets#11`` → ``/api/tasks/acme%2Fwidgets%2311/status``."""
    return f"/api/tasks/{quote(task_id, safe='')}/{action}"


def signature(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(client: httpx.AsyncClient, payload: Any, *, event: str = "issue_comment",
                  delivery: str | None = None, secret: str = WEBHOOK_SECRET,
                  signed: str | None = None) -> httpx.Response:
    """POST a webhook delivery signed as GitHub signs it (``signed`` overrides the signature header)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-Hub-Signature-256": signed if signed is not None else signature(body, secret)}
    return await client.post("/api/webhooks/github", content=body, headers=headers)


async def sign_in(client: httpx.AsyncClient, github: FakeGitHub, login: str) -> None:
    """The browser's way: ``/api/auth/github`` → GitHub's authorize page → the callback, which sets the
    session cookie on ``client``."""
    github.sign_in_as(login)
    start = await client.get("/api/auth/github")
    assert start.status_code == 302, start.text
    async with httpx.AsyncClient() as browser:
        authorize = await browser.get(start.headers["location"])
    assert authorize.status_code == 302, authorize.text
    done = await client.get(authorize.headers["location"])
    assert done.status_code == 302, done.text
    assert "capstan_session" in client.cookies, done.headers


@dataclass
class Repo:
    """A repository on the fake GitHub whose clone URL is a real bare repository."""

    owner: str
    name: str
    remote: Path

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


async def github_world(client: httpx.AsyncClient, github: FakeGitHub, tmp_path: Path, *, login: str = "alice",
                       files: dict[str, str] | None = None, issue: int = 11) -> Repo:
    """alice, who installed the App on acme/widgets (a real bare repository), signed in to Capstan;
    issue ``issue`` is open on it."""
    remote = make_bare_remote(tmp_path, files or {"README.md": "# widgets\nIt says teh.\n"}, name="widgets.git")
    github.add_user(login, email=f"{login}@example.com")
    github.add_repo("acme", "widgets", clone_url=str(remote))
    github.add_installation(7, "acme", repos=["acme/widgets"], users=[login])
    github.add_issue("acme", "widgets", issue, "Fix the typo", "The README says teh.", labels=["bug"], user=login)
    await sign_in(client, github, login)
    return Repo("acme", "widgets", remote)


def tasks_queue(settings: Settings) -> str:
    return surface_task_queue(settings.temporal, WorkerSurfaceName.TASKS)


async def run_result(temporal: Client, settings: Settings, execution_id: str, timeout: float = RUN_SECONDS) -> str:
    """Await the end of an execution's workflow: its final status."""
    handle = temporal.get_workflow_handle(coding_task_workflow_id(tasks_queue(settings), execution_id))
    return await asyncio.wait_for(handle.result(), timeout)


async def latest_execution(client: httpx.AsyncClient, task_id: str, timeout: float = RUN_SECONDS) -> str:
    """The task's latest execution id, once recorded: an accepted comment is recorded by its run's first
    step, after the webhook answered (there is no event to await but the task appearing)."""
    async with asyncio.timeout(timeout):
        while (status := await client.get(task_path(task_id))).status_code == 404:
            await asyncio.sleep(RECORD_POLL_SECONDS)
    assert status.status_code == 200, status.text
    return status.json()["executionId"]
