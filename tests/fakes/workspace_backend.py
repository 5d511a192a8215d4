"""A fake HTTP workspace backend speaking real HTTP: the reference backend's routes over in-memory events and runs.

Routes::

    POST {url}/events                   store the event, one queued run per new event (202 accepted);
                                        a known event id answers duplicate with its runs, matched 0
    POST {url}/events/{id}/replay       one new run for a known event (202 accepted), 404 for an unknown one
    GET  {url}/runs?eventId=&status=&limit=    {eventId?, runs}   (newest first)
    GET  {url}/runs/{id}                {run} or 404 {"error": "run not found"}
    GET  {url}/events?type=&limit=      {events}                  (newest first)
    GET  {url}/events/{id}              {event, runs} or 404 {"error": "event not found"}

Usage::

    with FakeWorkspaceBackend(secret="s3cret") as backend:     # or the ``fake_workspace_backend`` fixture
        ...                                                      # point the client at backend.url
        backend.set_run_result("run-1", "completed", {"status": "changed", "message": "rebased"})
        backend.fail_next(500)                                   # the next call answers 500
        backend.requests[-1].headers["x-flow-signature-256"]

With a secret, a POST whose ``x-flow-signature-256`` (or ``x-patch-flow-signature-256``) is not the HMAC-SHA256
of its body answers 401 ``{"error": "invalid signature"}``. Ids arrive percent-encoded as one path segment.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from models.maintenance.timestamps import now_iso
from tests.fakes.served import ServedInThread

SIGNATURE_HEADERS = ("x-flow-signature-256", "x-patch-flow-signature-256")


@dataclass
class ReceivedRequest:
    method: str
    path: str                    # as sent, still percent-encoded
    query: dict[str, str]
    headers: dict[str, str]      # lower-case names
    body: bytes


@dataclass
class _State:
    secret: str | None
    events: dict[str, dict] = field(default_factory=dict)        # insertion order = arrival order
    runs: dict[str, dict] = field(default_factory=dict)
    requests: list[ReceivedRequest] = field(default_factory=list)
    scripted: list[Response] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _json(status: int, body: Any) -> Response:
    return JSONResponse(body, status_code=status)


def _id_segment(request: Request) -> str:
    """The id segment after ``/events/`` or ``/runs/``, percent-decoded from the path as sent."""
    segments = request.scope["raw_path"].decode().split("/")
    return unquote(segments[2])


def _limit(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


class _BackendApp:
    def __init__(self, state: _State) -> None:
        self.state = state

    def asgi(self) -> Starlette:
        return Starlette(routes=[
            Route("/events", self.events, methods=["GET", "POST"]),
            # ``:path``: the id may hold an encoded ``/``, which the server has decoded before routing.
            Route("/events/{event_id:path}/replay", self.replay, methods=["POST"]),
            Route("/events/{event_id:path}", self.read_event, methods=["GET"]),
            Route("/runs", self.list_runs, methods=["GET"]),
            Route("/runs/{run_id:path}", self.read_run, methods=["GET"]),
        ])

    async def _receive(self, request: Request) -> tuple[bytes, Response | None]:
        """Record the request; answer a scripted failure or a bad signature, if due."""
        body = await request.body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self.state.lock:
            self.state.requests.append(ReceivedRequest(
                method=request.method, path=request.scope["raw_path"].decode(), query=dict(request.query_params),
                headers=headers, body=body))
            scripted = self.state.scripted.pop(0) if self.state.scripted else None
            delay = self.state.delays.pop(0) if self.state.delays else 0.0
            secret = self.state.secret
        if delay:
            await asyncio.sleep(delay)
        if scripted is not None:
            return body, scripted
        if request.method == "POST" and secret:
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            sent = [headers[name] for name in SIGNATURE_HEADERS if name in headers]
            if not any(hmac.compare_digest(expected, value) for value in sent):
                return body, _json(401, {"error": "invalid signature"})
        return body, None

    def _new_run(self, event: dict) -> dict:
        """A queued run of ``event`` (call with the lock held)."""
        run_id = f"run-{len(self.state.runs) + 1}"
        run = {"id": run_id, "eventId": event["id"], "flowName": "fake-flow", "stepName": "run",
               "status": "queued", "backend": "fake", "executor": "fake",
               "eventPath": f"/tmp/fake-backend/events/{run_id}.json", "createdAt": now_iso()}
        self.state.runs[run_id] = run
        return run

    def _runs_of(self, event_id: str) -> list[dict]:
        return [dict(run) for run in self.state.runs.values() if run["eventId"] == event_id]

    async def events(self, request: Request) -> Response:
        body, refused = await self._receive(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            wanted_type, limit = request.query_params.get("type"), _limit(request.query_params.get("limit"))
            with self.state.lock:
                found = [dict(event) for event in reversed(self.state.events.values())
                         if wanted_type in (None, "", event.get("type"))]
            return _json(200, {"events": found[:limit]})
        try:
            event = json.loads(body)
        except ValueError:
            return _json(400, {"error": "invalid json"})
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
            return _json(400, {"error": "event id is required"})
        with self.state.lock:
            if event["id"] in self.state.events:
                run_ids = [run["id"] for run in self._runs_of(event["id"])]
                return _json(202, {"status": "duplicate", "eventId": event["id"], "runIds": run_ids, "matched": 0})
            self.state.events[event["id"]] = event
            run = self._new_run(event)
        return _json(202, {"status": "accepted", "eventId": event["id"], "runIds": [run["id"]], "matched": 1})

    async def replay(self, request: Request) -> Response:
        _, refused = await self._receive(request)
        if refused is not None:
            return refused
        event_id = _id_segment(request)
        with self.state.lock:
            event = self.state.events.get(event_id)
            if event is None:
                return _json(404, {"error": "event not found"})
            run = self._new_run(event)
        return _json(202, {"status": "accepted", "eventId": event_id, "runIds": [run["id"]], "matched": 1})

    async def read_event(self, request: Request) -> Response:
        _, refused = await self._receive(request)
        if refused is not None:
            return refused
        event_id = _id_segment(request)
        with self.state.lock:
            event = self.state.events.get(event_id)
            if event is None:
                return _json(404, {"error": "event not found"})
            return _json(200, {"event": dict(event), "runs": self._runs_of(event_id)})

    async def list_runs(self, request: Request) -> Response:
        _, refused = await self._receive(request)
        if refused is not None:
            return refused
        query = request.query_params
        event_id, status, limit = query.get("eventId"), query.get("status"), _limit(query.get("limit"))
        with self.state.lock:
            found = [dict(run) for run in reversed(self.state.runs.values())
                     if event_id in (None, "", run["eventId"]) and status in (None, "", run["status"])]
        answer: dict[str, Any] = {"runs": found[:limit]}
        if event_id:
            answer = {"eventId": event_id, **answer}
        return _json(200, answer)

    async def read_run(self, request: Request) -> Response:
        _, refused = await self._receive(request)
        if refused is not None:
            return refused
        with self.state.lock:
            run = self.state.runs.get(_id_segment(request))
            if run is None:
                return _json(404, {"error": "run not found"})
            return _json(200, {"run": dict(run)})


class FakeWorkspaceBackend(ServedInThread):
    """The fake backend server: start/stop with ``with``; ``.url``, ``.requests``, ``.events``, ``.runs``."""

    label = "fake workspace backend"

    def __init__(self, secret: str | None = None, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._state = _State(secret=secret)

    def asgi(self) -> Starlette:
        return _BackendApp(self._state).asgi()

    # --- what tests read and steer ---

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def events(self) -> dict[str, dict]:
        with self._state.lock:
            return {event_id: dict(event) for event_id, event in self._state.events.items()}

    @property
    def runs(self) -> dict[str, dict]:
        with self._state.lock:
            return {run_id: dict(run) for run_id, run in self._state.runs.items()}

    def set_secret(self, secret: str | None) -> None:
        with self._state.lock:
            self._state.secret = secret

    def fail_next(self, status: int, times: int = 1) -> None:
        """The next ``times`` calls answer ``status`` with ``{"error": reason}``."""
        with self._state.lock:
            self._state.scripted += [_json(status, {"error": HTTPStatus(status).phrase}) for _ in range(times)]

    def answer_next_with_text(self, status: int, text: str) -> None:
        """The next call answers ``status`` with a ``text/plain`` body (a backend that is not one)."""
        with self._state.lock:
            self._state.scripted.append(PlainTextResponse(text, status_code=status))

    def delay_next(self, seconds: float) -> None:
        """The next call waits ``seconds`` before it answers (a backend that hangs)."""
        with self._state.lock:
            self._state.delays.append(seconds)

    def set_run_result(self, run_id: str, status: str, result: dict | None = None, *,
                       error: str | None = None) -> None:
        """Finish a run as the backend would: process ``status``, ``resultJson`` (a JSON string), completedAt."""
        with self._state.lock:
            run = self._state.runs[run_id]
            run["status"] = status
            run.setdefault("startedAt", run["createdAt"])
            run["completedAt"] = now_iso()
            if result is not None:
                run["resultJson"] = json.dumps(result)
            if error is not None:
                run["error"] = error

    def set_run_status(self, run_id: str, status: str) -> None:
        """Move a run along without finishing it (``running``)."""
        with self._state.lock:
            run = self._state.runs[run_id]
            run["status"] = status
            run.setdefault("startedAt", now_iso())


@pytest.fixture
def fake_workspace_backend() -> Iterator[FakeWorkspaceBackend]:
    """A fresh fake workspace backend (no secret) for one test; ``set_secret`` to require signatures."""
    with FakeWorkspaceBackend() as backend:
        yield backend
