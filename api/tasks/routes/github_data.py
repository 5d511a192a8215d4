"""GitHub data for the signed-in user, through the one GitHub client and its error mapping
(``api.tasks.github_errors``)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from api.common.deps import SessionDep, SettingsDep
from api.common.errors import BadRequest
from api.tasks.services import github_data as data
from api.tasks.services.github_data import github_answers, github_client
from api.tasks.session import SessionUser
from capstan.logs import request_id_var
from models.tasks.github_views import (
    GitHubInstallationList,
    GitHubIssue,
    GitHubOrganizationList,
    GitHubProfile,
    GitHubRepositoryList,
    GitHubSummary,
)

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


@router.get("/api/github/summary", response_model=GitHubSummary, responses=GITHUB_RESPONSES,
            summary="The user, their organizations, repositories and App installations")
async def github_summary(request: Request, signed_in: SessionUser, db: SessionDep,
                       settings: SettingsDep) -> GitHubSummary:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        return await data.github_summary(settings, github, signed_in.user.id)


@router.get("/api/github/repositories", response_model=GitHubRepositoryList, responses=GITHUB_RESPONSES,
            summary="Repositories of every App installation the user can see (cached 60 s)")
async def github_repositories(request: Request, signed_in: SessionUser, db: SessionDep,
                            settings: SettingsDep) -> GitHubRepositoryList:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        listing = await data.user_repositories(settings, github, signed_in.user.id)
    return GitHubRepositoryList(repositories=listing.repositories, hasInstallation=listing.has_installation,
                                warnings=listing.warnings)


@router.get("/api/github/installations", response_model=GitHubInstallationList, responses=GITHUB_RESPONSES,
            summary="The App installations the user can see")
async def github_installations(request: Request, signed_in: SessionUser, db: SessionDep,
                             settings: SettingsDep) -> GitHubInstallationList:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        return await data.installation_list(github, request_id_var.get())


@router.get("/api/github/orgs", response_model=GitHubOrganizationList, responses=GITHUB_RESPONSES,
            summary="The user's organizations")
async def github_orgs(request: Request, signed_in: SessionUser, db: SessionDep,
                             settings: SettingsDep) -> GitHubOrganizationList:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        return await data.organization_list(github)


@router.get("/api/github/profile", response_model=GitHubProfile, responses=GITHUB_RESPONSES,
            summary="The user's GitHub profile and email")
async def github_profile(request: Request, signed_in: SessionUser, db: SessionDep,
                       settings: SettingsDep) -> GitHubProfile:
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        return await data.github_profile(github)


@router.get("/api/github/issues/{owner}/{repo}/{number}", response_model=GitHubIssue, responses={
    **GITHUB_RESPONSES, 404: {"description": "`not_found`: GitHub knows no such issue (or the user cannot see it)"}},
    summary="One issue of a repository")
async def github_issue(owner: str, repo: str, number: str, request: Request, signed_in: SessionUser,
                     db: SessionDep, settings: SettingsDep) -> GitHubIssue:
    if not ISSUE_NUMBER.fullmatch(number) or not 0 < int(number) < 2**31:
        raise BadRequest("invalid request: the issue number must be a positive integer", code="invalid request")
    async with github_answers(request, db, signed_in), github_client(settings, signed_in.token) as github:
        return await data.github_issue(github, owner, repo, int(number))
