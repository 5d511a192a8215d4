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


def update_refusal(error: ActivityError, passed_on: frozenset[str], failed: str, failed_type: str
                   ) -> ApplicationError:
    """What an Update whose activity failed answers: the activity's own refusal when its type is one the API
    maps (same message and details), else ``failed_type`` saying ``<failed>: <reason>``. Non-retryable
    either way: an Update's failure is its answer."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type in passed_on:
        return ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True)
    return ApplicationError(f"{failed}: {failure_reason(error)}", type=failed_type, non_retryable=True)
