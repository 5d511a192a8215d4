"""The coding-tasks surface's records in Postgres.

A task (``owner/repo#<issue>``) has executions, one per run; the task row mirrors what its lists
filter and sort on from its latest execution, written in the same transaction as the execution.
At most one execution per task is queued or running (a partial unique index decides concurrent
deliveries, not a read-then-write). GitHub users, their sessions, configs and sealed secrets are
kept for sign-in and for the commenter lookup of the webhook.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field, updated_at_field


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


def _text(nullable: bool = True, **kwargs: Any) -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=nullable, **kwargs))


class CodingTaskRow(SQLModel, table=True):
    __tablename__ = "coding_tasks"
    __table_args__ = (
        Index("ix_coding_tasks_updated_at", "updated_at"),
        Index("ix_coding_tasks_completed_at", "completed_at"),
        # The scope of a user's lists: (owner, name) pairs, compared case-insensitively.
        Index("ix_coding_tasks_repo", text("lower(repo_owner)"), text("lower(repo_name)")),
    )

    id: str = Field(sa_column=Column(Text, primary_key=True))
    repo_owner: str = Field(sa_column=Column(Text, nullable=False))
    repo_name: str = Field(sa_column=Column(Text, nullable=False))
    issue_number: int = Field(sa_column=Column(Integer, nullable=False))
    issue_title: str = Field(default="", sa_column=Column(Text, nullable=False))
    issue_body: str = Field(default="", sa_column=Column(Text, nullable=False))
    issue_url: str | None = _text()
    #: The issue's author (``createdBy``) and who asked for the latest run (``requestedBy``).
    created_by: str | None = _text()
    requested_by: str | None = _text()
    #: GitHub user id of who asked for the latest run (each execution keeps its own requester).
    requester_user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    #: ``webhook`` (installation token) or ``dashboard`` (the requester's OAuth token).
    source: str = Field(sa_column=Column(Text, nullable=False))
    installation_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    clone_url: str = Field(sa_column=Column(Text, nullable=False))
    default_branch: str = Field(default="main", sa_column=Column(Text, nullable=False))
    # The latest execution, mirrored for lists and history.
    execution_id: str | None = _text()
    status: str = Field(sa_column=Column(Text, nullable=False))
    agent: str = Field(sa_column=Column(Text, nullable=False))
    priority: str = Field(sa_column=Column(Text, nullable=False))
    branch: str | None = _text()
    summary: str | None = _text()
    queued_at: datetime | None = _ts()
    started_at: datetime | None = _ts()
    completed_at: datetime | None = _ts()
    #: ``[{time, level, message}]``, one per transition of any execution.
    logs: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class TaskExecutionRow(SQLModel, table=True):
    __tablename__ = "coding_task_executions"
    __table_args__ = (
        Index("ix_coding_task_executions_task_id", "task_id", "queued_at"),
        Index("uq_coding_task_executions_active", "task_id", unique=True,
              postgresql_where=text("status IN ('queued', 'running')")),
        # One comment starts at most one run, however often (and under whatever delivery id) it arrives.
        Index("uq_coding_task_executions_comment", "comment_id", unique=True,
              postgresql_where=text("comment_id IS NOT NULL")),
    )

    id: str = Field(sa_column=Column(Text, primary_key=True))
    task_id: str = Field(sa_column=Column(Text, ForeignKey("coding_tasks.id", ondelete="CASCADE"), nullable=False))
    status: str = Field(sa_column=Column(Text, nullable=False))
    agent: str = Field(sa_column=Column(Text, nullable=False))
    priority: str = Field(sa_column=Column(Text, nullable=False))
    instructions: str = Field(default="", sa_column=Column(Text, nullable=False))
    branch: str = Field(sa_column=Column(Text, nullable=False))
    base_branch: str = Field(sa_column=Column(Text, nullable=False))
    #: The comment that asked for it (webhook runs react to it).
    comment_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    #: Who asked for this run (the commenter, or who created or retried it on the dashboard): its
    #: agent keys, Fly setup and, for a dashboard task, GitHub OAuth token are this user's.
    requested_by: str | None = _text()
    requester_user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    runner: str = Field(sa_column=Column(Text, nullable=False))
    runner_ref: str | None = _text()
    failure_stage: str | None = _text()
    error_message: str | None = _text()
    summary: str | None = _text()
    commit_hash: str | None = _text()
    pr_url: str | None = _text()
    pr_number: int | None = Field(default=None, sa_column=Column(Integer))
    #: When the run's workflow accepted its result (the `complete` Update); later ones are `already_finished`.
    result_received_at: datetime | None = _ts()
    callback_attempts: int | None = Field(default=None, sa_column=Column(Integer))
    callback_max_attempts: int | None = Field(default=None, sa_column=Column(Integer))
    callback_last_http_code: int | None = Field(default=None, sa_column=Column(Integer))
    queued_at: datetime = created_at_field()
    started_at: datetime | None = _ts()
    completed_at: datetime | None = _ts()
    updated_at: datetime = updated_at_field()


class TaskDeliveryRow(SQLModel, table=True):
    """A webhook delivery that started an execution; a redelivery of the same id does nothing."""

    __tablename__ = "coding_task_deliveries"

    delivery_id: str = Field(sa_column=Column(Text, primary_key=True))
    task_id: str = Field(sa_column=Column(Text, nullable=False))
    execution_id: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = created_at_field()


class GitHubUserRow(SQLModel, table=True):
    """A user who signed in with GitHub; the OAuth token is sealed (``capstan.secrets``)."""

    __tablename__ = "task_users"
    __table_args__ = (Index("ix_task_users_login", text("lower(login)")),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    login: str = Field(sa_column=Column(Text, nullable=False))
    name: str | None = _text()
    avatar_url: str | None = _text()
    email: str | None = _text()
    oauth_token: str | None = _text()
    has_installation: bool = Field(default=False, nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class TaskSessionRow(SQLModel, table=True):
    """A signed-in browser: the cookie carries the signed id, nothing else."""

    __tablename__ = "task_sessions"

    id: str = Field(sa_column=Column(Text, primary_key=True))
    user_id: int = Field(sa_column=Column(BigInteger, ForeignKey("task_users.id", ondelete="CASCADE"),
                                          nullable=False, index=True))
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class TaskUserConfigRow(SQLModel, table=True):
    """A user's config without its secrets (those are ``TaskUserSecretRow``s)."""

    __tablename__ = "task_user_configs"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    config: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    updated_at: datetime = updated_at_field()


class TaskUserSecretRow(SQLModel, table=True):
    """One sealed secret of a user: ``flyToken`` or ``<provider>.<ENV_KEY>`` (``anthropic.ANTHROPIC_API_KEY``)."""

    __tablename__ = "task_user_secrets"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(sa_column=Column(Text, primary_key=True))
    sealed_value: str = Field(sa_column=Column(Text, nullable=False))
    changed_at: datetime = updated_at_field()
