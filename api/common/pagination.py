"""``limit`` and ``offset`` of every list route: one definition, bounded, 400 beyond.

- ``Limit``: 1–``MAX_LIMIT`` (500); each route documents its default in its signature.
- ``Offset``: 0–``MAX_OFFSET`` (10,000,000). Far above any page walk a client does, and far below
  what would overflow Postgres' ``OFFSET`` (a bigint) or make a visibility listing unbounded.
- ``ArtifactLimit``: 1–``MAX_ARTIFACT_LIMIT`` (100), for rows as large as a command's output.
- ``ClampedLimit``: the seed's rule for event lists — default 50, any integer clamped to 1–500
  instead of refused (``docs/api/orchestrator.md``).

Anything else (not an integer, out of range) is a 400 ``validation_error`` naming ``query.limit``
or ``query.offset``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator

MAX_LIMIT = 500
MAX_OFFSET = 10_000_000
#: Artifacts carry whole command outputs: smaller pages.
MAX_ARTIFACT_LIMIT = 100
DEFAULT_EVENT_LIMIT = 50


def clamp_limit(limit: int | None, default: int = DEFAULT_EVENT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """The documented rule for event lists: no limit is the default; others are clamped to 1..maximum."""
    if limit is None:
        return default
    return max(1, min(limit, maximum))


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1–{MAX_LIMIT}.")]
ArtifactLimit = Annotated[int, Query(ge=1, le=MAX_ARTIFACT_LIMIT,
                                     description=f"Page size, 1–{MAX_ARTIFACT_LIMIT}.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Rows to skip, 0–{MAX_OFFSET:,}.")]
ClampedLimit = Annotated[int, Query(description=f"Page size; default {DEFAULT_EVENT_LIMIT}, clamped to "
                                                f"1–{MAX_LIMIT}."), AfterValidator(clamp_limit)]
