"""The credentials of the protocols surface, besides the app's bearer token: a project's own token and
the forge webhooks' signatures (``ApiSurface.security_schemes``, in ``api/protocols/router.py``)."""

from __future__ import annotations

from api.common.openapi import SecurityScheme
from capstan.settings import Settings

PROJECT_TOKEN = "projectToken"
GITHUB_SIGNATURE = "githubSignature"
GITLAB_TOKEN = "gitlabToken"
GITLAB_SIGNATURE = "gitlabSignature"
LEGACY_WEBHOOK_TOKEN = "deksdenflowWebhookToken"


def _webhook_secret_set(settings: Settings) -> bool:
    return bool(settings.webhooks.token)


SECURITY_SCHEMES = (
    # Only projects that have one need it: never enforced for the whole deployment.
    SecurityScheme(PROJECT_TOKEN, {
        "type": "apiKey", "in": "header", "name": "X-Project-Token",
        "description": "The `api_token` secret of a project that has one; needed, besides the bearer token, for "
                       "anything of that project."}, enforced=lambda settings: False),
    SecurityScheme(GITHUB_SIGNATURE, {
        "type": "apiKey", "in": "header", "name": "X-Hub-Signature-256",
        "description": "`sha256=` + HMAC-SHA256(CAPSTAN_WEBHOOK_TOKEN, body)."}, enforced=_webhook_secret_set),
    SecurityScheme(GITLAB_TOKEN, {
        "type": "apiKey", "in": "header", "name": "X-Gitlab-Token",
        "description": "CAPSTAN_WEBHOOK_TOKEN itself."}, enforced=_webhook_secret_set),
    SecurityScheme(GITLAB_SIGNATURE, {
        "type": "apiKey", "in": "header", "name": "X-Gitlab-Signature-256",
        "description": "HMAC-SHA256(CAPSTAN_WEBHOOK_TOKEN, body), with or without `sha256=`."},
        enforced=_webhook_secret_set),
    SecurityScheme(LEGACY_WEBHOOK_TOKEN, {
        "type": "apiKey", "in": "header", "name": "X-Deksdenflow-Webhook-Token",
        "description": "CAPSTAN_WEBHOOK_TOKEN itself (the original orchestrator's header)."},
        enforced=_webhook_secret_set),
)
