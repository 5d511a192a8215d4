"""Users who signed in with GitHub and their sessions.

A user row is keyed by GitHub user id (the webhook also finds it by lowercased login); its OAuth token
is sealed with the app's ``SecretBox`` before it is written.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from api.tasks.session import session_expiry
from capstan.secrets import SecretBox
from models.common.base import utcnow
from models.tasks.tables import GitHubUserRow, TaskSessionRow


async def save_user(db: AsyncSession, box: SecretBox, profile: dict[str, Any], email: str | None, token: str,
                    has_installation: bool) -> None:
    """Insert or update the user of a GitHub ``/user`` answer, with its sealed token."""
    values = {"login": str(profile["login"]), "name": profile.get("name"), "avatar_url": profile.get("avatar_url"),
              "email": email or profile.get("email"), "oauth_token": box.seal_value(token),
              "has_installation": has_installation, "updated_at": utcnow()}
    statement = insert(GitHubUserRow).values(id=int(profile["id"]), **values)
    await db.exec(statement.on_conflict_do_update(index_elements=["id"], set_=values))


async def open_session(db: AsyncSession, user_id: int) -> str:
    session_id = secrets.token_urlsafe(32)
    db.add(TaskSessionRow(id=session_id, user_id=user_id, expires_at=session_expiry()))
    return session_id


async def end_session(db: AsyncSession, session_id: str) -> None:
    await db.exec(delete(TaskSessionRow).where(TaskSessionRow.id == session_id))


async def set_has_installation(db: AsyncSession, user_id: int, installed: bool) -> None:
    await db.exec(update(GitHubUserRow).where(GitHubUserRow.id == user_id)
                  .values(has_installation=installed, updated_at=utcnow()))
