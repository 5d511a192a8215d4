"""The HTTP client of a workspace's accounting system: one sync call (Capstan's own interface).

``POST {baseUrl}/sync`` with the workspace's live clients and non-draft invoices, the workspace's
``accounting.token`` as Bearer, ``idempotency-key: <jobId>-<retryCount>`` (the same on every try of one run,
so the system may dedupe a try it already took), ``x-capstan-workspace-id`` and ``x-correlation-id``.
What the system answers is classified, never raised:

- a 2xx with ``{"payments": [...]}`` of the right shape, at most ``MAX_ANSWER_BYTES`` → ``ok``;
- a 2xx of another shape, not JSON or larger → ``invalid``;
- a connection error, a timeout, 429 or 5xx → ``unavailable`` (the workflow tries again);
- any other status → ``rejected``.

Bounded in time (the setting's ``timeoutSeconds`` for the whole call) and in size; amounts are read as
``Decimal`` from the JSON text, never as floats.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from integrations.http import caller_headers, outside_client, read_capped
from models.common.urls import outside_url_problem
from models.platform_v1.job_io import AdapterOutcome
from models.platform_v1.schemas import PaymentMethod

#: The largest answer read (1 MiB).
MAX_ANSWER_BYTES = 1024 * 1024
#: Payments one answer may carry.
MAX_PAYMENTS = 10_000
CONNECT_SECONDS = 5.0


class ReportedPayment(BaseModel):
    """One payment the accounting system reports (unknown fields ignored: it is an outside system)."""

    model_config = ConfigDict(extra="ignore")

    externalId: str = Field(min_length=1, max_length=100)
    invoiceId: str = Field(min_length=1, max_length=64)
    #: A JSON number (read as ``Decimal``), not a string.
    amount: Annotated[Decimal, Field(gt=0, le=Decimal("1e12"), allow_inf_nan=False, strict=True)]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    method: PaymentMethod
    receivedAt: AwareDatetime


class SyncAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    payments: list[ReportedPayment] = Field(max_length=MAX_PAYMENTS)


def parse_answer(body: bytes) -> SyncAnswer:
    """The answer's payments, amounts as ``Decimal`` from their JSON text; ``ValueError`` for another shape."""
    try:
        return SyncAnswer.model_validate(json.loads(body, parse_float=Decimal, parse_int=Decimal))
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"the answer is not {{payments: [...]}}: {where}: {first['msg']}") from None


def usable_base_url(url: Any) -> str | None:
    """``url`` when it is one Capstan calls (``models.common.urls``); else ``None``."""
    return url if outside_url_problem(url) is None else None


@dataclass(frozen=True)
class SyncRequest:
    base_url: str
    body: bytes
    workspace_id: str
    idempotency_key: str
    correlation_id: str | None
    token: str | None
    timeout_seconds: float

    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json", "idempotency-key": self.idempotency_key,
                "x-capstan-workspace-id": self.workspace_id,
                **caller_headers(correlation_id=self.correlation_id, token=self.token)}


@dataclass(frozen=True)
class SyncReply:
    outcome: AdapterOutcome
    http_status: int | None = None
    #: The answer's bytes (``ok`` only), validated by ``parse_answer``.
    body: bytes | None = None
    error: str | None = None


async def _send(client: httpx.AsyncClient, request: SyncRequest, url: str) -> SyncReply:
    try:
        async with client.stream("POST", url, content=request.body, headers=request.headers()) as response:
            status = response.status_code
            if status == 429 or status >= 500:
                return SyncReply(AdapterOutcome.UNAVAILABLE, status, error=f"HTTP {status}")
            if not 200 <= status < 300:
                return SyncReply(AdapterOutcome.REJECTED, status, error=f"HTTP {status}")
            body = await read_capped(response, MAX_ANSWER_BYTES)
    except httpx.HTTPError as error:
        return SyncReply(AdapterOutcome.UNAVAILABLE, error=f"{type(error).__name__}: cannot reach {url}")
    if body is None:
        return SyncReply(AdapterOutcome.INVALID, status, error=f"the answer is over {MAX_ANSWER_BYTES} bytes")
    try:
        parse_answer(body)
    except ValueError as error:
        return SyncReply(AdapterOutcome.INVALID, status, error=str(error)[:500])
    return SyncReply(AdapterOutcome.OK, status, body=body)


async def send_sync(request: SyncRequest) -> SyncReply:
    """One sync call, bounded by ``request.timeout_seconds`` in all (connect, send, answer)."""
    url = usable_base_url(request.base_url)
    if url is None:
        return SyncReply(AdapterOutcome.REJECTED, error="the accounting baseUrl is not an http(s) URL without "
                                                        "userinfo")
    target = f"{url.rstrip('/')}/sync"
    async with outside_client(timeout=httpx.Timeout(request.timeout_seconds, connect=CONNECT_SECONDS),
                              follow_redirects=False) as client:
        try:
            async with asyncio.timeout(request.timeout_seconds):
                return await _send(client, request, target)
        except TimeoutError:
            return SyncReply(AdapterOutcome.UNAVAILABLE,
                             error=f"no answer within {request.timeout_seconds:g}s from {target}")
