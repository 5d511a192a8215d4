"""The request guard: one pure ASGI middleware in front of every route.

It gives each request an id (``X-Request-ID``/``x-correlation-id``, accepted or
generated, echoed back and set on every log line), refuses oversize bodies (413)
and malformed JSON or NUL bytes (400) before any route runs, and records the
request in Prometheus metrics by route template.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote_to_bytes

from opentelemetry.trace import SpanKind, Tracer
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from capstan.logs import request_id_var

log = logging.getLogger("capstan.api.requests")

REQUESTS = Counter("capstan_http_requests_total", "HTTP requests by route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("capstan_http_request_duration_seconds", "HTTP request latency by route template",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class RejectRequest(Exception):
    def __init__(self, status: int, detail: str, code: str) -> None:
        self.status, self.detail, self.code = status, detail, code


def contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, tracer: Tracer | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, b"x-request-id") or _header(scope, b"x-correlation-id")
        request_id = offered if offered and _REQUEST_ID.match(offered) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
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
                except RejectRequest as reject:
                    await self._reject(send_with_id, reject)
                else:
                    await self.app(scope, receive, send_with_id)
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
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            raise RejectRequest(400, "NUL bytes are not allowed in the URL", "nul_byte")
        if scope["method"] not in _BODY_METHODS:
            return receive
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise RejectRequest(413, f"request body exceeds {self.max_body_bytes} bytes", "payload_too_large")
        body = await self._read_body(receive)
        content_type = (_header(scope, b"content-type") or "").lower()
        if body and ("json" in content_type or not content_type):
            try:
                parsed = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise RejectRequest(400, f"malformed JSON body: {exc}", "malformed_json") from None
            if contains_nul(parsed):
                raise RejectRequest(400, "NUL bytes are not allowed in strings", "nul_byte")
        elif b"\x00" in body:
            raise RejectRequest(400, "NUL bytes are not allowed in the body", "nul_byte")
        return _replay(body, receive)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RejectRequest(400, "client disconnected", "disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise RejectRequest(413, f"request body exceeds {self.max_body_bytes} bytes", "payload_too_large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _reject(send: Send, reject: RejectRequest) -> None:
        body = json.dumps(error_body(reject.status, reject.detail, reject.code)).encode()
        await send({"type": "http.response.start", "status": reject.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
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
