"""What the tasks surface reads from GitHub for a signed-in user: installations, repositories, orgs, profile,
one issue, the rate limit; each answer typed (``models.tasks.github_views``).

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
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from api.tasks.github_errors import github_error_response, iso, minutes_until
from api.tasks.services.users import end_session
from api.tasks.session import SignedIn, cleared_cookie_header
from capstan.settings import Settings
from integrations.github.client import LAST_RATE_LIMIT, GitHubClient, GitHubError
from models.common.settings import secret_value
from models.tasks.github_views import (
    GitHubAccount,
    GitHubInstallation,
    GitHubInstallationList,
    GitHubInstallationObject,
    GitHubIssue,
    GitHubOrganizationList,
    GitHubProfile,
    GitHubRepository,
    GitHubSummary,
    GitHubUser,
    GitHubUserWithEmail,
    InstallationDiagnostics,
    InstallationStatus,
    RateLimitPublic,
)

REPOSITORY_CACHE_SECONDS = 60.0
LOW_REMAINING = 100


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
    installations: list[GitHubInstallationObject] = field(default_factory=list)
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
        listed = [item for item in (answer or {}).get("installations") or [] if isinstance(item, dict)]
        total = answer.get("total_count") if isinstance(answer, dict) else None
        total = total if isinstance(total, int) and not isinstance(total, bool) else len(listed)
        installations = [parsed for item in listed if (parsed := _installation(item)) is not None]
        return InstallationCheck("installed" if total > 0 else "not_installed", installations, total)
    reason = f"GitHub did not answer the installations check: {last.message}" if last else None
    return InstallationCheck("indeterminate", reason=reason)


def _installation(raw: dict[str, Any]) -> GitHubInstallationObject | None:
    """GitHub's installation object, or ``None`` for one not shaped as GitHub documents it (no numeric id)."""
    try:
        return GitHubInstallationObject.model_validate(raw)
    except ValidationError:
        return None


@dataclass
class RepositoryList:
    repositories: list[GitHubRepository]
    has_installation: bool
    installations: list[GitHubInstallationObject]
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
    repositories: dict[int, GitHubRepository] = {}
    warnings: list[str] = []
    for installation in check.installations:
        try:
            answer = await github.get_installation_repositories(installation.id)
        except GitHubError as err:
            if err.status == 401:
                raise
            warnings.append(f"Could not list the repositories of installation {installation.id}: "
                            f"{err.message}")
            continue
        for raw in (answer or {}).get("repositories") or []:
            repository = GitHubRepository.from_github(raw) if isinstance(raw, dict) else None
            if repository is not None:
                repositories.setdefault(repository.id, repository)
    listing = RepositoryList(list(repositories.values()), True, check.installations, warnings)
    if not warnings:
        _repository_cache[key] = (time.monotonic() + REPOSITORY_CACHE_SECONDS, listing)
    return listing


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


# --- the answers of the GitHub data routes ---------------------------------------------------------------

async def github_summary(settings: Settings, github: GitHubClient, user_id: int) -> GitHubSummary:
    """Only ``/user`` is required; organizations, emails and an installation's repositories that fail add a
    warning (a 401 raises)."""
    warnings: list[str] = []
    profile = await github.get_user()
    email = await primary_email(github, profile, warnings)
    organizations: list[GitHubAccount] = []
    try:
        organizations = _organizations(await github.get_user_orgs())
    except GitHubError as err:
        if err.status == 401:
            raise
        warnings.append(f"Could not list your organizations: {err.message}")
    listing = await user_repositories(settings, github, user_id)
    return GitHubSummary(user=GitHubUserWithEmail.from_profile(profile, email), organizations=organizations,
                         repositories=listing.repositories, installations=listing.installations,
                         warnings=warnings + listing.warnings)


async def installation_list(github: GitHubClient, request_id: str | None) -> GitHubInstallationList:
    check = await check_installations(github)
    return GitHubInstallationList(status=check.status, reason=check.reason, requestId=request_id, total=check.total,
                                  installations=[GitHubInstallation.of(item) for item in check.installations])


def _organizations(raw: Any) -> list[GitHubAccount]:
    return [GitHubAccount.from_github(org) for org in raw or [] if isinstance(org, dict)]


async def organization_list(github: GitHubClient) -> GitHubOrganizationList:
    return GitHubOrganizationList(organizations=_organizations(await github.get_user_orgs()))


async def github_profile(github: GitHubClient) -> GitHubProfile:
    profile = await github.get_user()
    email = await primary_email(github, profile)
    return GitHubProfile(user=GitHubUser.from_github(profile), email=email)


async def github_issue(github: GitHubClient, owner: str, repo: str, number: int) -> GitHubIssue:
    return GitHubIssue.from_github(await github.get_issue(owner, repo, number))


async def installation_diagnostics(settings: Settings, github: GitHubClient) -> InstallationDiagnostics:
    """Whether comments can reach Capstan: the App installed where the user can see it, and the webhook secret
    set (without it deliveries are refused)."""
    check = await check_installations(github, tries=2, wait_seconds=0.25)
    if check.status == "indeterminate":
        delivery, action, reason = "indeterminate", "check_runtime", check.reason
    elif check.status == "not_installed":
        delivery, action = "needs_install", "install_app"
        reason = "The GitHub App is not installed on any account you can see; install it to receive comments."
    elif not secret_value(settings.tasks.webhook_secret):
        delivery, action = "indeterminate", "check_runtime"
        reason = "CAPSTAN_TASKS_WEBHOOK_SECRET is not set: webhook deliveries are refused (503)."
    else:
        delivery, action, reason = "configured", "ok", None
    return InstallationDiagnostics(ok=action == "ok", installationStatus=check.status, installationCount=check.total,
                                   webhookDeliveryStatus=delivery, action=action, reason=reason)


def rate_limit_answer(remaining: int, reset: int) -> RateLimitPublic:
    reset_time = datetime.fromtimestamp(reset, UTC)
    return RateLimitPublic(remaining=remaining, reset=reset, resetTime=iso(reset_time),
                           minutesUntilReset=minutes_until(reset_time), isLow=remaining < LOW_REMAINING)


async def rate_limit(settings: Settings, token: str | None) -> RateLimitPublic:
    """GitHub's core rate limit for the user's token; without one, or when GitHub does not say, what this process
    last saw."""
    if token is not None:
        try:
            async with github_client(settings, token) as github:
                core = ((await github.get_rate_limit() or {}).get("resources") or {}).get("core") or {}
            remaining, reset = core.get("remaining"), core.get("reset")
            if isinstance(remaining, int) and isinstance(reset, int):
                return rate_limit_answer(remaining, reset)
        except GitHubError:
            pass  # what this process last saw is the best answer left
    return rate_limit_answer(LAST_RATE_LIMIT.remaining, LAST_RATE_LIMIT.reset)
