"""The client of a workspace's notification adapter: one signed ``POST`` of one event.

::

    POST {url}
    content-type: application/json
    x-capstan-event: <topic>
    x-capstan-delivery: <event id, the same on every try>
    x-capstan-signature: sha256=<hex HMAC-SHA256(signing secret, raw body)>   (when the secret is set)
    x-correlation-id: <the event's correlation id>                              (when it has one)

    {"id", "workspaceId", "topic", "subject", "data", "occurredAt", "correlationId"}

A 2xx answer is a delivery; anything else (another status, a refused connection, no answer within the
adapter's ``timeoutSeconds``) is an outcome with its ``error``, never an exception: the caller decides to
retry. The URL is checked before any connection (http or https, a host, no userinfo, at most 2000
characters); redirects are not followed (a 3xx is not a delivery); at most ``MAX_RESPONSE_BYTES`` of the
answer are read, and none of it is kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from integrations.http import caller_headers, outside_client
from models.common.urls import outside_url_problem

#: Enough to see the status; an adapter's answer body is never used.
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_LENGTH = 300


class InvalidNotificationUrl(ValueError):
    """The adapter's URL is not one Capstan posts to; no try can change that."""


def checked_url(url: str) -> str:
    """``url``, when it is one Capstan calls (``models.common.urls``)."""
    if problem := outside_url_problem(url):
        raise InvalidNotificationUrl(f"the notification URL {problem}")
    return url


def notification_body(message: dict[str, Any]) -> bytes:
    """The raw body that is sent and signed: compact JSON, UTF-8."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class NotificationOutcome:
    delivered: bool
    http_status: int | None
    error: str | None
    duration_ms: int


def notification_client() -> httpx.AsyncClient:
    """One client for a batch of notifications (its own connection pool)."""
    return outside_client(follow_redirects=False)


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".rstrip(": ")
    return text[:MAX_ERROR_LENGTH]


async def send_notification(client: httpx.AsyncClient, url: str, body: bytes, *, topic: str, delivery_id: str,
                            secret: str | None, timeout_seconds: float,
                            correlation_id: str | None = None) -> NotificationOutcome:
    """POST ``body`` to ``url`` within ``timeout_seconds`` in all (connect, send, answer)."""
    started = time.monotonic()

    def outcome(delivered: bool, status: int | None, error: str | None) -> NotificationOutcome:
        return NotificationOutcome(delivered, status, error, int((time.monotonic() - started) * 1000))

    try:
        checked_url(url)
    except InvalidNotificationUrl as invalid:
        return outcome(False, None, str(invalid))
    headers = {"content-type": "application/json", "x-capstan-event": topic, "x-capstan-delivery": delivery_id,
               **caller_headers(correlation_id=correlation_id)}
    if secret:
        headers["x-capstan-signature"] = signature(secret, body)
    try:
        async with asyncio.timeout(timeout_seconds):
            async with client.stream("POST", url, content=body, headers=headers,
                                     timeout=httpx.Timeout(timeout_seconds)) as response:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= MAX_RESPONSE_BYTES:
                        break
                status = response.status_code
    except TimeoutError:
        return outcome(False, None, f"no answer within {timeout_seconds:g} s")
    except httpx.TimeoutException:
        return outcome(False, None, f"no answer within {timeout_seconds:g} s")
    except httpx.HTTPError as error:
        return outcome(False, None, _error_text(error))
    if 200 <= status < 300:
        return outcome(True, status, None)
    return outcome(False, status, f"the adapter answered HTTP {status}")
