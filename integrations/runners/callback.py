"""The runner's end of ``POST /api/callbacks/complete``: the per-execution token and the retried post.

Used by the local runner in the worker and by ``capstan task-callback`` in runner images. The token
travels in a header only; nothing here prints or raises it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from integrations.http import outside_client

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Capstan-Callback-Token"
DEFAULT_WAITS = (2.0, 4.0, 8.0, 16.0)
# Answers another try cannot change (a wrong token, a malformed payload): stop at once.
_FINAL_CLIENT_ERRORS = frozenset({400, 401, 403, 404, 405, 413, 422})


def callback_token(secret: str, execution_id: str) -> str:
    """hex HMAC-SHA256(callback secret, execution id): what the callback route expects for this execution."""
    return hmac.new(secret.encode(), execution_id.encode(), hashlib.sha256).hexdigest()


async def post_completion(url: str, token: str, payload: dict[str, Any], *, attempts: int = 5,
                          waits: Sequence[float] = DEFAULT_WAITS, client: httpx.AsyncClient | None = None,
                          timeout: float = 20.0,
                          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> int | None:
    """Post ``payload`` until a 2xx, at most ``attempts`` times, waiting ``waits[i]`` after try ``i + 1``.

    Each try carries ``callback_attempt``, ``callback_max_attempts`` and, after a non-2xx answer,
    ``callback_last_http_code``. Returns the last HTTP status (``None``: the server was never reached)."""
    own_client = client is None
    http = client or outside_client(timeout=timeout)
    status: int | None = None
    last_non_2xx: int | None = None
    try:
        for attempt in range(1, attempts + 1):
            body = {**payload, "callback_attempt": attempt, "callback_max_attempts": attempts}
            if last_non_2xx is not None:
                body["callback_last_http_code"] = last_non_2xx
            try:
                response = await http.post(url, json=body, headers={TOKEN_HEADER: token})
                status = response.status_code
            except httpx.HTTPError as exc:
                status = None
                log.warning("completion callback attempt %d/%d did not reach the server: %s",
                            attempt, attempts, type(exc).__name__)
            if status is not None and 200 <= status < 300:
                return status
            if status is not None:
                last_non_2xx = status
                log.warning("completion callback attempt %d/%d answered HTTP %d", attempt, attempts, status)
                if status in _FINAL_CLIENT_ERRORS:
                    return status
            if attempt < attempts:
                await sleep(waits[min(attempt - 1, len(waits) - 1)] if waits else 0)
        return status
    finally:
        if own_client:
            await http.aclose()
