"""Which tasks a signed-in user sees: those of the repositories their App installations reach, narrowed to
their selection once onboarding is completed.

The repositories are the user's own GitHub data (``api.tasks.services.github_data``, cached 60 s per user),
read for the user, never on a run's behalf; a GitHub failure of that read, or of a request the route then
makes of a run's workflow, is answered the one way (``github_answers``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import false, func, tuple_
from sqlmodel.ext.asyncio.session import AsyncSession

from api.tasks.services.github_data import github_answers, github_client, user_repositories
from api.tasks.session import SignedIn
from capstan.settings import Settings
from integrations.stores.task_users import stored_config
from models.tasks.config import is_repo_selected
from models.tasks.tables import CodingTaskRow


@dataclass(frozen=True)
class Scope:
    """The ``(owner, name)`` pairs, lowercased, whose tasks the user sees."""

    repositories: frozenset[tuple[str, str]]

    def allows(self, owner: str, name: str) -> bool:
        return (owner.lower(), name.lower()) in self.repositories

    def clause(self) -> Any:
        if not self.repositories:
            return false()
        return tuple_(func.lower(CodingTaskRow.repo_owner), func.lower(CodingTaskRow.repo_name)).in_(
            sorted(self.repositories))


async def _user_scope(db: AsyncSession, settings: Settings, signed_in: SignedIn) -> Scope:
    async with github_client(settings, signed_in.token) as github:
        listing = await user_repositories(settings, github, signed_in.user.id)
    config = await stored_config(db, signed_in.user.id)
    pairs = set()
    for repo in listing.repositories:
        if "/" in repo.fullName and is_repo_selected(config, repo.fullName, repo.id):
            owner, name = repo.fullName.split("/", 1)
            pairs.add((owner.lower(), name.lower()))
    return Scope(frozenset(pairs))


@contextlib.asynccontextmanager
async def user_scope(request: Request, db: AsyncSession, settings: Settings,
                     signed_in: SignedIn) -> AsyncIterator[Scope]:
    """The user's scope; within it, GitHub's failures (the scope's read, or a run's refusal) are answered."""
    async with github_answers(request, db, signed_in):
        yield await _user_scope(db, settings, signed_in)
