"""The query strings of ``GET /api/tasks`` and ``GET /api/tasks/history``, checked (``QueryParameterError`` = 400).

Absent parameters take their defaults and blank text filters filter nothing; a status or a number, once given,
must be valid (``?limit=`` is a 400). Unknown parameters are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from models.common.limits import MAX_OFFSET, PG_INTEGER_MAX
from models.tasks.status import TaskStatus

_STATUSES = ", ".join(status.value for status in TaskStatus)
#: (default, maximum) page size of each list.
LIST_LIMIT = (100, 500)
HISTORY_LIMIT = (50, 200)


class QueryParameterError(ValueError):
    """A query parameter the list cannot take; ``name`` says which."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class ListQuery:
    status: TaskStatus | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class HistoryQuery:
    status: TaskStatus | None = None
    agent: str | None = None
    #: Case-insensitive substring of ``owner/name``.
    repo: str | None = None
    #: Case-insensitive exact branch.
    branch: str | None = None
    issue_number: int | None = None
    #: Case-insensitive substring of the title, or of the issue number as text.
    search: str | None = None
    #: Inclusive bounds on ``completedAt`` (a date-only ``to`` means the end of that day).
    completed_from: datetime | None = None
    completed_to: datetime | None = None
    limit: int = 50
    offset: int = 0


def _text(params: Mapping[str, str], name: str) -> str | None:
    """A text filter: absent or blank is no filter."""
    value = params.get(name)
    if value is None or not value.strip():
        return None
    if "\x00" in value:
        raise QueryParameterError(name, f"{name} must not contain NUL bytes")
    return value.strip()


def _given(params: Mapping[str, str], name: str) -> str | None:
    """A typed parameter (a status, a number): absent is its default, but given, even blank, it must be valid."""
    value = params.get(name)
    if value is None:
        return None
    if "\x00" in value:
        raise QueryParameterError(name, f"{name} must not contain NUL bytes")
    return value.strip()


def _status(params: Mapping[str, str]) -> TaskStatus | None:
    value = _given(params, "status")
    if value is None:
        return None
    try:
        return TaskStatus(value)
    except ValueError:
        raise QueryParameterError("status", f"status must be one of {_STATUSES}") from None


def _integer(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = _given(params, name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise QueryParameterError(name, f"{name} must be an integer between {low} and {high}")
    return int(value)


def _moment(params: Mapping[str, str], name: str, end_of_day: bool) -> datetime | None:
    value = _text(params, name)
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end_of_day:
                return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(microseconds=1)
            return datetime.combine(day, time(), UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueryParameterError(name, f"{name} must be an ISO 8601 date or date-time (2026-05-13 or "
                                        "2026-05-13T10:00:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _paging(params: Mapping[str, str], limits: tuple[int, int]) -> tuple[int, int]:
    limit = _integer(params, "limit", 1, limits[1])
    offset = _integer(params, "offset", 0, MAX_OFFSET)
    return (limits[0] if limit is None else limit), (offset or 0)


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    limit, offset = _paging(params, LIST_LIMIT)
    return ListQuery(status=_status(params), limit=limit, offset=offset)


def parse_history_query(params: Mapping[str, str]) -> HistoryQuery:
    limit, offset = _paging(params, HISTORY_LIMIT)
    completed_from = _moment(params, "from", end_of_day=False)
    completed_to = _moment(params, "to", end_of_day=True)
    if completed_from and completed_to and completed_from > completed_to:
        raise QueryParameterError("from", "from must not be after to")
    return HistoryQuery(
        status=_status(params),
        agent=_text(params, "agent"),
        repo=_text(params, "repo"),
        branch=_text(params, "branch"),
        issue_number=_integer(params, "issueNumber", 1, PG_INTEGER_MAX),
        search=_text(params, "search"),
        completed_from=completed_from,
        completed_to=completed_to,
        limit=limit,
        offset=offset,
    )
