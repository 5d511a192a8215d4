"""Project tokens: a project whose ``secrets.api_token`` is set also needs ``X-Project-Token``."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.common.auth import secrets_equal
from api.common.errors import Unauthorized
from capstan.secrets import SecretBox
from models.protocols.project import Project

PROJECT_TOKEN_HEADER = "x-project-token"


def project_token_opens(secret_box: SecretBox, sealed_secrets: dict[str, Any] | None, given: str | None) -> bool:
    """Whether a request carrying ``X-Project-Token: given`` may see a project with these (sealed)
    secrets: always when the project has no ``api_token``, else only with that token."""
    if "api_token" not in (sealed_secrets or {}):
        return True
    expected = secret_box.open({"api_token": sealed_secrets["api_token"]}).get("api_token")
    if not expected:
        return True
    return given is not None and secrets_equal(given, str(expected))


def check_project_token(request: Request, project: Project) -> None:
    """A project with ``secrets.api_token`` also needs ``X-Project-Token``."""
    if not project_token_opens(request.app.state.secret_box, project.secrets,
                               request.headers.get(PROJECT_TOKEN_HEADER)):
        raise Unauthorized("missing or invalid X-Project-Token", code="project_token_required")
