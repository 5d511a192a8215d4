"""Which projects guarded by a project token a request may see in lists across projects.

A project whose ``secrets.api_token`` is set needs ``X-Project-Token`` on its own routes
(``api.protocols.project_tokens.check_project_token``). Lists that span projects (``GET /projects``, ``GET /events``,
``GET /queues/jobs``) follow the same rule through this one helper: a guarded project is shown
only to a request carrying its token. Unguarded projects are always shown. The operator surface
(``api/ops``) does not import this module: the surface declares ``hidden_projects`` with the jobs on
its queue (``api/protocols/jobs.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import ColumnElement, false, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.protocols.project_tokens import PROJECT_TOKEN_HEADER, project_token_opens
from capstan.secrets import SecretsUnreadable
from models.protocols.project import Project


def is_guarded() -> ColumnElement[bool]:
    """SQL: the project has a project token."""
    return col(Project.secrets).has_key("api_token")


def is_unguarded() -> ColumnElement[bool]:
    return or_(col(Project.secrets).is_(None), ~is_guarded())


@dataclass(frozen=True)
class ProjectVisibility:
    """The guarded projects this request opened with its ``X-Project-Token`` (often none)."""

    opened: frozenset[int]

    def visible(self) -> ColumnElement[bool]:
        """SQL over ``Project``: the projects this request may see."""
        return or_(is_unguarded(), col(Project.id).in_(self.opened) if self.opened else false())

    async def hidden(self, session: AsyncSession, project_ids: Iterable[int]) -> set[int]:
        """Of ``project_ids``, the guarded projects this request may not see (unknown ids are not hidden)."""
        wanted = set(project_ids) - self.opened
        if not wanted:
            return set()
        query = select(Project.id).where(col(Project.id).in_(wanted), is_guarded())
        return set((await session.exec(query)).all())


async def project_visibility(session: AsyncSession, request: Request) -> ProjectVisibility:
    given = request.headers.get(PROJECT_TOKEN_HEADER)
    if not given:
        return ProjectVisibility(frozenset())
    secret_box = request.app.state.secret_box
    rows = (await session.exec(select(Project.id, Project.secrets).where(is_guarded()))).all()
    return ProjectVisibility(frozenset(project_id for project_id, secrets in rows
                                       if _opens(secret_box, secrets, given)))


def _opens(secret_box, secrets, given: str) -> bool:
    try:
        return project_token_opens(secret_box, secrets, given)
    except SecretsUnreadable:  # a key change: the project stays hidden, its own routes say why
        return False


async def hidden_projects(request: Request, session: AsyncSession, project_ids: Iterable[int]) -> set[int]:
    """Of ``project_ids``, the guarded projects this request may not see: the operator surface's
    view of project tokens (``api.common.jobs.HiddenProjects``)."""
    visibility = await project_visibility(session, request)
    return await visibility.hidden(session, project_ids)
