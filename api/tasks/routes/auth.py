"""GitHub sign-in: the OAuth web flow, the App installation check, diagnostics and logout.

Every sign-in route answers 302 (the web UI's pages: ``/``, ``/auth?error=<code>``, ``/settings?installed=1``,
or the App's install URL). The callback stores the user with the sealed token and a session row, and sets
the signed ``capstan_session`` cookie (``api.tasks.session``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import SQLAlchemyError

from api.common.auth import secrets_equal
from api.common.deps import SessionDep, SettingsDep
from api.tasks.services.config import UserConfigStore, complete_onboarding
from api.tasks.services.github_data import (
    InstallationCheck,
    check_installations,
    forget_repositories,
    github_answers,
    github_client,
    installation_diagnostics,
    primary_email,
    user_repositories,
)
from api.tasks.services.users import end_session, open_session, save_user, set_has_installation
from api.tasks.session import (
    STATE_COOKIE,
    MaybeSessionUser,
    SessionUser,
    clear_session_cookie,
    clear_state_cookie,
    set_session_cookie,
    set_state_cookie,
    signed_session_id,
)
from capstan.secrets import SecretsUnreadable, tasks_session_secret
from capstan.settings import Settings
from integrations.github.client import GitHubError, OAuthTokenMissing
from integrations.github.oauth import exchange_oauth_code
from models.common.settings import secret_value
from models.tasks.github_views import GitHubRepository, InstallationDiagnostics

log = logging.getLogger(__name__)
router = APIRouter(tags=["tasks-auth"])

SCOPES = "read:user user:email read:org repo"
REDIRECTS: dict[int | str, dict[str, Any]] = {302: {"description": "Where the browser goes next"}}
#: The longest ``code`` or ``state`` the callback reads; a longer one is a forged callback (``oauth_state``).
OAUTH_PARAM_MAX = 512


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=302)


def _auth_error(code: str) -> RedirectResponse:
    return _redirect(f"/auth?error={code}")


def install_url(settings: Settings) -> str | None:
    app = settings.github_app
    if app.app_install_url:
        return app.app_install_url
    if app.app_slug:
        return f"{app.web_url.rstrip('/')}/apps/{quote(app.app_slug, safe='')}/installations/new"
    return None


def _not_installed(settings: Settings) -> RedirectResponse:
    url = install_url(settings)
    return _redirect(url) if url else _auth_error("install_required")


def redirect_uri(request: Request, settings: Settings) -> str:
    return settings.github_app.oauth_redirect_uri or f"{str(request.base_url).rstrip('/')}/api/auth/github/callback"


def _authorize(request: Request, settings: Settings, force: bool) -> RedirectResponse:
    state = str(uuid.uuid4())
    params = {"client_id": settings.github_app.client_id, "redirect_uri": redirect_uri(request, settings),
              "state": state, "scope": SCOPES}
    if force:
        params["prompt"] = "consent"
    response = _redirect(f"{settings.github_app.web_url.rstrip('/')}/login/oauth/authorize?{urlencode(params)}")
    set_state_cookie(response, state, settings)
    return response


@router.get("/api/auth/github", status_code=302, response_class=RedirectResponse, response_model=None,
            responses=REDIRECTS, summary="Start the GitHub sign-in (or check the App installation of a signed-in user)")
async def start_sign_in(request: Request, signed_in: MaybeSessionUser, db: SessionDep, settings: SettingsDep,
                        force: Annotated[str | None, Query(description="1: sign in again, asking consent")] = None
                        ) -> RedirectResponse:
    if not settings.github_app.client_id:
        return _auth_error("missing_client")
    if signed_in is None or force in ("1", "true"):
        return _authorize(request, settings, force in ("1", "true"))
    if signed_in.user.has_installation:
        return _redirect("/")
    try:
        async with github_client(settings, signed_in.token) as github:
            check = await check_installations(github, tries=2, wait_seconds=0.25)
    except GitHubError:  # 401: the stored token is dead, sign in again
        await end_session(db, signed_in.session_id)
        await db.commit()
        response = _authorize(request, settings, False)
        clear_session_cookie(response, settings)
        return response
    if check.status == "installed":
        await set_has_installation(db, signed_in.user.id, True)
        await db.commit()
        return _redirect("/")
    if check.status == "indeterminate":
        return _auth_error("install_check_failed")
    return _not_installed(settings)


@router.get("/api/auth/github/callback", status_code=302, response_class=RedirectResponse, response_model=None,
            responses=REDIRECTS,
            summary="GitHub's redirect after consent: exchange the code, store the user, set the session")
async def finish_sign_in(request: Request, db: SessionDep, settings: SettingsDep,
                         code: Annotated[str | None, Query(description=f"At most {OAUTH_PARAM_MAX} characters; a "
                                                           "longer one is `/auth?error=oauth_state`.")] = None,
                         state: Annotated[str | None, Query(description=f"At most {OAUTH_PARAM_MAX} characters; a "
                                                            "longer one is `/auth?error=oauth_state`.")] = None
                         ) -> RedirectResponse:
    try:
        response = await _finish_sign_in(request, db, settings, code, state)
    except Exception:  # the contract: whatever else fails is one clear redirect, logged here
        log.exception("GitHub sign-in callback failed")
        response = _auth_error("oauth_callback")
    clear_state_cookie(response, settings)
    return response


async def _finish_sign_in(request: Request, db: SessionDep, settings: Settings, code: str | None,
                          state: str | None) -> RedirectResponse:
    expected = request.cookies.get(STATE_COOKIE)
    if not code or not state or not expected or max(len(code), len(state)) > OAUTH_PARAM_MAX \
            or not secrets_equal(state, expected):
        return _auth_error("oauth_state")
    app = settings.github_app
    client_secret = secret_value(app.client_secret)
    if not app.client_id or not client_secret:
        return _auth_error("missing_client")
    try:
        token = await exchange_oauth_code(app.web_url, app.client_id, client_secret, code,
                                          redirect_uri(request, settings),
                                          timeout=settings.tasks.provider_timeout_seconds)
    except OAuthTokenMissing as err:
        log.warning("GitHub sign-in: %s", err.message)
        return _auth_error("token")
    except GitHubError as err:
        log.warning("GitHub sign-in: %s", err.message)
        return _auth_error("oauth_token_exchange")
    async with github_client(settings, token) as github:
        try:
            profile = await github.get_user()
            email = await primary_email(github, profile)
        except GitHubError as err:
            log.warning("GitHub sign-in: reading the user failed: %s", err.message)
            return _auth_error("oauth_user")
        check, repositories = await _installations_at_sign_in(settings, github, int(profile["id"]))
    secret = tasks_session_secret(settings)
    try:
        if secret is None:
            raise RuntimeError("no session secret: set CAPSTAN_SESSION_SECRET or CAPSTAN_SECRETS_KEY")
        await save_user(db, request.app.state.secret_box, profile, email, token, check.status == "installed")
        session_id = await open_session(db, int(profile["id"]))
        if check.status == "installed":
            await complete_onboarding(UserConfigStore(db, request.app.state.secret_box, int(profile["id"])),
                                      repositories)
        await db.commit()
    except (SQLAlchemyError, SecretsUnreadable, RuntimeError) as err:
        log.error("GitHub sign-in: storing the user failed: %s", err)
        await db.rollback()
        return _auth_error("oauth_persist")
    log.info("GitHub user %s signed in", profile.get("login"))
    if check.status == "installed":
        response = _redirect("/")
    elif check.status == "indeterminate":
        response = _auth_error("install_check_failed")
    else:
        response = _not_installed(settings)
    set_session_cookie(response, session_id, secret, settings)
    return response


async def _installations_at_sign_in(settings: Settings, github: Any, user_id: int
                                    ) -> tuple[InstallationCheck, list[GitHubRepository]]:
    try:
        check = await check_installations(github, tries=2, wait_seconds=0.25)
        if check.status != "installed":
            return check, []
        return check, (await user_repositories(settings, github, user_id)).repositories
    except GitHubError as err:
        return InstallationCheck("indeterminate", reason=err.message), []


@router.get("/api/auth/github/installed", status_code=302, response_class=RedirectResponse, response_model=None,
            responses=REDIRECTS,
            summary="Where GitHub sends the user after installing the App: check the installation again")
async def after_install(request: Request, signed_in: MaybeSessionUser, db: SessionDep,
                        settings: SettingsDep) -> RedirectResponse:
    if signed_in is None:
        return _redirect("/auth")
    forget_repositories(settings, signed_in.user.id)  # the user just changed the installation on GitHub
    try:
        async with github_client(settings, signed_in.token) as github:
            check = await check_installations(github, tries=4, wait_seconds=0.3)
            repositories = (await user_repositories(settings, github, signed_in.user.id)).repositories \
                if check.status == "installed" else []
    except GitHubError:  # 401: the token is dead
        await end_session(db, signed_in.session_id)
        await db.commit()
        response = _redirect("/auth")
        clear_session_cookie(response, settings)
        return response
    if check.status == "indeterminate":
        return _redirect("/settings?installed=1") if signed_in.user.has_installation \
            else _auth_error("install_check_failed")
    installed = check.status == "installed"
    await set_has_installation(db, signed_in.user.id, installed)
    if installed:
        await complete_onboarding(UserConfigStore(db, request.app.state.secret_box, signed_in.user.id), repositories)
    await db.commit()
    return _redirect("/settings?installed=1") if installed else _not_installed(settings)


@router.get("/api/auth/diagnostics", response_model=InstallationDiagnostics,
            summary="Whether the App is installed and webhook deliveries can arrive")
async def diagnostics(request: Request, signed_in: SessionUser, db: SessionDep,
                      settings: SettingsDep) -> InstallationDiagnostics:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        return await installation_diagnostics(settings, github)


@router.post("/api/auth/logout", status_code=302, response_class=RedirectResponse, response_model=None,
             responses=REDIRECTS, summary="End the session (the cookie stops working everywhere)")
async def logout(request: Request, db: SessionDep, settings: SettingsDep) -> RedirectResponse:
    if (session_id := signed_session_id(request)) is not None:
        await end_session(db, session_id)
        await db.commit()
    response = _redirect("/auth")
    clear_session_cookie(response, settings)
    return response
