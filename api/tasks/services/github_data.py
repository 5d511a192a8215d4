"""What the tasks surface reads from GitHub for a signed-in user: installations, repositories, orgs, profile.

Installations: ``GET /user/installations`` → installed iff ``total_count`` > 0; errors other than 401 are
tried again, then the answer is ``indeterminate``; a 401 raises (the token is dead). Repositories: every
installation's repositories, deduplicated by id; an installation that fails adds a warning, a 401
raises. Repository lists are cached 60 s per user.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession

from api.tasks.github_errors import github_error_response
from api.tasks.services.users import end_session
from api.tasks.session import SignedIn, cleared_cookie_header
from capstan.settings import Settings
from integrations.github.client import GitHubClient, GitHubError

InstallationStatus = Literal["installed", "not_installed", "indeterminate"]
REPOSITORY_CACHE_SECONDS = 60.0


def github_client(settings: Settings, token: str | None) -> GitHubClient:
    return GitHubClient(settings.forge.github_api_url, token, timeout=settings.tasks.provider_timeout_seconds)


@contextlib.asynccontextmanager
async def github_answers(request: Request, db: AsyncSession, signed_in: SignedIn) -> AsyncIterator[None]:
    """Turn a ``GitHubError`` into its API answer; a 401 also ends the session and clears the cookie."""
    try:
        yield
    except GitHubError as err:
        answer = github_error_response(err)
        if err.status == 401:
            await end_session(db, signed_in.session_id)
            await db.commit()
            forget_repositories(request.app.state.settings, signed_in.user.id)
            answer.headers = {"Set-Cookie": cleared_cookie_header(request.app.state.settings)}
        raise answer from None


@dataclass
class InstallationCheck:
    status: InstallationStatus
    installations: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    reason: str | None = None


async def check_installations(github: GitHubClient, tries: int = 2, wait_seconds: float = 0.25
                              ) -> InstallationCheck:
    last: GitHubError | None = None
    for attempt in range(tries):
        if attempt:
            await asyncio.sleep(wait_seconds)  # GitHub's view of a fresh install can lag a moment
        try:
            answer = await github.get_user_installations()
        except GitHubError as err:
            if err.status == 401:
                raise
            last = err
            continue
        installations = [item for item in (answer or {}).get("installations") or [] if isinstance(item, dict)]
        total = answer.get("total_count") if isinstance(answer, dict) else None
        total = total if isinstance(total, int) and not isinstance(total, bool) else len(installations)
        return InstallationCheck("installed" if total > 0 else "not_installed", installations, total)
    reason = f"GitHub did not answer the installations check: {last.message}" if last else None
    return InstallationCheck("indeterminate", reason=reason)


def installation_view(raw: dict[str, Any]) -> dict[str, Any]:
    account = raw.get("account") if isinstance(raw.get("account"), dict) else None
    return {"id": raw.get("id"), "appId": raw.get("app_id"), "appSlug": raw.get("app_slug"),
            "targetType": raw.get("target_type"), "createdAt": raw.get("created_at"),
            "account": {"id": account.get("id"), "login": account.get("login"),
                        "avatarUrl": account.get("avatar_url")} if account else None}


def repository_view(raw: dict[str, Any]) -> dict[str, Any]:
    owner = raw.get("owner") if isinstance(raw.get("owner"), dict) else {}
    full_name = str(raw.get("full_name") or f"{owner.get('login')}/{raw.get('name')}")
    return {"id": raw.get("id"), "fullName": full_name, "name": raw.get("name"),
            "owner": owner.get("login") or full_name.split("/", 1)[0], "private": bool(raw.get("private")),
            "description": raw.get("description")}


@dataclass
class RepositoryList:
    repositories: list[dict[str, Any]]
    has_installation: bool
    installations: list[dict[str, Any]]
    warnings: list[str]


_repository_cache: dict[tuple[str, int], tuple[float, RepositoryList]] = {}


def forget_repositories(settings: Settings, user_id: int) -> None:
    _repository_cache.pop((settings.forge.github_api_url, user_id), None)


async def user_repositories(settings: Settings, github: GitHubClient, user_id: int) -> RepositoryList:
    """The repositories of every installation the user sees (cached 60 s); ``GitHubError`` 401 raises."""
    key = (settings.forge.github_api_url, user_id)
    cached = _repository_cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    check = await check_installations(github)
    if check.status != "installed":
        warnings = [check.reason] if check.reason else []
        return RepositoryList([], False, [], warnings)
    repositories: dict[Any, dict[str, Any]] = {}
    warnings: list[str] = []
    for installation in check.installations:
        try:
            answer = await github.get_installation_repositories(installation.get("id"))
        except GitHubError as err:
            if err.status == 401:
                raise
            warnings.append(f"Could not list the repositories of installation {installation.get('id')}: "
                            f"{err.message}")
            continue
        for raw in (answer or {}).get("repositories") or []:
            if isinstance(raw, dict):
                repositories.setdefault(raw.get("id"), repository_view(raw))
    listing = RepositoryList(list(repositories.values()), True, check.installations, warnings)
    if not warnings:
        _repository_cache[key] = (time.monotonic() + REPOSITORY_CACHE_SECONDS, listing)
    return listing


def user_view(raw: dict[str, Any], email: str | None) -> dict[str, Any]:
    return {"id": raw.get("id"), "login": raw.get("login"), "name": raw.get("name"),
            "avatarUrl": raw.get("avatar_url"), "email": email}


def org_view(raw: dict[str, Any]) -> dict[str, Any]:
    return {"id": raw.get("id"), "login": raw.get("login"), "avatarUrl": raw.get("avatar_url")}


def pick_email(emails: Any) -> str | None:
    """First primary and verified address, else first verified, else first, else None."""
    entries = [entry for entry in emails or [] if isinstance(entry, dict) and entry.get("email")]
    for wanted in (lambda e: e.get("primary") and e.get("verified"), lambda e: e.get("verified"), lambda e: True):
        for entry in entries:
            if wanted(entry):
                return str(entry["email"])
    return None


async def primary_email(github: GitHubClient, profile: dict[str, Any], warnings: list[str] | None = None
                        ) -> str | None:
    """The user's email from ``/user/emails`` (optional: a failure other than 401 falls back to the profile's)."""
    try:
        return pick_email(await github.get_user_emails()) or profile.get("email")
    except GitHubError as err:
        if err.status == 401:
            raise
        if warnings is not None:
            warnings.append(f"Could not read your email addresses: {err.message}")
        return profile.get("email")
