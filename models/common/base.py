"""Column helpers shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True),
                 sa_column_kwargs={"server_default": func.now(), "nullable": False})


def updated_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True),
                 sa_column_kwargs={"server_default": func.now(), "onupdate": utcnow, "nullable": False})


def json_field(default: Any = None, **kwargs: Any) -> Any:
    return Field(default=default, sa_type=JSONB, **kwargs)
