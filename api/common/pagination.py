"""``limit`` and ``offset`` of every list route: one definition, bounded, 400 beyond.

- ``Limit``: 1–``MAX_LIMIT`` (500); each route documents its default in its signature.
- ``Offset``: 0–``MAX_OFFSET`` (10,000,000). Far above any page walk a client does, and far below
  what would overflow Postgres' ``OFFSET`` (a bigint) or make a visibility listing unbounded.
- ``ArtifactLimit``: 1–``MAX_ARTIFACT_LIMIT`` (100), for rows as large as a command's output.
- ``ClampedLimit``: the documented rule for event lists — default 50, any integer clamped to 1–500
  instead of refused (``docs/api/orchestrator.md``).

Anything else (not an integer, out of range) is a 400 ``validation_error`` naming ``query.limit``
or ``query.offset``.

Sorting (``sortBy``/``sortOrder``, platform v1's names): each list declares ``SortFields`` — the
field names a client may sort by, each mapped to its column, and the default. An unknown field
or order is a 400 ``invalid_sort`` listing the allowed values. ``ListPage`` is the
``{data, page, sort, filters}`` envelope of platform v1; today's routes answer bare lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import ColumnElement
from sqlmodel.sql.expression import SelectOfScalar

from api.common.errors import BadRequest
from models.common.limits import MAX_OFFSET

T = TypeVar("T")

MAX_LIMIT = 500
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


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class Sort:
    by: str
    order: SortOrder


@dataclass(frozen=True)
class SortFields:
    """The fields one list may be sorted by (API name → column), and its default order."""

    columns: Mapping[str, Any]
    default_by: str
    default_order: SortOrder = SortOrder.ASC

    def __post_init__(self) -> None:
        if self.default_by not in self.columns:
            raise ValueError(f"default sort field {self.default_by!r} is not one of {sorted(self.columns)}")

    def parse(self, by: str | None, order: str | None) -> Sort:
        """The sort a client asked for; 400 ``invalid_sort`` naming the allowed values otherwise."""
        if by is not None and by not in self.columns:
            raise BadRequest(f"cannot sort by {by!r}; sortBy is one of: {', '.join(sorted(self.columns))}",
                             code="invalid_sort")
        if order is not None and order not in SortOrder.__members__.values():
            raise BadRequest(f"sortOrder is 'asc' or 'desc', not {order!r}", code="invalid_sort")
        return Sort(by=by or self.default_by, order=SortOrder(order) if order else self.default_order)

    def dependency(self) -> Callable[..., Sort]:
        """A FastAPI dependency reading ``sortBy`` and ``sortOrder`` for this list."""
        allowed = ", ".join(sorted(self.columns))

        # Defaults, not ``Annotated``: annotations are strings here and could not name this call's values.
        def sort(sort_by: str | None = Query(None, alias="sortBy", description=(
                     f"Sort field: one of {allowed}; default {self.default_by}.")),
                 sort_order: str | None = Query(None, alias="sortOrder", description=(
                     f"asc or desc; default {self.default_order.value}."))) -> Sort:
            return self.parse(sort_by, sort_order)

        return sort

    def apply(self, query: SelectOfScalar[T], sort: Sort, tiebreak: ColumnElement | None = None
              ) -> SelectOfScalar[T]:
        """``query`` ordered by ``sort`` (then by ``tiebreak``, for a stable page walk)."""
        column = self.columns[sort.by]
        ordered = query.order_by(column.desc() if sort.order == SortOrder.DESC else column.asc())
        return ordered.order_by(tiebreak) if tiebreak is not None else ordered


def page_of(query: SelectOfScalar[T], limit: int, offset: int) -> SelectOfScalar[T]:
    return query.limit(limit).offset(offset)


# --- platform v1's list envelope -------------------------------------------------------------------

class PageInfo(BaseModel):
    limit: int
    offset: int
    returned: int
    total: int | None = Field(description="Rows matching the filters; null when the list does not count them.")


class SortInfo(BaseModel):
    by: str
    order: SortOrder


class ListPage(BaseModel, Generic[T]):
    """``{data, page: {limit, offset, returned, total}, sort: {by, order}, filters}``."""

    data: list[T]
    page: PageInfo
    sort: SortInfo | None = None
    filters: dict[str, Any] = Field(default_factory=dict)


def list_page(data: Sequence[T], *, limit: int, offset: int, total: int | None = None, sort: Sort | None = None,
              filters: Mapping[str, Any] | None = None) -> ListPage[T]:
    """The envelope of one page; ``filters`` keeps only the filters the client set."""
    return ListPage[T](
        data=list(data), page=PageInfo(limit=limit, offset=offset, returned=len(data), total=total),
        sort=SortInfo(by=sort.by, order=sort.order) if sort else None,
        filters={k: v for k, v in (filters or {}).items() if v is not None})
