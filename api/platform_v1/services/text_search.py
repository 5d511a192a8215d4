"""``q`` of the engine's lists that search their rows' columns (executions, agents): a case-insensitive
substring of any of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, cast, or_


def contains_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def any_contains(columns: tuple[Any, ...], text: str) -> Any:
    pattern = contains_pattern(text)
    return or_(*(cast(column, Text).ilike(pattern) for column in columns))
