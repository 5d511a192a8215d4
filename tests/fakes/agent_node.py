"""A fake agent node (AgentField's shape) speaking real HTTP: what ``AgentExecutionWorkflow``'s call reaches.

``POST /reasoners/{reasoner}`` answers what the test scripted for that reasoner (``script``), else by its
name: ``reject`` 400, ``later`` 202, ``hold`` 200 once ``release()`` is called, any other 200 with
``{"echo": <input>}``::

    node.script("later", Answer(202))                 # accepted: the outcome comes by the callback
    node.script("flaky", Answer(503), Answer(503))     # the next two calls answer 503, then the default
    node.script("slow", Answer(200, hold=True))        # answers once node.release() (or never)
    node.script("text", Answer(200, body=b"not json"))
    [call] = node.calls("echo")                        # headers (lower-case) and JSON of what it received

Every request is recorded before it is answered; ``wait_for_calls(n)`` returns once ``n`` arrived.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.served import ReceivedRequest, ServedInThread


@dataclass(frozen=True)
class Answer:
    status: int = 200
    #: The body; ``None``: ``{"echo": <input>}`` for a 2xx but 202, ``{"error": …}`` otherwise.
    body: bytes | None = None
    #: Hold the answer until ``release()`` (the connection stays open).
    hold: bool = False


#: What a reasoner answers by its name when nothing is scripted for it.
BY_NAME = {"reject": Answer(400), "later": Answer(202), "hold": Answer(200, hold=True)}


class FakeAgentNode(ServedInThread):
    label = "fake agent node"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[ReceivedRequest] = []
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._released = threading.Event()

    def script(self, reasoner: str, *answers: Answer) -> None:
        with self._lock:
            self._scripts[reasoner].extend(answers)

    def release(self) -> None:
        self._released.set()

    def calls(self, reasoner: str | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [call for call in self.received if reasoner is None or call.path == f"/reasoners/{reasoner}"]

    def wait_for_calls(self, count: int, timeout: float = 30.0, reasoner: str | None = None) -> list[ReceivedRequest]:
        """Blocks (call it through ``asyncio.to_thread``) until ``count`` calls arrived."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len([c for c in self.received if reasoner is None or c.path == f"/reasoners/{reasoner}"]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.received)} calls arrived, not {count}: {self.received}")
                self._arrived.wait(left)
            return list(self.received)

    async def _reasoner(self, request: Request) -> Response:
        reasoner = request.path_params["reasoner"]
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._arrived:
            self.received.append(ReceivedRequest(request.method, request.url.path, dict(request.query_params),
                                                 {k.lower(): v for k, v in request.headers.items()}, body))
            answer = self._scripts[reasoner].popleft() if self._scripts[reasoner] else BY_NAME.get(reasoner, Answer())
            self._arrived.notify_all()
        if answer.hold:
            while not self._released.is_set():
                await asyncio.sleep(0.05)
        if answer.body is not None:
            content = answer.body
        elif 200 <= answer.status < 300 and answer.status != 202:
            content = json.dumps({"echo": body}).encode()
        else:
            content = json.dumps({"error": f"scripted {answer.status}"}).encode()
        return Response(content, status_code=answer.status, media_type="application/json")

    def asgi(self) -> Starlette:
        return Starlette(routes=[Route("/reasoners/{reasoner}", self._reasoner, methods=["POST"])])
