"""What every HTTP client of an outside system shares in one process: the TLS context.

Building a TLS context loads the CA bundle: about 20 ms of CPU here. A client made for one request
(the GitHub client of a signed-in user's read, a key check, a feed fetch) paid it every time, which
made every coding-tasks read cost ~29 ms of CPU (bench/reads.py); one context serves them all.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context: certifi's CA bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set."""
    return httpx.create_ssl_context()


def outside_client(**options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for an outside system, on the process's TLS context."""
    return httpx.AsyncClient(verify=tls_context(), **options)


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes | None:
    """A streamed response's (decoded) body, or ``None`` once it passes ``max_bytes``: the rest is never read,
    so an outside system cannot make a worker hold more than that."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def caller_headers(*, correlation_id: str | None, token: str | None = None) -> dict[str, str]:
    """What every call to an agent or adapter carries when it has it: the request's correlation id and the
    workspace's bearer token."""
    headers = {"x-correlation-id": correlation_id} if correlation_id else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers
