"""The gate of ``POST /api/webhooks/github``: GitHub's ``X-Hub-Signature-256`` over the raw body.

Checked by the request guard as soon as the body is read, before the JSON reader or the route look
at it: a badly signed delivery is a 401 ``invalid_signature`` whatever it holds, and nothing of it is
read, recorded or acted on. Without ``CAPSTAN_TASKS_WEBHOOK_SECRET`` every delivery is refused with
503 (never accepted unsigned).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from api.common.auth import Principal, secrets_equal
from api.common.errors import ServiceUnavailable, Unauthorized
from models.common.settings import secret_value

#: The OpenAPI security scheme of the webhook signature (declared in ``api/tasks/router.py``).
TASKS_GITHUB_SIGNATURE = "tasksGithubSignature"


def github_signature(secret: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``body``: what GitHub sends in ``X-Hub-Signature-256``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class GitHubWebhookSignature:
    name = "tasks-github-signature"
    #: OpenAPI security alternatives (``api.common.openapi``).
    schemes = ((TASKS_GITHUB_SIGNATURE,),)

    @staticmethod
    def _secret(request: Request) -> str:
        secret = secret_value(request.app.state.settings.tasks.webhook_secret)
        if not secret:
            raise ServiceUnavailable("CAPSTAN_TASKS_WEBHOOK_SECRET is not set: deliveries are refused",
                                     code="webhook_secret_not_configured",
                                     extra={"status": "webhook_secret_not_configured"})
        return secret

    def check(self, request: Request) -> Principal | None:
        self._secret(request)
        return None

    def verify_body(self, request: Request, body: bytes) -> None:
        offered = (request.headers.get("x-hub-signature-256") or "").strip().lower()
        if not secrets_equal(offered, github_signature(self._secret(request), body)):
            raise Unauthorized("X-Hub-Signature-256 is missing or is not the HMAC-SHA256 of the body with the "
                               "webhook secret", code="invalid_signature", extra={"status": "invalid_signature"})
