"""GitHub's failures as API answers, the same on every route that calls GitHub for a user.

| GitHub | answer |
|---|---|
| 401 | 401 ``unauthorized``, ``action: reauth`` (the route also ends the session) |
| 429, or 403 saying "rate limit" | 429 ``rate_limit`` with ``resetAt`` and ``minutesUntilReset`` |
| 403, an accepted OAuth scope not granted | 403 ``missing_scope`` with ``scopeHints`` |
| 403 "resource not accessible by integration" | 403 ``insufficient_app_permissions`` |
| other 403 | 403 ``insufficient_permissions`` |
| 404, 410 (gone) | 404 ``not_found`` |
| 5xx, unreachable | 502 ``github_unavailable`` |
| anything else | 502 ``github_error`` with GitHub's message |

The 401 and 429 messages are Capstan's; the 403 ones are GitHub's ``message`` when it sent one.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from api.common.errors import ApiError, BadGateway, Forbidden, NotFound, Unauthorized
from integrations.github.client import GitHubError

REAUTH_MESSAGE = "GitHub session expired. Please reconnect your account."
RECONNECT_URL = "/api/auth/github?force=1"


class RateLimited(ApiError):
    status_code, code = 429, "rate_limit"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def minutes_until(moment: datetime, now: datetime | None = None) -> int:
    seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    return max(0, math.ceil(seconds / 60))


def github_error_response(err: GitHubError) -> ApiError:
    """The API error answering ``err``; never carries a token (``GitHubError`` holds none)."""
    status = err.status
    if status == 401:
        return Unauthorized(REAUTH_MESSAGE, code="unauthorized", extra={"action": "reauth", "message": REAUTH_MESSAGE})
    if err.rate_limited:
        reset_at = err.reset_at or datetime.now(UTC) + timedelta(minutes=1)
        minutes = minutes_until(reset_at)
        message = f"GitHub API rate limit exceeded. Resets in {minutes} minutes at {iso(reset_at)}."
        return RateLimited(message, extra={"message": message, "resetAt": iso(reset_at),
                                           "minutesUntilReset": minutes})
    if status == 403:
        return _forbidden(err)
    if status in (404, 410):  # 410: GitHub's answer for a deleted issue
        message = err.message or "not found on GitHub"
        return NotFound(message, code="not_found", extra={"message": message})
    if status is None or status >= 500:
        message = err.message or "GitHub is unavailable"
        return BadGateway(message, code="github_unavailable", extra={"message": message})
    message = err.message or f"GitHub answered HTTP {status}"
    return BadGateway(message, code="github_error", extra={"message": message, "githubStatus": status})


def _forbidden(err: GitHubError) -> ApiError:
    reconnect = {"action": "reconnect", "actionUrl": RECONNECT_URL}
    if (scopes := err.missing_scopes()) is not None:
        granted, accepted = (sorted(part) for part in scopes)
        message = err.message or ("GitHub token is missing a required scope (accepted: "
                                  f"{', '.join(accepted)}). Reconnect to grant it.")
        return Forbidden(message, code="missing_scope", extra={
            **reconnect, "message": message, "scopeHints": {"grantedScopes": granted, "acceptedScopes": accepted}})
    if err.not_accessible_by_integration:
        message = err.message or "The GitHub App lacks a permission this needs."
        return Forbidden(message, code="insufficient_app_permissions", extra={**reconnect, "message": message})
    message = err.message or "GitHub refused the request."
    return Forbidden(message, code="insufficient_permissions", extra={**reconnect, "message": message})
