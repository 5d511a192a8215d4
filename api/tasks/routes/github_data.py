"""GitHub data for the signed-in user, through the one GitHub client and its error mapping
(``api.tasks.github_errors``)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from api.common.deps import SessionDep, SettingsDep
from api.common.errors import BadRequest
from api.tasks.services.github_data import (
    check_installations,
    github_answers,
    github_client,
    installation_view,
    org_view,
    primary_email,
    user_repositories,
    user_view,
)
from api.tasks.session import SessionUser
from capstan.logs import request_id_var
from integrations.github.client import GitHubError

router = APIRouter(tags=["tasks-github"])
ISSUE_NUMBER = re.compile(r"[0-9]{1,10}")

GITHUB_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or GitHub refused the session's token (`action: reauth`; the session "
                         "ends)"},
    403: {"description": "GitHub refused: `missing_scope`, `insufficient_app_permissions` or "
                         "`insufficient_permissions` (`action: reconnect`)"},
    429: {"description": "`rate_limit`: GitHub's rate limit is spent; `resetAt`, `minutesUntilReset`"},
    502: {"description": "`github_unavailable`: GitHub failed or is unreachable"},
}


@router.get("/api/github/summary", responses=GITHUB_RESPONSES,
            summary="The user, their organizations, repositories and App installations")
async def github_summary(request: Request, signed_in: SessionUser, db: SessionDep, settings: SettingsDep) -> dict:
    warnings: list[str] = []
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        profile = await github.get_user()
        email = await primary_email(github, profile, warnings)
        organizations: list[dict[str, Any]] = []
        try:
            organizations = [org_view(org) for org in await github.get_user_orgs() or [] if isinstance(org, dict)]
        except GitHubError as err:
            if err.status == 401:
                raise
            warnings.append(f"Could not list your organizations: {err.message}")
        listing = await user_repositories(settings, github, signed_in.user.id)
    return {"user": user_view(profile, email), "organizations": organizations,
            "repositories": listing.repositories, "installations": listing.installations,
            "warnings": warnings + listing.warnings}


@router.get("/api/github/repositories", responses=GITHUB_RESPONSES,
            summary="Repositories of every App installation the user can see (cached 60 s)")
async def github_repositories(request: Request, signed_in: SessionUser, db: SessionDep,
                              settings: SettingsDep) -> dict:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        listing = await user_repositories(settings, github, signed_in.user.id)
    return {"repositories": listing.repositories, "hasInstallation": listing.has_installation,
            "warnings": listing.warnings}


@router.get("/api/github/installations", responses=GITHUB_RESPONSES,
            summary="The App installations the user can see")
async def github_installations(request: Request, signed_in: SessionUser, db: SessionDep,
                               settings: SettingsDep) -> dict:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        check = await check_installations(github)
    return {"status": check.status, "reason": check.reason, "requestId": request_id_var.get(),
            "total": check.total, "installations": [installation_view(raw) for raw in check.installations]}


@router.get("/api/github/orgs", responses=GITHUB_RESPONSES, summary="The user's organizations")
async def github_orgs(request: Request, signed_in: SessionUser, db: SessionDep, settings: SettingsDep) -> dict:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        organizations = await github.get_user_orgs()
    return {"organizations": [org_view(org) for org in organizations or [] if isinstance(org, dict)]}


@router.get("/api/github/profile", responses=GITHUB_RESPONSES, summary="The user's GitHub profile and email")
async def github_profile(request: Request, signed_in: SessionUser, db: SessionDep, settings: SettingsDep) -> dict:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        profile = await github.get_user()
        email = await primary_email(github, profile)
    user = user_view(profile, email)
    user.pop("email")
    return {"user": user, "email": email}


@router.get("/api/github/issues/{owner}/{repo}/{number}", responses={
    **GITHUB_RESPONSES, 404: {"description": "`not_found`: GitHub knows no such issue (or the user cannot see it)"}},
    summary="One issue of a repository")
async def github_issue(owner: str, repo: str, number: str, request: Request, signed_in: SessionUser,
                       db: SessionDep, settings: SettingsDep) -> dict:
    if not ISSUE_NUMBER.fullmatch(number) or not 0 < int(number) < 2**31:
        raise BadRequest("invalid request: the issue number must be a positive integer", code="invalid request")
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        issue = await github.get_issue(owner, repo, int(number))
    return {"number": issue.get("number"), "title": issue.get("title"), "body": issue.get("body") or "",
            "state": issue.get("state"), "labels": issue.get("labels") or [], "html_url": issue.get("html_url")}
