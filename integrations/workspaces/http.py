"""The client of an HTTP workspace backend: dispatch and replay flow events, read its runs and events.

Bodies are serialised once and signed over exactly the bytes sent (``x-flow-signature-256: sha256=<hex>``,
HMAC-SHA256 keyed with the shared secret). Every failure is a ``WorkspaceBackendError`` whose message never
holds the secret; a non-2xx answer reads ``Flow backend <METHOD> <path> failed with <status>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import quote

import httpx

SIGNATURE_HEADER = "x-flow-signature-256"
_STATUS_IN_MESSAGE = re.compile(r"^Flow backend \S+ \S+ failed with (\d{3})$")
_TRAILING_EVENTS_PATH = re.compile(r"/(?:events|flow-events)/*$")


class WorkspaceBackendError(Exception):
    """A workspace backend call that failed; ``http_status`` when the backend answered non-2xx."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


def http_status_of(message: str) -> int | None:
    """The backend HTTP status a failure message carries, if it carries one."""
    match = _STATUS_IN_MESSAGE.match(message)
    return int(match.group(1)) if match else None


def backend_base_url(url: str) -> str:
    """The backend's base URL: ``url`` without a trailing ``/events`` or ``/flow-events`` and trailing slashes."""
    base = url.strip().rstrip("/")
    return _TRAILING_EVENTS_PATH.sub("", base).rstrip("/")


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_id(identifier: str) -> str:
    """An id as one path segment: every reserved character, ``/`` included, percent-encoded."""
    return quote(identifier, safe="")


def dispatch_record_fields(answer: dict) -> dict:
    """What a dispatch record takes from a dispatch/replay answer: ``runIds``, ``matched``, ``idempotent``."""
    run_ids = [run_id for run_id in answer.get("runIds") or [] if isinstance(run_id, str)]
    if not run_ids:
        runs = answer.get("runs") if isinstance(answer.get("runs"), list) else []
        run_ids = [run_id for run in runs if isinstance(run, dict)
                   and isinstance(run_id := run.get("id") or run.get("runId"), str) and run_id]
    fields: dict[str, Any] = {"runIds": run_ids}
    matched = answer.get("matched")
    if isinstance(matched, int | float) and not isinstance(matched, bool):
        fields["matched"] = matched
    if isinstance(answer.get("idempotent"), bool):
        fields["idempotent"] = answer["idempotent"]
    return fields


class HttpWorkspaceBackend:
    """One HTTP workspace backend.

    Without a ``client`` every call opens and closes its own, so an instance needs no closing and holds no
    sockets between calls; pass a shared ``httpx.AsyncClient`` to reuse connections (its owner closes it).
    """

    def __init__(self, url: str, secret: str | None, timeout_seconds: float,
                 client: httpx.AsyncClient | None = None) -> None:
        self.base_url = backend_base_url(url)
        self.timeout_seconds = timeout_seconds
        self._secret = secret or None
        self._client = client

    def __repr__(self) -> str:
        signed = "signed" if self._secret else "unsigned"
        return f"HttpWorkspaceBackend({self.base_url!r}, {signed})"

    async def __aenter__(self) -> HttpWorkspaceBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to release: a client of its own lives for one call only; a shared one is its owner's."""

    # --- URLs a dispatch record names ---

    def dispatch_url(self) -> str:
        return f"{self.base_url}/events"

    def replay_url(self, event_id: str) -> str:
        return f"{self.base_url}/events/{encode_id(event_id)}/replay"

    # --- operations ---

    async def dispatch(self, event: dict) -> dict:
        return await self._post("/events", event)

    async def replay(self, event_id: str) -> dict:
        return await self._post(f"/events/{encode_id(event_id)}/replay", {"wait": False})

    async def list_runs(self, event_id: str | None = None, status: str | None = None,
                        limit: int | None = None) -> dict:
        params = {name: str(value) for name, value in (("eventId", event_id), ("status", status), ("limit", limit))
                  if value is not None}
        return await self._get("/runs", params)

    async def read_run(self, run_id: str) -> dict | None:
        return await self._get(f"/runs/{encode_id(run_id)}", missing_is_none=True)

    async def list_events(self, type: str | None = None, limit: int | None = None) -> dict:  # noqa: A002 - wire name
        params = {name: str(value) for name, value in (("type", type), ("limit", limit)) if value is not None}
        return await self._get("/events", params)

    async def read_event(self, event_id: str) -> dict | None:
        return await self._get(f"/events/{encode_id(event_id)}", missing_is_none=True)

    # --- transport ---

    async def _post(self, path: str, body: dict) -> dict:
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, content)
        return await self._request("POST", path, content=content, headers=headers)

    async def _get(self, path: str, params: dict[str, str] | None = None, *, missing_is_none: bool = False) -> Any:
        return await self._request("GET", path, params=params or None, headers={"accept": "application/json"},
                                   missing_is_none=missing_is_none)

    async def _request(self, method: str, path: str, *, missing_is_none: bool = False, **kwargs: Any) -> Any:
        try:
            answer = await self._send(method, self.base_url + path, **kwargs)
        except httpx.TimeoutException as exc:
            error = self._error(f"Flow backend {method} {path} did not answer within {self.timeout_seconds:g}s "
                                f"({type(exc).__name__})")
        except httpx.HTTPError as exc:
            error = self._error(f"Flow backend {method} {path} is unreachable: {type(exc).__name__}: {exc}")
        else:
            return self._answer(answer, method, path, missing_is_none)
        raise error  # outside the except block: no httpx internals chained into the failure

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # The timeout is given per request, so a shared client cannot make a call unbounded.
        if self._client is not None:
            return await self._client.request(method, url, timeout=self.timeout_seconds, **kwargs)
        async with httpx.AsyncClient(follow_redirects=False) as client:
            return await client.request(method, url, timeout=self.timeout_seconds, **kwargs)

    def _answer(self, answer: httpx.Response, method: str, path: str, missing_is_none: bool) -> Any:
        if missing_is_none and answer.status_code == 404:
            return None
        if not answer.is_success:
            raise WorkspaceBackendError(f"Flow backend {method} {path} failed with {answer.status_code}",
                                        answer.status_code)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise WorkspaceBackendError(f"Flow backend {method} {path} answered {answer.status_code} "
                                        f"with a body that is not a JSON object")
        return body

    def _error(self, message: str) -> WorkspaceBackendError:
        if self._secret:
            message = message.replace(self._secret, "***")
        return WorkspaceBackendError(message)
