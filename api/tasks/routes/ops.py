"""Operator checks of the tasks surface, without auth: which settings are set (never their values), the
database's readiness, and GitHub's rate limit."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.common.deps import SettingsDep
from api.tasks.services import startup_check as checks
from api.tasks.services.github_data import rate_limit as read_rate_limit
from api.tasks.session import MaybeSessionUser
from models.tasks.github_views import RateLimitPublic
from models.tasks.ops_views import StartupCheck

router = APIRouter(tags=["tasks-ops"])


@router.get("/api/startup/check", response_model=StartupCheck,
            summary="Which required settings are set and whether the database is ready")
async def startup_check(request: Request, settings: SettingsDep) -> StartupCheck:
    return await checks.startup_check(settings, request.app.state.engine)


@router.get("/api/rate-limit", response_model=RateLimitPublic,
            summary="GitHub's core rate limit: the user's with a session, else the last seen")
async def rate_limit(signed_in: MaybeSessionUser, settings: SettingsDep) -> RateLimitPublic:
    return await read_rate_limit(settings, signed_in.token if signed_in is not None else None)
