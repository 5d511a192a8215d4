"""What the coding-tasks benchmark (bench/tasks.py) sets up and talks to: the fake GitHub of the tests
(tests/fakes/github.py, served over real HTTP from a thread of the benchmark process) with a signed-in
commenter and repositories whose clone URLs are local bare repositories, signed ``issue_comment``
deliveries, and the API (session cookie) and Temporal clients of one stack."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.repos import make_bare_remote
from bench.stack import BenchError, DevStackProcess

REQUEST_TIMEOUT = 60.0
OWNER = "acme"
INTAKE_REPO = "intake"       # deliveries only: no worker serves the tasks queue, nothing is cloned
E2E_REPO = "widgets"         # the mock agent's runs push to its bare repository
LOGIN = "bench-user"
INSTALLATION_ID = 7
WEBHOOK_PATH = "/api/webhooks/github"
#: Stack settings inherited from the caller's shell that would change what is measured.
DROPPED_ENV = ("CAPSTAN_WORKER_SURFACES", "CAPSTAN_TASKS_ALLOWLIST", "CAPSTAN_TASKS_RUNNER", "CAPSTAN_TASKS_HANDLE",
               "CAPSTAN_TASKS_AGENTS", "CAPSTAN_TASKS_WORKDIR", "CAPSTAN_GITHUB_OAUTH_REDIRECT_URI")


def signed(secret: str, payload: dict[str, Any], delivery_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitHub sends for an ``issue_comment`` delivery."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-GitHub-Event": "issue_comment",
                  "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()), "X-Hub-Signature-256": f"sha256={digest}"}


def task_path(task_id: str, action: str = "status") -> str:
    """``acme/widgets#11`` → ``/api/tasks/acme%2Fwidgets%2311/status``."""
    return f"/api/tasks/{quote(task_id, safe='')}/{action}"


class GitHubWorld:
    """The fake GitHub, started, with ``LOGIN`` owning an installation of the App on both repositories."""

    def __init__(self, repos_dir: Path) -> None:
        from tests.fakes.github import FakeGitHub

        self.secret = secrets.token_hex(24)
        self.remotes = {name: make_bare_remote(repos_dir, name, {"README.md": f"# {name}\nIt says teh.\n"})
                        for name in (INTAKE_REPO, E2E_REPO)}
        self.shell_remote = make_bare_remote(repos_dir, "shell-widgets", {"README.md": "# widgets\nIt says teh.\n"})
        self.github = FakeGitHub().start()
        try:
            self.github.add_user(LOGIN, email=f"{LOGIN}@example.com")
            for name, remote in self.remotes.items():
                self.github.add_repo(OWNER, name, clone_url=str(remote))
            self.github.add_installation(INSTALLATION_ID, OWNER, repos=[f"{OWNER}/{n}" for n in self.remotes],
                                         users=[LOGIN])
        except BaseException:
            self.github.stop()
            raise

    def close(self) -> None:
        self.github.stop()

    def stack_env(self, base: dict[str, str], stack: DevStackProcess) -> dict[str, str]:
        """The stack's environment: the caller's (minus ``DROPPED_ENV``), pointed at the fake GitHub, with the
        webhook secret and callbacks to the stack's own API."""
        env = {k: v for k, v in base.items() if k not in DROPPED_ENV}
        return {**env, **self.github.env(), "CAPSTAN_TASKS_WEBHOOK_SECRET": self.secret,
                "CAPSTAN_TASKS_CALLBACK_BASE_URL": stack.api_url, "CAPSTAN_TASKS_RUNNER": "local"}

    def comment(self, repo: str, number: int, text: str) -> tuple[str, bytes, dict[str, str]]:
        """Open issue ``number`` on ``repo``, comment ``text`` on it as ``LOGIN``: the task id and the signed
        delivery GitHub would send."""
        self.github.add_issue(OWNER, repo, number, f"Fix the typo ({number})", "The README says teh.",
                              labels=["bug"], user=LOGIN)
        payload = self.github.comment_event(OWNER, repo, number, text, user=LOGIN)
        return f"{OWNER}/{repo}#{number}", *signed(self.secret, payload)

    def pull_for(self, repo: str, branch: str) -> Any:
        return next((p for p in self.github.pulls(OWNER, repo) if p.head == branch), None)

    def requests_for(self, repo: str) -> int:
        """REST calls Capstan made about ``repo`` (reactions, labels, comments, pulls, contents)."""
        return len(self.github.requests_to(f"/repos/{OWNER}/{repo}/"))


class TasksApi:
    """One stack's API (an ``httpx`` client holding ``LOGIN``'s session cookie once ``sign_in`` ran) and
    Temporal client; a pool of keep-alive clients for concurrent deliveries."""

    def __init__(self, stack: DevStackProcess, world: GitHubWorld) -> None:
        self.stack = stack
        self.world = world
        self.http: Any = None
        self.temporal: Any = None

    async def __aenter__(self) -> TasksApi:
        import httpx
        from temporalio.client import Client
        from temporalio.contrib.pydantic import pydantic_data_converter

        self.http = httpx.AsyncClient(base_url=self.stack.api_url, timeout=REQUEST_TIMEOUT, trust_env=False)
        self.temporal = await asyncio.wait_for(Client.connect(self.stack.temporal_address,
                                                              data_converter=pydantic_data_converter),
                                               REQUEST_TIMEOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.aclose()

    def pool(self, size: int) -> list:
        import httpx

        return [httpx.AsyncClient(base_url=self.stack.api_url, timeout=REQUEST_TIMEOUT, trust_env=False,
                                  limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
                for _ in range(size)]

    @property
    def queue(self) -> str:
        from capstan.settings import TemporalSettings
        from capstan.temporal import WorkerSurfaceName, surface_task_queue

        return surface_task_queue(TemporalSettings(), WorkerSurfaceName.TASKS)

    async def sign_in(self) -> None:
        """The browser's way: ``/api/auth/github`` → the fake's authorize page → the callback, which sets the
        session cookie (without it every delivery answers ``missing_user_oauth``)."""
        import httpx

        self.world.github.sign_in_as(LOGIN)
        start = await self.http.get("/api/auth/github")
        async with httpx.AsyncClient(trust_env=False, timeout=REQUEST_TIMEOUT) as browser:
            authorize = await browser.get(start.headers.get("location", "")) if start.status_code == 302 else start
        done = await self.http.get(authorize.headers.get("location", "")) if authorize.status_code == 302 else None
        if done is None or done.status_code != 302 or "capstan_session" not in self.http.cookies:
            raise BenchError(f"signing in {LOGIN} through the fake GitHub failed: /api/auth/github answered "
                             f"{start.status_code}, authorize {authorize.status_code}, callback "
                             f"{done.status_code if done is not None else '-'}")

    async def deliver(self, body: bytes, headers: dict[str, str], client: Any = None) -> Any:
        return await (client or self.http).post(WEBHOOK_PATH, content=body, headers=headers)

    async def status(self, task_id: str) -> dict[str, Any]:
        response = await self.http.get(task_path(task_id))
        if response.status_code != 200:
            raise BenchError(f"GET {task_path(task_id)} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def workflow(self, execution_id: str) -> Any:
        from models.tasks.workflow_io import coding_task_workflow_id

        return self.temporal.get_workflow_handle(coding_task_workflow_id(self.queue, execution_id))


def comment_execution(body: bytes) -> str:
    """The execution id of the run a signed delivery's comment starts (derived from the comment id)."""
    from models.tasks.ids import comment_execution_id

    return comment_execution_id(json.loads(body)["comment"]["id"])


def accepted(response: Any, task_id: str) -> str | None:
    """Why ``response`` is not the 202 ``accepted`` answer for a new task ``task_id`` (None when it is)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 202 and body == {"status": "accepted", "taskId": task_id}:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"
