"""Run artifacts written by activities: one row per execution key, overwritten on a retry.

Output Postgres refuses fails the activity at once rather than on every try
(``integrations.stores.db_errors``), and the workflow fails the step with ``job_failed``.
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from capstan.db import SessionFactory, session_scope
from integrations.stores.db_errors import refuses_bad_records
from models.protocols.artifact import Artifact

MAX_ARTIFACT_CHARS = 1_000_000


class ArtifactStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @refuses_bad_records
    async def save(self, *, protocol_run_id: int, step_run_id: int | None, kind: str, name: str, content: str,
                   exit_code: int | None, dedupe_key: str) -> int:
        if len(content) > MAX_ARTIFACT_CHARS:
            content = content[:MAX_ARTIFACT_CHARS] + f"\n[... truncated at {MAX_ARTIFACT_CHARS} characters]"
        content = content.replace("\x00", "")  # Postgres text cannot hold NUL
        stmt = insert(Artifact).values(
            protocol_run_id=protocol_run_id, step_run_id=step_run_id, kind=kind, name=name, content=content,
            exit_code=exit_code, dedupe_key=dedupe_key,
        )
        stmt = stmt.on_conflict_do_update(index_elements=["dedupe_key"],
                                          set_={"content": content, "exit_code": exit_code}).returning(Artifact.id)
        async with session_scope(self.sessions) as session:
            return (await session.exec(stmt)).scalar_one()

    async def find(self, dedupe_key: str) -> int | None:
        from sqlmodel import select

        async with self.sessions() as session:
            return (await session.exec(select(Artifact.id).where(Artifact.dedupe_key == dedupe_key))).first()
