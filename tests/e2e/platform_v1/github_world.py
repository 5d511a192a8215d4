"""GitHub's side of the platform webhook's tests: its real payloads (``tests/fixtures/github``), signed and sent
as GitHub sends them."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "github"
WEBHOOK = "/api/v1/integrations/github/webhook"
SECRET = "github-webhook-secret-for-tests"


def fixture(event: str, name: str = "payload") -> dict[str, Any]:
    return json.loads((FIXTURES / event / f"{name}.json").read_text())


def failed_run(conclusion: str = "failure", **run: Any) -> dict[str, Any]:
    """GitHub's ``workflow_run`` ``completed`` delivery, its run ended with ``conclusion``."""
    payload = copy.deepcopy(fixture("workflow_run", "completed.payload"))
    payload["workflow_run"].update(conclusion=conclusion, **run)
    return payload


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def send(api: httpx.AsyncClient, workspace: str | None, event: str | None, payload: Any, *,
               delivery: str | None = None, secret: str | None = SECRET, body: bytes | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
    raw = body if body is not None else json.dumps(payload).encode()
    sent = {"content-type": "application/json", "x-github-delivery": delivery or str(uuid.uuid4()),
            "user-agent": "GitHub-Hookshot/0000000"}
    if event is not None:
        sent["x-github-event"] = event
    if secret is not None:
        sent["x-hub-signature-256"] = sign(raw, secret)
    url = WEBHOOK if workspace is None else f"{WEBHOOK}?workspaceId={workspace}"
    return await api.post(url, content=raw, headers={**sent, **(headers or {})})
