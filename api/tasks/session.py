"""The session of a GitHub sign-in.

Cookie ``capstan_session`` = ``<session id>.<hex HMAC-SHA256(session secret, id)>``: only a random id,
signed. The user, whether the App is installed and the sealed OAuth token live in Postgres, so logout
(deleting the row) ends the session wherever the cookie was copied. The ``TasksSession`` gate checks the
signature before the body is read; the ``SessionUser`` dependency loads the row (unknown, expired or
logged out: 401). The session secret is ``CAPSTAN_SESSION_SECRET``, else derived from the secrets key;
with neither nobody can sign in.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request, Response

from api.common.auth import Principal, secrets_equal
from api.common.deps import SessionDep
from api.common.errors import Unauthorized
from api.common.openapi import authenticated_by, raises
from capstan.secrets import SecretsUnreadable, tasks_session_secret
from capstan.settings import Settings
from models.common.base import utcnow
from models.tasks.tables import GitHubUserRow, TaskSessionRow

COOKIE = "capstan_session"
STATE_COOKIE = "capstan_oauth_state"
SESSION_MAX_AGE = 7 * 24 * 3600
STATE_MAX_AGE = 600
#: The OpenAPI security scheme of the session cookie (declared in ``api/tasks/router.py``).
TASKS_SESSION = "tasksSession"
NOT_SIGNED_IN = "sign in with GitHub first (GET /api/auth/github)"
#: Where the gate leaves the verified session id for the dependency.
SESSION_ID_SCOPE_KEY = "capstan.tasks.session_id"


def _signature(secret: str, session_id: str) -> str:
    return hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).hexdigest()


def signed_cookie_value(session_id: str, secret: str) -> str:
    return f"{session_id}.{_signature(secret, session_id)}"


def verified_session_id(value: str | None, secret: str | None) -> str | None:
    """The session id of a cookie value whose signature is right (constant time), else ``None``."""
    if not value or not secret:
        return None
    session_id, dot, signature = value.rpartition(".")
    if not dot or not session_id:
        return None
    return session_id if secrets_equal(signature, _signature(secret, session_id)) else None


def signed_session_id(request: Request) -> str | None:
    return verified_session_id(request.cookies.get(COOKIE), tasks_session_secret(request.app.state.settings))


class TasksSession:
    """The gate of routes that act for a signed-in user: a cookie with a valid signature, or 401."""

    name = "tasks-session"
    #: OpenAPI security alternatives (``api.common.openapi``).
    schemes = ((TASKS_SESSION,),)

    def check(self, request: Request) -> Principal | None:
        session_id = signed_session_id(request)
        if session_id is None:
            raise Unauthorized(NOT_SIGNED_IN)
        request.scope[SESSION_ID_SCOPE_KEY] = session_id
        return None


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    user: GitHubUserRow
    #: The user's GitHub OAuth token, opened: only for calls to GitHub, never logged or returned.
    token: str = field(repr=False)


async def load_signed_in(request: Request, db: SessionDep) -> SignedIn | None:
    """The signed-in user of the request's session cookie, or ``None``."""
    session_id = request.scope.get(SESSION_ID_SCOPE_KEY) or signed_session_id(request)
    if session_id is None:
        return None
    row = await db.get(TaskSessionRow, session_id)
    if row is None or row.expires_at <= utcnow():
        return None
    user = await db.get(GitHubUserRow, row.user_id)
    if user is None or not user.oauth_token:
        return None
    try:
        token = request.app.state.secret_box.open_value(user.oauth_token)
    except SecretsUnreadable:  # the secrets key changed: sign in again
        return None
    return SignedIn(session_id=session_id, user=user, token=token)


@raises(Unauthorized)
@authenticated_by(TASKS_SESSION)
async def _signed_in(request: Request, db: SessionDep) -> SignedIn:
    signed_in = await load_signed_in(request, db)
    if signed_in is None:
        raise Unauthorized(NOT_SIGNED_IN, headers={"Set-Cookie": cleared_cookie_header(request.app.state.settings)})
    return signed_in


async def _maybe_signed_in(request: Request, db: SessionDep) -> SignedIn | None:
    return await load_signed_in(request, db)


#: The signed-in user; 401 ``unauthorized`` without a live session.
SessionUser = Annotated[SignedIn, Depends(_signed_in)]
#: The signed-in user, or ``None`` (routes that also answer without a session).
MaybeSessionUser = Annotated[SignedIn | None, Depends(_maybe_signed_in)]


def _secure(settings: Settings) -> bool:
    return settings.tasks.environment.strip().lower() == "production"


def set_session_cookie(response: Response, session_id: str, secret: str, settings: Settings) -> None:
    response.set_cookie(COOKIE, signed_cookie_value(session_id, secret), max_age=SESSION_MAX_AGE, path="/",
                        httponly=True, samesite="lax", secure=_secure(settings))


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(settings))


def cleared_cookie_header(settings: Settings) -> str:
    """The ``Set-Cookie`` value that clears the session cookie, for error responses."""
    response = Response()
    clear_session_cookie(response, settings)
    return response.headers["set-cookie"]


def set_state_cookie(response: Response, state: str, settings: Settings) -> None:
    response.set_cookie(STATE_COOKIE, state, max_age=STATE_MAX_AGE, path="/", httponly=True, samesite="lax",
                        secure=_secure(settings))


def clear_state_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(STATE_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(settings))


def session_expiry(now: datetime | None = None) -> datetime:
    return (now or utcnow()) + timedelta(seconds=SESSION_MAX_AGE)
