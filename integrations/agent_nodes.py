"""The HTTP client of agent nodes (AgentField's shape): one call of a reasoner.

``POST {baseUrl}/reasoners/{reasoner}`` with the input JSON and the execution's headers
(``x-execution-id``, ``x-workspace-id``, ``x-correlation-id``, ``x-attempt``, and the workspace's
``agents.token`` as Bearer when set). What the agent answers is classified, never raised:

- 200 (any 2xx but 202) with JSON of at most ``MAX_OUTPUT_BYTES`` → ``output``; not JSON or larger → ``invalid``;
- 202 → ``accepted`` (the agent reports the outcome to the callback webhook later);
- a connection error, 429 or 5xx → ``unavailable`` (the caller tries again);
- any other status → ``rejected``;
- nothing within ``timeout_seconds`` → ``timeout``.

The call heartbeats about every second while it waits (``heartbeat``), so a cancel of the activity that
makes it reaches it and the call is abandoned, and a lost worker is noticed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from integrations.http import caller_headers, outside_client, read_capped
from models.platform_v1.workflow_io import CallOutcome

#: The largest output a 200 may carry (1 MiB).
MAX_OUTPUT_BYTES = 1024 * 1024
HEARTBEAT_SECONDS = 1.0
#: How long to wait for a connection, at most (the whole call is bounded by the reasoner's timeout).
CONNECT_SECONDS = 10.0

Heartbeat = Callable[[str], None]


@dataclass(frozen=True)
class AgentRequest:
    base_url: str
    reasoner: str
    body: bytes
    execution_id: str
    workspace_id: str
    correlation_id: str | None
    attempt: int
    token: str | None
    timeout_seconds: float

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/reasoners/{self.reasoner}"

    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json", "x-execution-id": self.execution_id,
                "x-workspace-id": self.workspace_id, "x-attempt": str(self.attempt),
                **caller_headers(correlation_id=self.correlation_id, token=self.token)}


@dataclass(frozen=True)
class AgentAnswer:
    outcome: CallOutcome
    http_status: int | None = None
    #: The output (``output`` only): JSON bytes as the agent sent them.
    body: bytes | None = None
    error: str | None = None


async def _send(client: httpx.AsyncClient, request: AgentRequest) -> AgentAnswer:
    try:
        async with client.stream("POST", request.url, content=request.body, headers=request.headers()) as response:
            status = response.status_code
            if status == 202:
                return AgentAnswer(CallOutcome.ACCEPTED, status)
            if status == 429 or status >= 500:
                return AgentAnswer(CallOutcome.UNAVAILABLE, status, error=f"HTTP {status}")
            if not 200 <= status < 300:
                return AgentAnswer(CallOutcome.REJECTED, status, error=f"HTTP {status}")
            body = await read_capped(response, MAX_OUTPUT_BYTES)
    except httpx.HTTPError as error:
        return AgentAnswer(CallOutcome.UNAVAILABLE, error=f"{type(error).__name__}: cannot reach {request.url}")
    if body is None:
        return AgentAnswer(CallOutcome.INVALID, status, error=f"the answer is over {MAX_OUTPUT_BYTES} bytes")
    try:
        json.loads(body)
    except ValueError:
        return AgentAnswer(CallOutcome.INVALID, status, error="the answer is not JSON")
    return AgentAnswer(CallOutcome.OUTPUT, status, body=body)


async def call_reasoner(client: httpx.AsyncClient, request: AgentRequest, heartbeat: Heartbeat) -> AgentAnswer:
    """One call, heartbeating while it waits; ``timeout`` after ``request.timeout_seconds``."""
    started = time.monotonic()
    call = asyncio.ensure_future(_send(client, request))
    try:
        while True:
            left = request.timeout_seconds - (time.monotonic() - started)
            if left <= 0:
                return AgentAnswer(CallOutcome.TIMEOUT,
                                   error=f"no answer within the reasoner's timeout of {request.timeout_seconds:g}s")
            done, _ = await asyncio.wait({call}, timeout=min(HEARTBEAT_SECONDS, left))
            if done:
                return call.result()
            heartbeat(f"calling {request.url} (attempt {request.attempt})")
    finally:
        if not call.done():
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)


def agent_http_client() -> httpx.AsyncClient:
    """A client for agent nodes: no redirects followed, connect bounded, the read bounded by the call."""
    return outside_client(timeout=httpx.Timeout(None, connect=CONNECT_SECONDS), follow_redirects=False)
