"""The gates of the platform API's signed webhooks: a ``sha256=`` HMAC signature over the raw body.

One ``SignedWebhookGate`` serves each signed webhook (``ROUTE_ACCESS`` entry ``SIGNED``); they differ only in
their setting, their header and whether they can be switched off:

- ``POST /api/v1/webhooks/workflow-completed`` (AgentField, ``x-agentfield-signature``): without
  ``CAPSTAN_AGENTFIELD_WEBHOOK_SECRET`` every delivery is 503 ``webhook_not_configured``, unless
  ``CAPSTAN_AUTH_MODE=disabled``, which accepts unsigned deliveries.
- ``POST /api/v1/integrations/github/webhook`` (GitHub, ``x-hub-signature-256``): with
  ``CAPSTAN_GITHUB_WEBHOOK_ENABLED`` false every request is 404 ``not_found`` (the route is not there);
  enabled without ``CAPSTAN_GITHUB_WEBHOOK_SECRET``, 503 ``webhook_not_configured``; never unsigned.

``check`` runs before the body is read (the switch, then the secret). ``verify_body`` runs on the raw bytes,
before the JSON reader or the route look at them: the header must be ``sha256=`` + the lowercase hex
HMAC-SHA256 of the body with the secret, compared in constant time; missing or wrong → 401
``invalid_signature``, whatever the body holds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from pydantic import SecretStr

from api.common.auth import Principal, secrets_equal
from api.common.errors import NotFound, ServiceUnavailable, Unauthorized
from api.platform_v1.auth import check_correlation_id
from models.common.settings import secret_value
from models.platform_v1.settings import PlatformSettings

#: The OpenAPI security schemes of the signatures (declared in ``api/platform_v1/router.py``).
AGENTFIELD_SIGNATURE = "agentfieldSignature"
GITHUB_SIGNATURE = "platformGithubSignature"


def sha256_signature(secret: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``body`` with ``secret``: what AgentField and GitHub send."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedWebhookGate:
    name: str
    #: The OpenAPI security scheme of the signature.
    scheme: str
    header: str
    #: The setting of the secret, named in the 503.
    secret_setting: str
    secret_of: Callable[[PlatformSettings], SecretStr | None]
    #: ``False`` makes every request to the path a 404 (checked first).
    enabled_of: Callable[[PlatformSettings], bool] = lambda _platform: True
    #: Without a secret, ``CAPSTAN_AUTH_MODE=disabled`` accepts unsigned deliveries (else 503).
    unsigned_when_auth_disabled: bool = False

    @property
    def schemes(self) -> tuple[tuple[str, ...], ...]:
        """OpenAPI security alternatives (``api.common.openapi``)."""
        return ((self.scheme,),)

    def _secret(self, request: Request) -> str | None:
        """The secret; ``None`` when deliveries are accepted unsigned."""
        platform: PlatformSettings = request.app.state.settings.platform
        secret = secret_value(self.secret_of(platform))
        if secret:
            return secret
        if self.unsigned_when_auth_disabled and platform.auth_mode == "disabled":
            return None
        raise ServiceUnavailable(f"{self.secret_setting} is not set: deliveries are refused",
                                 code="webhook_not_configured")

    def check(self, request: Request) -> Principal | None:
        if not self.enabled_of(request.app.state.settings.platform):
            raise NotFound("not found", code="not_found")
        check_correlation_id(request)
        self._secret(request)
        return None

    def verify_body(self, request: Request, body: bytes) -> None:
        secret = self._secret(request)
        if secret is None:
            return
        offered = (request.headers.get(self.header) or "").strip()
        if not secrets_equal(offered, sha256_signature(secret, body)):
            raise Unauthorized(f"{self.header} is missing or is not sha256= and the HMAC-SHA256 of the body "
                               "with the webhook secret", code="invalid_signature")


AGENTFIELD_GATE = SignedWebhookGate(
    name="platform-agentfield-signature", scheme=AGENTFIELD_SIGNATURE, header="x-agentfield-signature",
    secret_setting="CAPSTAN_AGENTFIELD_WEBHOOK_SECRET", secret_of=lambda platform: platform.agentfield_webhook_secret,
    unsigned_when_auth_disabled=True)

GITHUB_GATE = SignedWebhookGate(
    name="platform-github-signature", scheme=GITHUB_SIGNATURE, header="x-hub-signature-256",
    secret_setting="CAPSTAN_GITHUB_WEBHOOK_SECRET", secret_of=lambda platform: platform.github_webhook_secret,
    enabled_of=lambda platform: platform.github_webhook_enabled)
