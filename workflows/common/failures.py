"""What a failed activity says, for the event that records it, and telling a cancel from a failure."""

from __future__ import annotations

import asyncio

from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception


def failure_reason(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)


def raise_if_cancelled(error: BaseException) -> None:
    """A workflow's cancel reaches the activity it awaits as an ``ActivityError`` caused by a cancel: code
    that handles activity failures calls this first, so a stop is never taken for a failure and swallowed."""
    if is_cancelled_exception(error):
        raise asyncio.CancelledError() from error
