"""Fake Fly Machines and Anthropic APIs speaking real HTTP: what the ``fly`` runner, the Fly setup check
and the Anthropic key check call.

Fly (point ``settings.tasks.fly_api_url`` at ``fake_fly.url``)::

    def test_something(fake_fly):                          # a started FakeFly (fixture)
        fake_fly.add_token("fo1_org", org_slug="personal")  # may create apps in its org
        fake_fly.add_token("fo1_app", apps=["widgets-runs"])  # a deploy token: that app only
        fake_fly.add_token("fo1_blind", can_read_self=False)  # GET /tokens/current answers 403
        fake_fly.add_app("widgets-runs", org_slug="personal")
        fake_fly.take_name("capstan-taken")                   # someone else's app: POST /apps answers 409
        ...
        [machine] = fake_fly.machines("widgets-runs")        # image, env, guest, state
        fake_fly.requests_to("/machines", method="DELETE")   # what Capstan sent, query included
        fake_fly.fail_next("/machines", 500, method="POST")  # the next matching request answers 500
        release = fake_fly.hold_next("/machines", method="POST")  # answers once release.set()

What it checks, like Fly: every route needs ``Authorization: Bearer <token>`` of a known token, else 401
``{error: "unauthorized"}``. A token reaches the apps of its organization and the apps it is scoped to;
another existing app answers 403, a missing one 404 (``app not found``). ``POST /apps`` needs an
``org_slug`` (400 ``org_slug is required``) of the token's own organization (403 otherwise) and a free
name (409 ``app name already taken``). ``POST /apps/{app}/machines`` needs ``config.image``; the
machine is started at once (its answer says ``created``, as Fly's does). ``DELETE …/machines/{id}``
refuses a started machine without ``force=true`` (412, as Fly does); a destroyed or unknown machine
is 404. ``GET …/machines/{id}/wait?state=S&timeout=T`` answers when the machine reaches ``S``
(default ``started``), else 408 after ``T`` seconds (default 60).

Anthropic (point ``settings.tasks.anthropic_api_url`` at ``fake_anthropic.url``): ``GET /v1/models``
answers 200 for a key added with ``add_key`` sent as ``x-api-key`` together with an
``anthropic-version`` header, 401 ``authentication_error`` otherwise; ``fail_next(500)`` makes the next
requests answer 500.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.served import ReceivedRequest, ServedInThread

__all__ = ["FakeAnthropic", "FakeFly", "FlyMachine", "ReceivedRequest", "fake_anthropic", "fake_fly"]


@dataclass
class FlyToken:
    org_slug: str | None
    apps: list[str]
    can_read_self: bool


@dataclass
class FlyMachine:
    id: str
    app: str
    name: str | None
    image: str
    env: dict[str, str]
    guest: dict[str, Any]
    config: dict[str, Any]
    state: str = "started"


@dataclass
class _Scripted:
    path_substring: str
    status: int
    body: Any
    method: str | None
    times: int


@dataclass
class _FlyState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)
    tokens: dict[str, FlyToken] = field(default_factory=dict)
    apps: dict[str, str | None] = field(default_factory=dict)        # name → org slug
    taken: set[str] = field(default_factory=set)                     # names other accounts hold
    machines: dict[str, FlyMachine] = field(default_factory=dict)
    requests: list[ReceivedRequest] = field(default_factory=list)
    script: list[_Scripted] = field(default_factory=list)
    holds: list[tuple[str, str | None, threading.Event]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _recorded(request: Request, requests: list[ReceivedRequest], lock: threading.Lock) -> Any:
    raw = await request.body()
    try:
        body = await request.json() if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    with lock:
        requests.append(ReceivedRequest(request.method, request.url.path, dict(request.query_params),
                                        {k.lower(): v for k, v in request.headers.items()}, body))
    return body


def _take_scripted(script: list[_Scripted], request: Request) -> Response | None:
    for scripted in script:
        if scripted.path_substring in request.url.path and scripted.method in (None, request.method):
            scripted.times -= 1
            if scripted.times <= 0:
                script.remove(scripted)
            body = scripted.body if scripted.body is not None else {"error": HTTPStatus(scripted.status).phrase}
            return JSONResponse(body, status_code=scripted.status)
    return None


class FakeFly(ServedInThread):
    """The fake Fly Machines API; start/stop with ``with`` (or use the ``fake_fly`` fixture)."""

    label = "fake fly"

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._state = _FlyState()

    # --- arranging the world ---

    def add_token(self, token: str, *, org_slug: str | None = None, apps: Iterable[str] = (),
                  can_read_self: bool = True) -> str:
        """A token of ``org_slug`` (reaches its apps, creates apps in it) and/or scoped to ``apps``;
        ``can_read_self=False``: ``GET /tokens/current`` answers 403."""
        with self._state.lock:
            self._state.tokens[token] = FlyToken(org_slug, list(apps), can_read_self)
        return token

    def add_app(self, name: str, org_slug: str | None = "personal") -> None:
        with self._state.lock:
            self._state.apps[name] = org_slug

    def take_name(self, name: str) -> None:
        """An app of another account: invisible to every token here, and ``POST /apps`` answers 409."""
        with self._state.lock:
            self._state.taken.add(name)

    def fail_next(self, path_substring: str, status: int, body: Any = None, *, method: str | None = None,
                  times: int = 1) -> None:
        """The next ``times`` requests whose path contains ``path_substring`` (and of ``method``) answer
        ``status`` with ``body`` (default ``{"error": <reason>}``), after the token check."""
        with self._state.lock:
            self._state.script.append(_Scripted(path_substring, status, body, method.upper() if method else None,
                                                times))

    def hold_next(self, path_substring: str, *, method: str | None = None) -> threading.Event:
        """The next matching request waits (after the token check, at most 60 s) until the returned event
        is set, then is answered as usual: a slow Fly, to act while Capstan waits for it."""
        release = threading.Event()
        with self._state.lock:
            self._state.holds.append((path_substring, method.upper() if method else None, release))
        return release

    def set_machine_state(self, machine_id: str, state: str) -> None:
        """The machine changes state by itself (``stopped`` when its process exits)."""
        with self._state.changed:
            self._state.machines[machine_id].state = state
            self._state.changed.notify_all()

    # --- what tests read ---

    @property
    def apps(self) -> dict[str, str | None]:
        """App name → org slug."""
        with self._state.lock:
            return dict(self._state.apps)

    def machines(self, app: str | None = None) -> list[FlyMachine]:
        """The machines created (destroyed ones included, ``state == "destroyed"``), oldest first."""
        with self._state.lock:
            return [copy.deepcopy(m) for m in self._state.machines.values() if app is None or m.app == app]

    def machine(self, machine_id: str) -> FlyMachine:
        with self._state.lock:
            return copy.deepcopy(self._state.machines[machine_id])

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._state.lock:
            return copy.deepcopy(self._state.requests)

    def requests_to(self, path_substring: str, method: str | None = None) -> list[ReceivedRequest]:
        return [r for r in self.requests if path_substring in r.path and (method is None or r.method == method)]

    def wait_for_request(self, path_substring: str, method: str | None = None, timeout: float = 60.0) -> None:
        """Block until a matching request has arrived (held ones included)."""
        def arrived() -> bool:
            return any(path_substring in r.path and method in (None, r.method) for r in self._state.requests)

        with self._state.changed:
            if not self._state.changed.wait_for(arrived, timeout):
                raise TimeoutError(f"no {method or ''} request to {path_substring} within {timeout} s")

    def wait_for_machine(self, app: str, timeout: float = 60.0) -> FlyMachine:
        """Block until ``app`` has a machine (the first one), for tests driving a run from another thread."""
        with self._state.changed:
            if not self._state.changed.wait_for(
                    lambda: any(m.app == app for m in self._state.machines.values()), timeout):
                raise TimeoutError(f"no machine was created in {app} within {timeout} s")
            return copy.deepcopy(next(m for m in self._state.machines.values() if m.app == app))

    def wait_for_state(self, machine_id: str, state: str, timeout: float = 60.0) -> FlyMachine:
        with self._state.changed:
            if not self._state.changed.wait_for(lambda: self._state.machines[machine_id].state == state, timeout):
                raise TimeoutError(f"machine {machine_id} did not reach {state} within {timeout} s")
            return copy.deepcopy(self._state.machines[machine_id])

    # --- the server ---

    def asgi(self) -> Any:
        routes = [
            Route("/tokens/current", self._tokens_current, methods=["GET"]),
            Route("/apps", self._create_app, methods=["POST"]),
            Route("/apps/{app}", self._get_app, methods=["GET"]),
            Route("/apps/{app}/machines", self._create_machine, methods=["POST"]),
            Route("/apps/{app}/machines", self._list_machines, methods=["GET"]),
            Route("/apps/{app}/machines/{machine}", self._get_machine, methods=["GET"]),
            Route("/apps/{app}/machines/{machine}", self._destroy_machine, methods=["DELETE"]),
            Route("/apps/{app}/machines/{machine}/wait", self._wait_machine, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    async def _frame(self, request: Request) -> tuple[FlyToken | None, Any, Response | None]:
        """Record, authenticate, script: (the token, the body, an answer that ends the request)."""
        state = self._state
        body = await _recorded(request, state.requests, state.lock)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        with state.changed:
            state.changed.notify_all()
            token = state.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                return None, body, _error(401, "unauthorized")
            hold = next((h for h in state.holds if h[0] in request.url.path and h[1] in (None, request.method)), None)
            if hold is not None:
                state.holds.remove(hold)
        if hold is not None:
            await asyncio.to_thread(hold[2].wait, 60)
        with state.lock:
            scripted = _take_scripted(state.script, request)
        return copy.deepcopy(token), body, scripted

    def _app_refusal(self, token: FlyToken, app: str) -> Response | None:
        """None when the token reaches the existing ``app``; else Fly's 404 or 403."""
        with self._state.lock:
            if app not in self._state.apps:
                return _error(404, "app not found")
            reaches = app in token.apps or (token.org_slug is not None and self._state.apps[app] == token.org_slug)
        return None if reaches else _error(403, f"token does not have access to app {app}")

    async def _tokens_current(self, request: Request) -> Response:
        token, _, answer = await self._frame(request)
        if answer is not None or token is None:
            return answer  # type: ignore[return-value]
        if not token.can_read_self:
            return _error(403, "token lacks the scope to read its own permissions")
        return JSONResponse({"tokens": [{"apps": list(token.apps), "org_slug": token.org_slug}]})

    async def _create_app(self, request: Request) -> Response:
        token, body, answer = await self._frame(request)
        if answer is not None or token is None:
            return answer  # type: ignore[return-value]
        if not isinstance(body, dict) or not isinstance(body.get("app_name"), str) or not body["app_name"]:
            return _error(400, "app_name is required")
        if not isinstance(body.get("org_slug"), str) or not body["org_slug"]:
            return _error(400, "org_slug is required")
        if token.org_slug is None or body["org_slug"] != token.org_slug:
            return _error(403, f"token does not have access to organization {body['org_slug']}")
        name = body["app_name"]
        with self._state.changed:
            if name in self._state.apps or name in self._state.taken:
                return _error(409, "app name already taken")
            self._state.apps[name] = body["org_slug"]
            self._state.changed.notify_all()
        return JSONResponse({"id": name, "created_at": 0}, status_code=201)

    async def _get_app(self, request: Request) -> Response:
        token, _, answer = await self._frame(request)
        if answer is not None or token is None:
            return answer  # type: ignore[return-value]
        app = request.path_params["app"]
        if (refusal := self._app_refusal(token, app)) is not None:
            return refusal
        return JSONResponse({"name": app, "organization": {"slug": self.apps[app]}, "status": "deployed"})

    async def _list_machines(self, request: Request) -> Response:
        """The app's machines that are not destroyed, as Fly lists them."""
        token, _, answer = await self._frame(request)
        if answer is not None or token is None:
            return answer  # type: ignore[return-value]
        app = request.path_params["app"]
        if (refusal := self._app_refusal(token, app)) is not None:
            return refusal
        with self._state.lock:
            listed = [{"id": m.id, "name": m.name, "state": m.state} for m in self._state.machines.values()
                      if m.app == app and m.state != "destroyed"]
        return JSONResponse(listed)

    async def _create_machine(self, request: Request) -> Response:
        token, body, answer = await self._frame(request)
        if answer is not None or token is None:
            return answer  # type: ignore[return-value]
        app = request.path_params["app"]
        if (refusal := self._app_refusal(token, app)) is not None:
            return refusal
        config = body.get("config") if isinstance(body, dict) else None
        if not isinstance(config, dict) or not isinstance(config.get("image"), str) or not config["image"]:
            return _error(400, "config.image is required")
        env = config.get("env") or {}
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            return _error(400, "config.env must map names to strings")
        machine = FlyMachine(id=secrets.token_hex(7), app=app, name=body.get("name"), image=config["image"],
                             env=dict(env), guest=dict(config.get("guest") or {}), config=copy.deepcopy(config))
        with self._state.changed:
            self._state.machines[machine.id] = machine
            self._state.changed.notify_all()
        return JSONResponse({"id": machine.id, "name": machine.name, "state": "created", "region": "ams",
                             "instance_id": secrets.token_hex(8).upper(), "config": config})

    def _machine_of(self, token: FlyToken, request: Request) -> tuple[FlyMachine | None, Response | None]:
        app, machine_id = request.path_params["app"], request.path_params["machine"]
        if (refusal := self._app_refusal(token, app)) is not None:
            return None, refusal
        with self._state.lock:
            machine = self._state.machines.get(machine_id)
            if machine is None or machine.app != app:
                return None, _error(404, "machine not found")
            return machine, None

    async def _get_machine(self, request: Request) -> Response:
        token, _, answer = await self._frame(request)
        if answer is not None or token is None:
            return answer  # type: ignore[return-value]
        machine, refusal = self._machine_of(token, request)
        if machine is None:
            return refusal  # type: ignore[return-value]
        with self._state.lock:
            return JSONResponse({"id": machine.id, "name": machine.name, "state": machine.state,
                                 "config": machine.config})

    async def _destroy_machine(self, request: Request) -> Response:
        token, _, answer = await self._frame(request)
        if answer is not None or token is None:
            return answer  # type: ignore[return-value]
        machine, refusal = self._machine_of(token, request)
        if machine is None:
            return refusal  # type: ignore[return-value]
        with self._state.changed:
            if machine.state == "destroyed":
                return _error(404, "machine not found")
            if machine.state in ("started", "starting") and request.query_params.get("force") != "true":
                return _error(412, "failed_precondition: unable to destroy machine, not currently stopped")
            machine.state = "destroyed"
            self._state.changed.notify_all()
        return JSONResponse({"ok": True})

    async def _wait_machine(self, request: Request) -> Response:
        token, _, answer = await self._frame(request)
        if answer is not None or token is None:
            return answer  # type: ignore[return-value]
        machine, refusal = self._machine_of(token, request)
        if machine is None:
            return refusal  # type: ignore[return-value]
        wanted = request.query_params.get("state", "started")
        try:
            timeout = float(request.query_params.get("timeout", "60"))
        except ValueError:
            return _error(400, "timeout must be a number of seconds")

        def reached() -> bool:
            with self._state.changed:
                return self._state.changed.wait_for(lambda: machine.state == wanted, timeout)

        if not await asyncio.to_thread(reached):
            return _error(408, f"machine did not reach state {wanted} in time")
        return JSONResponse({"ok": True})


class FakeAnthropic(ServedInThread):
    """The fake Anthropic API (only ``GET /v1/models``); start/stop with ``with`` (or ``fake_anthropic``)."""

    label = "fake anthropic"

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        self._requests: list[ReceivedRequest] = []
        self._script: list[_Scripted] = []

    def add_key(self, key: str) -> str:
        with self._lock:
            self._keys.add(key)
        return key

    def fail_next(self, status: int = 500, body: Any = None, *, times: int = 1) -> None:
        """The next ``times`` requests answer ``status`` whatever the key."""
        with self._lock:
            self._script.append(_Scripted("", status, body if body is not None else {
                "type": "error", "error": {"type": "api_error", "message": "Internal server error"}}, None, times))

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return copy.deepcopy(self._requests)

    def asgi(self) -> Any:
        return Starlette(routes=[Route("/v1/models", self._models, methods=["GET"])])

    async def _models(self, request: Request) -> Response:
        await _recorded(request, self._requests, self._lock)
        with self._lock:
            if (scripted := _take_scripted(self._script, request)) is not None:
                return scripted
            known = request.headers.get("x-api-key") in self._keys
        if not known or not request.headers.get("anthropic-version"):
            return JSONResponse({"type": "error", "error": {"type": "authentication_error",
                                                            "message": "invalid x-api-key"}}, status_code=401)
        return JSONResponse({"data": [{"type": "model", "id": "claude-sonnet-4-20250514",
                                       "display_name": "Claude Sonnet 4", "created_at": "2025-05-22T00:00:00Z"}],
                             "has_more": False, "first_id": "claude-sonnet-4-20250514",
                             "last_id": "claude-sonnet-4-20250514"})


@pytest.fixture
def fake_fly() -> Iterator[FakeFly]:
    """A fresh, started fake Fly Machines API for one test."""
    with FakeFly() as fly:
        yield fly


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A fresh, started fake Anthropic API for one test."""
    with FakeAnthropic() as anthropic:
        yield anthropic
