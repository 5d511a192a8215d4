"""A fake accounting system speaking real HTTP: what ``AccountingSyncWorkflow``'s call reaches.

``POST /sync`` records the request (headers lower-case, JSON body) and answers what the test scripted, else
``{"payments": <payments>}`` with the payments set by ``pay(...)``::

    accounting.pay({"externalId": "x1", "invoiceId": inv, "amount": 100, ...})
    accounting.script(Reply(503), Reply(503))      # the next two calls answer 503, then the default
    accounting.script(Reply(200, body=b'{"nope": 1}'))
    accounting.script(Reply(200, hold=True))       # never answers within the call's timeout
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.served import ReceivedRequest, ServedInThread


@dataclass(frozen=True)
class Reply:
    status: int = 200
    #: The body; ``None``: ``{"payments": [...]}`` for a 2xx, ``{"error": …}`` otherwise.
    body: bytes | None = None
    #: Wait this long before answering.
    delay: float = 0.0


class FakeAccounting(ServedInThread):
    label = "fake accounting system"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[ReceivedRequest] = []
        self.payments: list[dict[str, Any]] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()

    def pay(self, *payments: dict[str, Any]) -> None:
        with self._lock:
            self.payments.extend(payments)

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def calls(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self.received)

    async def _sync(self, request: Request) -> Response:
        raw = await request.body()
        with self._lock:
            self.received.append(ReceivedRequest(request.method, request.url.path, dict(request.query_params),
                                                 {k.lower(): v for k, v in request.headers.items()},
                                                 json.loads(raw) if raw else None))
            reply = self._replies.popleft() if self._replies else Reply()
            payments = list(self.payments)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.body is not None:
            content = reply.body
        elif 200 <= reply.status < 300:
            content = json.dumps({"payments": payments}).encode()
        else:
            content = json.dumps({"error": f"scripted {reply.status}"}).encode()
        return Response(content, status_code=reply.status, media_type="application/json")

    def asgi(self) -> Starlette:
        return Starlette(routes=[Route("/sync", self._sync, methods=["POST"])])
