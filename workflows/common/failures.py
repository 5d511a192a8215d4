"""What a failed activity says, for the event that records it."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError


def failure_reason(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)
