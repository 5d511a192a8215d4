"""Database errors no retry can fix become non-retryable activity failures.

A write Postgres refuses for its data (a number out of range, text it cannot
hold, invalid JSON, a violated constraint) fails the same way on every try;
retried, it held the workflow that waited for it, and every later action on
the run, forever. Such an error becomes an ``ApplicationError`` of type
``RecordRejected`` that is never retried, and the workflow records why.

Everything else keeps retrying: lost connections, serialization failures, an
admin shutdown, a full pool, and schema mismatches (``ProgrammingError``: a
migration not yet run), which an operator fixes without touching the data.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import psycopg
from sqlalchemy import exc as sa_exc
from temporalio.exceptions import ApplicationError

from models.common.records import RECORD_REJECTED_ERROR

RECORD_REJECTED = RECORD_REJECTED_ERROR
MAX_REASON_CHARS = 300

# Raised by Postgres (and wrapped by SQLAlchemy) or by psycopg while converting a parameter.
_REFUSED = (sa_exc.DataError, sa_exc.IntegrityError, sa_exc.NotSupportedError,
            psycopg.DataError, psycopg.IntegrityError, psycopg.NotSupportedError,
            UnicodeError, OverflowError)

P = ParamSpec("P")
R = TypeVar("R")


def refusal_reason(error: BaseException) -> str | None:
    """Why the database refused the data for good, or None when another try may succeed."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return None
    if isinstance(error, sa_exc.StatementError) and not isinstance(error, sa_exc.DBAPIError) \
            and isinstance(error.orig, _REFUSED):
        error = error.orig  # a bound value SQLAlchemy itself could not convert
    if not isinstance(error, _REFUSED):
        return None
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) and error.orig is not None else error
    diag = getattr(cause, "diag", None)
    # The primary message only: DETAIL and CONTEXT lines, and SQLAlchemy's text, quote whole rows and parameters.
    reason = (diag.message_primary if diag is not None else None) or (str(cause).splitlines() or [""])[0]
    return (reason or type(cause).__name__)[:MAX_REASON_CHARS]


def refuses_bad_records(write: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a database write so data Postgres refuses fails it at once, never retried."""

    @functools.wraps(write)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await write(*args, **kwargs)
        except Exception as error:
            reason = refusal_reason(error)
            if reason is None:
                raise
            # ``from None``: the wrapped error's text holds the statement's parameters.
            raise ApplicationError(f"the database refused the record: {reason}", type=RECORD_REJECTED,
                                   non_retryable=True) from None

    return guarded
