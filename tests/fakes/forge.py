"""A fake GitHub and GitLab speaking real HTTP, with in-memory pull/merge requests.

Only the endpoints Capstan calls exist::

    POST/GET {url}/repos/{owner}/{repo}/pulls                       GitHub
    POST/GET {url}/api/v4/projects/{url-encoded path}/merge_requests  GitLab

Usage::

    with FakeForge() as forge:                 # or the ``fake_forge`` fixture
        settings = forge.forge_settings()      # ForgeSettings pointing here, with FAKE_FORGE_TOKEN
        ...
        forge.pulls["acme/widgets"][0].title   # what was opened
        forge.requests[-1].headers["authorization"]
        forge.fail_next(502)                   # the next call answers 502

Like the real forges it checks the token (GitHub ``Authorization: Bearer``, GitLab
``PRIVATE-TOKEN``), answers 422 (GitHub) / 409 (GitLab) for a second open request of
the same branch, and (GitLab) needs the project path URL-encoded in one segment.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from models.protocols.settings import ForgeSettings
from tests.fakes.served import ReceivedRequest, ServedInThread

FAKE_FORGE_TOKEN = "fake-forge-token-0123456789"

GITHUB = "github"
GITLAB = "gitlab"


@dataclass
class FakePull:
    """A pull request (GitHub) or merge request (GitLab) held by the fake."""

    forge: str
    repository: str
    number: int                  # GitHub number, GitLab iid
    title: str
    head: str                    # branch name, without an ``owner:`` prefix
    base: str
    body: str
    url: str                     # html_url / web_url
    state: str = "open"          # GitHub open|closed; GitLab opened|closed|merged

    @property
    def is_open(self) -> bool:
        return self.state in ("open", "opened")


@dataclass
class _ScriptedAnswer:
    status: int | None           # None: answer normally (after the delay)
    body: Any = None
    delay: float = 0.0


@dataclass
class _State:
    tokens: set[str]
    pulls: dict[str, list[FakePull]] = field(default_factory=dict)
    requests: list[ReceivedRequest] = field(default_factory=list)
    script: list[_ScriptedAnswer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _json(status: int, body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class _ForgeApp:
    """The HTTP handlers, over the shared state (the server runs in another thread)."""

    def __init__(self, state: _State, base_url: str) -> None:
        self.state = state
        self.base_url = base_url

    def asgi(self) -> Starlette:
        return Starlette(routes=[
            Route("/repos/{owner}/{repo}/pulls", self.github_pulls, methods=["GET", "POST"]),
            Route("/api/v4/projects/{project:path}/merge_requests", self.gitlab_merge_requests,
                  methods=["GET", "POST"]),
        ])

    async def _receive(self, request: Request) -> tuple[Any, JSONResponse | None]:
        """Record the request; play the next scripted answer, if any."""
        raw = await request.body()
        try:
            payload = await request.json() if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        with self.state.lock:
            self.state.requests.append(ReceivedRequest(
                method=request.method, path=request.scope["raw_path"].decode(),
                query=dict(request.query_params), headers={k.lower(): v for k, v in request.headers.items()},
                json=payload))
            scripted = self.state.script.pop(0) if self.state.script else None
        if scripted is None:
            return payload, None
        if scripted.delay:
            await asyncio.sleep(scripted.delay)
        if scripted.status is None:
            return payload, None
        body = scripted.body if scripted.body is not None else {"message": HTTPStatus(scripted.status).phrase}
        return payload, _json(scripted.status, body)

    def _authorized(self, *candidates: str | None) -> bool:
        with self.state.lock:
            return any(token in self.state.tokens for token in candidates if token)

    # --- GitHub ---

    async def github_pulls(self, request: Request) -> JSONResponse:
        payload, scripted = await self._receive(request)
        if scripted is not None:
            return scripted
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or not self._authorized(token.strip()):
            return _json(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                               "status": "401"})
        owner, name = request.path_params["owner"], request.path_params["repo"]
        repository = f"{owner}/{name}"
        if request.method == "GET":
            return self._github_list(repository, owner, request)
        if not isinstance(payload, dict):
            return _json(400, {"message": "Problems parsing JSON"})
        missing = [f for f in ("title", "head", "base") if not payload.get(f)]
        if missing:
            return _json(422, {"message": "Validation Failed", "errors": [
                {"resource": "PullRequest", "field": f, "code": "missing_field"} for f in missing]})
        head = str(payload["head"]).split(":", 1)[-1]
        with self.state.lock:
            pulls = self.state.pulls.setdefault(repository, [])
            if any(p.is_open and p.head == head and p.base == payload["base"] for p in pulls):
                return _json(422, {"message": "Validation Failed", "errors": [{
                    "resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {owner}:{head}."}],
                    "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                    "status": "422"})
            number = len(pulls) + 1
            pull = FakePull(GITHUB, repository, number, str(payload["title"]), head, str(payload["base"]),
                            str(payload.get("body") or ""), f"{self.base_url}/{repository}/pull/{number}")
            pulls.append(pull)
        return _json(201, self._github_json(pull))

    def _github_list(self, repository: str, owner: str, request: Request) -> JSONResponse:
        state = request.query_params.get("state", "open")
        head_owner, _, head = request.query_params.get("head", "").rpartition(":")
        with self.state.lock:
            found = [p for p in self.state.pulls.get(repository, [])
                     if (state == "all" or (state == "open") == p.is_open)
                     and (not head or (p.head == head and head_owner in ("", owner)))]
            return _json(200, [self._github_json(p) for p in found])

    def _github_json(self, pull: FakePull) -> dict[str, Any]:
        owner = pull.repository.split("/")[0]
        return {"id": 1000 + pull.number, "number": pull.number, "state": pull.state, "title": pull.title,
                "body": pull.body, "html_url": pull.url,
                "url": f"{self.base_url}/repos/{pull.repository}/pulls/{pull.number}",
                "head": {"ref": pull.head, "label": f"{owner}:{pull.head}"}, "base": {"ref": pull.base},
                "merged": pull.state == "merged"}

    # --- GitLab ---

    async def gitlab_merge_requests(self, request: Request) -> JSONResponse:
        payload, scripted = await self._receive(request)
        if scripted is not None:
            return scripted
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not self._authorized(request.headers.get("private-token"), bearer):
            return _json(401, {"message": "401 Unauthorized"})
        # Real GitLab needs the path as one URL-encoded segment (group%2Fsub%2Fname).
        encoded = request.scope["raw_path"].decode().removeprefix("/api/v4/projects/")
        encoded = encoded.removesuffix("/merge_requests")
        if "/" in encoded:
            return _json(404, {"message": "404 Project Not Found"})
        repository = unquote(encoded)
        if request.method == "GET":
            return self._gitlab_list(repository, request)
        if not isinstance(payload, dict):
            return _json(400, {"error": "body is not JSON"})
        missing = [f for f in ("source_branch", "target_branch", "title") if not payload.get(f)]
        if missing:
            return _json(400, {"error": f"{', '.join(missing)} is missing"})
        with self.state.lock:
            requests = self.state.pulls.setdefault(repository, [])
            existing = next((r for r in requests if r.is_open and r.head == payload["source_branch"]), None)
            if existing is not None:
                return _json(409, {"message": [
                    f"Another open merge request already exists for this source branch: !{existing.number}"]})
            iid = len(requests) + 1
            merge_request = FakePull(
                GITLAB, repository, iid, str(payload["title"]), str(payload["source_branch"]),
                str(payload["target_branch"]), str(payload.get("description") or ""),
                f"{self.base_url}/{repository}/-/merge_requests/{iid}", state="opened")
            requests.append(merge_request)
        return _json(201, self._gitlab_json(merge_request))

    def _gitlab_list(self, repository: str, request: Request) -> JSONResponse:
        query = request.query_params
        with self.state.lock:
            found = [r for r in self.state.pulls.get(repository, [])
                     if query.get("state", "all") in ("all", r.state)
                     and query.get("source_branch", r.head) == r.head
                     and query.get("target_branch", r.base) == r.base]
            return _json(200, [self._gitlab_json(r) for r in found])

    def _gitlab_json(self, merge_request: FakePull) -> dict[str, Any]:
        return {"id": 2000 + merge_request.number, "iid": merge_request.number, "state": merge_request.state,
                "title": merge_request.title, "description": merge_request.body, "web_url": merge_request.url,
                "source_branch": merge_request.head, "target_branch": merge_request.base}


class FakeForge(ServedInThread):
    """The fake forge server: start/stop with ``with``; ``.url``, ``.requests``, ``.pulls``."""

    label = "fake forge"

    def __init__(self, tokens: Iterable[str] = (FAKE_FORGE_TOKEN,), host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._state = _State(tokens=set(tokens))

    def asgi(self) -> Starlette:
        return _ForgeApp(self._state, self.url).asgi()

    # --- what tests read and steer ---

    @property
    def github_api_url(self) -> str:
        return self.url

    @property
    def gitlab_api_url(self) -> str:
        return f"{self.url}/api/v4"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def pulls(self) -> dict[str, list[FakePull]]:
        """Pull/merge requests per repository path (``owner/name``, ``group/sub/name``)."""
        with self._state.lock:
            return {repository: list(pulls) for repository, pulls in self._state.pulls.items()}

    def add_token(self, token: str) -> None:
        with self._state.lock:
            self._state.tokens.add(token)

    def fail_next(self, status: int, body: Any = None, *, times: int = 1) -> None:
        """The next ``times`` calls answer ``status`` with ``body`` (default ``{"message": reason}``)."""
        with self._state.lock:
            self._state.script += [_ScriptedAnswer(status, body) for _ in range(times)]

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` calls wait ``seconds`` before answering normally."""
        with self._state.lock:
            self._state.script += [_ScriptedAnswer(None, delay=seconds) for _ in range(times)]

    def set_state(self, repository: str, number: int, state: str) -> None:
        """Close or merge a request, as a person on the forge would."""
        with self._state.lock:
            next(p for p in self._state.pulls[repository] if p.number == number).state = state

    def forge_settings(self, github_token: str | None = FAKE_FORGE_TOKEN,
                       gitlab_token: str | None = FAKE_FORGE_TOKEN, timeout_seconds: float = 5.0) -> ForgeSettings:
        return ForgeSettings(
            github_api_url=self.github_api_url, gitlab_api_url=self.gitlab_api_url,
            github_token=SecretStr(github_token) if github_token else None,
            gitlab_token=SecretStr(gitlab_token) if gitlab_token else None,
            timeout_seconds=timeout_seconds)


@pytest.fixture
def fake_forge() -> Iterator[FakeForge]:
    """A fresh fake forge for one test. Import it into a test module or conftest to use it."""
    with FakeForge() as forge:
        yield forge
