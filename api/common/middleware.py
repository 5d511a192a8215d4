"""The request guard: one pure ASGI middleware in front of every route.

It gives each request an id (``x-correlation-id``, else ``X-Request-ID``: accepted or
generated, echoed back and set on every log line), and before any route runs:

1. refuses a URL that is not UTF-8 once percent-decoded or holds a NUL, and NUL in headers (400);
2. runs the path's gate (``api.common.gates``): credentials are checked before the body is read (401);
3. refuses oversize bodies (413) and any JSON body the strict reader refuses (400 with the
   JSON path, ``capstan.strict_json``). FastAPI parses the body again with ``json.loads``; the
   strict reader accepts a subset of what that accepts and returns the same value for it, and
   it reads every body FastAPI would parse as JSON, so the two cannot disagree.

Before answering 413 it reads and discards the rest of the body, as nginx's lingering close
does, so a client that writes its whole body before it reads (Python's ``urllib``) gets the 413
rather than a reset connection: at most ``DISCARD_MAX_BYTES`` for at most
``DISCARD_MAX_SECONDS``; past either bound the server answers and closes the connection.

An exception no handler turned into a response is answered here with a 500 in the one error
shape carrying the request id, and logged once with its traceback under that id; the
connection stays usable. It records every request in Prometheus metrics by route template.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote_to_bytes

from opentelemetry.trace import SpanKind, Tracer
from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.common.auth import PRINCIPAL_SCOPE_KEY
from api.common.errors import ApiError, BadRequest, PayloadTooLarge, error_body
from api.common.gates import BearerToken, GateTable
from capstan.logs import request_id_var
from capstan.strict_json import JsonRejected, read_json

log = logging.getLogger("capstan.api.requests")

REQUESTS = Counter("capstan_http_requests_total", "HTTP requests by route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("capstan_http_request_duration_seconds", "HTTP request latency by route template",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

#: An offered request or correlation id: printable ASCII without spaces, at most 128 characters (safe in a log line).
REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

#: How much of a refused body is read and thrown away before the 413, and for how long. A body
#: that announces more than this is not read at all; past either bound the connection is closed.
DISCARD_MAX_BYTES = 16 * 1024 * 1024
DISCARD_MAX_SECONDS = 10.0


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, tracer: Tracer | None = None,
                 gates: GateTable | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.tracer = tracer
        self.gates = gates or GateTable(default=BearerToken())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The client's correlation id before a request id a proxy in front may have added; an invalid one is
        # replaced (and refused where the surface's gate says so: /api/v1).
        offered = [_header(scope, b"x-correlation-id"), _header(scope, b"x-request-id")]
        request_id = next((value for value in offered if value and REQUEST_ID.match(value)), None) \
            or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                headers = list(message.get("headers", []))
                headers += [(b"x-request-id", request_id.encode()), (b"x-correlation-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        span_scope = self.tracer.start_as_current_span(f"{scope['method']} {scope['path']}", kind=SpanKind.SERVER) \
            if self.tracer else contextlib.nullcontext()
        with span_scope as span:
            try:
                try:
                    receive = await self._guard(scope, receive)
                except ApiError as refusal:
                    await _send_error(send_with_id, refusal.status_code, refusal.detail, refusal.code,
                                      refusal.headers, refusal.extra)
                else:
                    await self.app(scope, receive, send_with_id)
            except Exception as exc:  # what no exception handler answered: one log record, one 500
                log.exception("unhandled error answering %s %s", scope["method"], scope["path"],
                              extra={"request_id": request_id})
                if span is not None:
                    span.record_exception(exc)
                if not response_started:  # else the server ends the cut-short response's connection
                    await _send_error(send_with_id, 500, "internal server error", "internal_error")
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                if span is not None:
                    span.update_name(f"{scope['method']} {template}")
                    span.set_attributes({"http.request.method": scope["method"], "http.route": template,
                                         "http.response.status_code": status, "capstan.request_id": request_id})
                self._observe(scope, template, status, started)
                request_id_var.reset(token)

    @staticmethod
    def _observe(scope: Scope, template: str, status: int, started: float) -> None:
        """Metrics by route template, and the request's one log line."""
        elapsed = time.perf_counter() - started
        REQUESTS.labels(scope["method"], template, str(status)).inc()
        LATENCY.labels(scope["method"], template).observe(elapsed)
        log.info("%s %s -> %s in %.1fms", scope["method"], scope["path"], status, elapsed * 1000)

    async def _guard(self, scope: Scope, receive: Receive) -> Receive:
        _check_url(scope)
        if any(b"\x00" in value for _, value in scope["headers"]):
            raise BadRequest("NUL bytes are not allowed in headers", code="nul_byte")
        gate = self.gates.gate_for(scope["path"])
        principal = gate.check(Request(scope))
        if inspect.isawaitable(principal):  # a gate that fetches (JWKS keys) checks asynchronously
            principal = await principal
        if principal is not None:
            scope[PRINCIPAL_SCOPE_KEY] = principal
        if scope["method"] not in _BODY_METHODS:
            return receive
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            if _header(scope, b"expect") != "100-continue":  # else the client waits for our answer to send it
                await _discard_body(receive, int(declared))
            raise PayloadTooLarge(f"request body exceeds {self.max_body_bytes} bytes")
        body = await self._read_body(receive)
        if (verify_body := getattr(gate, "verify_body", None)) is not None:
            verify_body(Request(scope), body)
        if body and _parsed_as_json(_header(scope, b"content-type")):
            try:
                read_json(body)
            except JsonRejected as rejected:
                raise BadRequest(rejected.detail, code=rejected.code, extra={"fields": [
                    {"field": rejected.path, "message": rejected.message, "type": rejected.code}]}) from None
        elif b"\x00" in body:
            raise BadRequest("NUL bytes are not allowed in the body", code="nul_byte")
        return _replay(body, receive)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequest("client disconnected", code="disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                if message.get("more_body", False):
                    await _discard_body(receive)
                raise PayloadTooLarge(f"request body exceeds {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _discard_body(receive: Receive, announced: int | None = None) -> None:
    """Read and drop what is left of a refused body, within the discard bounds."""
    if announced is not None and announced > DISCARD_MAX_BYTES:
        return
    discarded = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DISCARD_MAX_SECONDS):
            while discarded <= DISCARD_MAX_BYTES:
                message = await receive()
                discarded += len(message.get("body", b""))
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return


def _check_url(scope: Scope) -> None:
    """The path and query, percent-decoded, are UTF-8 without NUL: what routes and logs receive
    is what the client sent, never U+FFFD replacements or surrogates."""
    raw_path = scope.get("raw_path")
    parts = {"path": unquote_to_bytes(raw_path) if raw_path is not None else scope["path"].encode(),
             "query string": unquote_to_bytes(scope.get("query_string", b""))}
    for where, decoded in parts.items():
        if b"\x00" in decoded:
            raise BadRequest("NUL bytes are not allowed in the URL", code="nul_byte")
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the {where} is not UTF-8 once percent-decoded (byte {exc.start})",
                             code="invalid_unicode") from None


def _parsed_as_json(content_type: str | None) -> bool:
    """Every body FastAPI parses as JSON (no content type, ``application/json``, ``application/*+json``)
    and more: anything naming JSON."""
    return not content_type or "json" in content_type.lower()


async def _send_error(send: Send, status: int, detail: str, code: str | None,
                      headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
    body = json.dumps(error_body(status, detail, code, **(extra or {}))).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the already-read body to the app once, then pass through (disconnect notices)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
