"""Retry policies of activities that talk to other systems: a few tries with a growing pause,
then the workflow handles the failure (records retry on their own terms: ``records.RECORDS_RETRY``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy


def bounded_retry(maximum_attempts: int, maximum_interval: timedelta = timedelta(seconds=10)) -> RetryPolicy:
    return RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=maximum_interval, maximum_attempts=maximum_attempts)


def pause_after(attempt: int, longest: timedelta = timedelta(seconds=30)) -> timedelta:
    """The pause a workflow sleeps after try ``attempt`` when it counts the tries itself (an agent call, an
    accounting call): 1 s, 2 s, 4 s, … at most ``longest``."""
    return min(longest, timedelta(seconds=2 ** (attempt - 1)))
