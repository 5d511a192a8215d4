"""Who sent a webhook and what it holds: signatures, tokens and the JSON payload."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs

from api.common.auth import secrets_equal
from api.common.errors import BadRequest, Unauthorized
from capstan.strict_json import JsonRejected, read_json
from models.protocols.settings import WebhookSettings


def webhook_secret(settings: WebhookSettings) -> str | None:
    """The configured secret; an empty value counts as unset, like the API token."""
    secret = settings.token.get_secret_value() if settings.token else None
    return secret or None


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None, *, prefix_required: bool = True) -> bool:
    """``sha256=<hex HMAC-SHA256(secret, body)>``, compared in constant time."""
    if not header:
        return False
    given = header.strip()
    if given.startswith("sha256="):
        given = given[len("sha256="):]
    elif prefix_required:
        return False
    return secrets_equal(given.lower(), hmac_sha256_hex(secret, body))


def verify_github(settings: WebhookSettings, body: bytes, signature: str | None) -> None:
    secret = webhook_secret(settings)
    if secret is not None and not signature_matches(secret, body, signature):
        raise Unauthorized("missing or invalid X-Hub-Signature-256", code="invalid_signature")


def verify_gitlab(settings: WebhookSettings, body: bytes, tokens: list[str | None], signature: str | None) -> None:
    """Any of ``X-Gitlab-Token``/``X-Deksdenflow-Webhook-Token`` equal to the secret, or a valid
    ``X-Gitlab-Signature-256`` (with or without the ``sha256=`` prefix)."""
    secret = webhook_secret(settings)
    if secret is None:
        return
    token_ok = [secrets_equal(token, secret) for token in tokens if token is not None]
    signature_ok = signature_matches(secret, body, signature, prefix_required=False)
    if not (any(token_ok) or signature_ok):
        raise Unauthorized("missing or invalid webhook token", code="invalid_webhook_token")


def parse_payload(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A JSON object, sent as JSON or (GitHub's form option) as ``payload=<json>``."""
    raw: str | bytes = body
    if (content_type or "").lower().startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", errors="replace")).get("payload")
        if not values:
            raise BadRequest("form-encoded webhook without a 'payload' field", code="invalid_payload")
        raw = values[0]
    try:
        payload = read_json(raw)
    except JsonRejected as rejected:
        raise BadRequest(rejected.detail, code=rejected.code) from None
    if not isinstance(payload, dict):
        raise BadRequest("webhook body must be a JSON object", code="invalid_payload")
    return payload
