"""Column helpers shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime | None) -> str | None:
    """A timestamp in the wire shape of the platform API: ISO 8601 in UTC, six decimals, ``Z``
    (``2026-05-13T08:00:00.000000Z``: one width, so the text sorts as the time does). None stays None."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment is not None else None


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True),
                 sa_column_kwargs={"server_default": func.now(), "nullable": False})


def updated_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True),
                 sa_column_kwargs={"server_default": func.now(), "onupdate": utcnow, "nullable": False})


def json_field(default: Any = None, **kwargs: Any) -> Any:
    return Field(default=default, sa_type=JSONB, **kwargs)
