"""A fake notification adapter speaking real HTTP: it records every POST (raw body and headers) and answers
as a test tells it.

Usage::

    with FakeNotificationReceiver() as receiver:       # or the ``notification_receiver`` fixture
        receiver.hook_url                                # the adapter URL to put in the workspace settings
        receiver.fail_next(2, status=503)                # the next two POSTs answer 503
        receiver.answer_slowly(3.0)                      # the one after answers 200, after 3 s
        receiver.stop(); receiver.start()                # down (connection refused), then back on its port
        receiver.received[-1].headers["x-capstan-signature"]
        receiver.signed_by("secret", receiver.received[-1])

Every POST is recorded, failed ones too; ``delivered`` holds those answered 2xx.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.served import ServedInThread


@dataclass(frozen=True)
class Notification:
    headers: dict[str, str]   # lower-case names
    body: bytes               # as sent (what the signature signs)
    status: int               # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class FakeNotificationReceiver(ServedInThread):
    label = "fake notification receiver"

    def __init__(self) -> None:
        super().__init__()
        self.hook_url = f"{self.url}/hook"
        self._lock = threading.Lock()
        self._received: list[Notification] = []
        #: What the next POSTs answer, in order: (status, seconds before answering); then 200 at once.
        self._script: list[tuple[int, float]] = []

    def asgi(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            status, delay = self._script.pop(0) if self._script else (200, 0.0)
        if delay:
            await asyncio.sleep(delay)
        with self._lock:
            self._received.append(Notification({k.lower(): v for k, v in request.headers.items()}, body, status))
        return JSONResponse({"ok": status < 300}, status_code=status)

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._script.extend([(status, 0.0)] * count)

    def answer_slowly(self, seconds: float, count: int = 1) -> None:
        with self._lock:
            self._script.extend([(200, seconds)] * count)

    @property
    def received(self) -> list[Notification]:
        with self._lock:
            return list(self._received)

    @property
    def delivered(self) -> list[Notification]:
        return [n for n in self.received if 200 <= n.status < 300]

    def of_event(self, event_id: str) -> list[Notification]:
        return [n for n in self.received if n.headers.get("x-capstan-delivery") == event_id]

    @staticmethod
    def signed_by(secret: str, notification: Notification) -> bool:
        """The receiver's check: ``x-capstan-signature`` is the HMAC-SHA256 of the raw body."""
        expected = "sha256=" + hmac.new(secret.encode(), notification.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, notification.headers.get("x-capstan-signature", ""))


@pytest.fixture
def notification_receiver() -> Iterator[FakeNotificationReceiver]:
    with FakeNotificationReceiver() as receiver:
        yield receiver
