"""The gate of ``POST /api/v1/webhooks/workflow-completed``: AgentField's signature over the raw body.

``check`` runs before the body is read: without ``CAPSTAN_AGENTFIELD_WEBHOOK_SECRET`` every delivery is
refused with 503 ``webhook_not_configured`` (unless ``CAPSTAN_AUTH_MODE=disabled``, which accepts unsigned
deliveries). ``verify_body`` runs on the raw bytes, before the JSON reader or the route look at them:
``x-agentfield-signature`` must be ``sha256=`` + the lowercase hex HMAC-SHA256 of the body with the secret,
compared in constant time; missing or wrong → 401 ``invalid_signature``, whatever the body holds.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from api.common.auth import Principal, secrets_equal
from api.common.errors import ServiceUnavailable, Unauthorized
from api.platform_v1.auth import check_correlation_id
from models.common.settings import secret_value

#: The OpenAPI security scheme of the signature (declared in ``api/platform_v1/router.py``).
AGENTFIELD_SIGNATURE = "agentfieldSignature"
SIGNATURE_HEADER = "x-agentfield-signature"


def agentfield_signature(secret: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``body``: what AgentField sends in ``x-agentfield-signature``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class AgentFieldSignature:
    name = "platform-agentfield-signature"
    #: OpenAPI security alternatives (``api.common.openapi``).
    schemes = ((AGENTFIELD_SIGNATURE,),)

    @staticmethod
    def _secret(request: Request) -> str | None:
        """The secret; ``None`` when deliveries are accepted unsigned (no secret, authentication disabled)."""
        platform = request.app.state.settings.platform
        secret = secret_value(platform.agentfield_webhook_secret)
        if secret:
            return secret
        if platform.auth_mode == "disabled":
            return None
        raise ServiceUnavailable("CAPSTAN_AGENTFIELD_WEBHOOK_SECRET is not set: deliveries are refused",
                                 code="webhook_not_configured")

    def check(self, request: Request) -> Principal | None:
        check_correlation_id(request)
        self._secret(request)
        return None

    def verify_body(self, request: Request, body: bytes) -> None:
        secret = self._secret(request)
        if secret is None:
            return
        offered = (request.headers.get(SIGNATURE_HEADER) or "").strip()
        if not secrets_equal(offered, agentfield_signature(secret, body)):
            raise Unauthorized(f"{SIGNATURE_HEADER} is missing or is not sha256= and the HMAC-SHA256 of the body "
                               "with the webhook secret", code="invalid_signature")
