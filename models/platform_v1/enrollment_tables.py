"""The edge agent's enrollment tokens, in Postgres (``platform_enrollment_tokens``).

One row per token a workspace issued: never the token, only its SHA-256 (a token is 256 random bits, so
a fast hash is as good as a slow one) and its last four characters (the hint a person matches it by).
``valid_until`` is null for the workspace's current token (a partial unique index allows one), and the end
of its grace period once a rotation replaced it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, Text, text
from sqlmodel import Field, SQLModel


class EnrollmentTokenRow(SQLModel, table=True):
    __tablename__ = "platform_enrollment_tokens"
    __table_args__ = (
        Index("uq_platform_enrollment_tokens_current", "workspace_id", unique=True,
              postgresql_where=text("valid_until IS NULL")),
        Index("ix_platform_enrollment_tokens_issued", "workspace_id", text("issued_at DESC")),
    )

    id: str = Field(sa_column=Column(Text, primary_key=True))
    workspace_id: str = Field(sa_column=Column(Text, ForeignKey("platform_workspaces.id"), nullable=False))
    #: Hex SHA-256 of the token.
    token_hash: str = Field(sa_column=Column(Text, nullable=False))
    #: The token's last four characters.
    token_hint: str = Field(sa_column=Column(Text, nullable=False))
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    issued_by: str = Field(sa_column=Column(Text, nullable=False))
    correlation_id: str | None = Field(default=None, sa_column=Column(Text))
    #: Null while the token is current; when a rotation replaced it, the end of its grace period.
    valid_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
