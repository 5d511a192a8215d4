"""How workflows write records: one writer so every write has the same timeouts and retries.

A surface declares its write dataclass ``W`` (with an ``events: list[EventRecord]`` field) and
the activity that applies it, and gets a ``RecordWriter[W]``. A write retries until Postgres
answers, except one Postgres refuses for its data (``integrations.stores.db_errors``): that fails
at once, and the writer records instead the same changes with a ``record_rejected`` event saying
why, or, when the changes themselves were refused, the surface's ``minimal`` form of the write
(for protocol runs, the bare statuses) with that event. No write can hold a workflow, and every
action waiting behind it, forever.

Writes run as local activities: the worker runs them inside the workflow task, so an Update whose
work is a state change and its write completes in one workflow task, with no trip through the
server's task queues. A write Postgres does not take within ``LOCAL_WRITE_BUDGET`` goes on as a
normal activity (same write, same dedupe keys), retried by the server for as long as it takes.
Histories from before (behind the ``LOCAL_RECORD_WRITES`` patch) used the surface's
``legacy_activity`` as a normal activity and replay with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any, Generic, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

from models.common.records import RECORD_REJECTED_ERROR, RECORD_REJECTED_EVENT, EventRecord
from workflows.common.failures import raise_if_cancelled

# Record writes must not be lost: they retry until Postgres answers, unless it refused the data.
RECORDS_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                            maximum_interval=timedelta(seconds=10),
                            non_retryable_error_types=[RECORD_REJECTED_ERROR])
RECORDS_TIMEOUT = timedelta(seconds=30)
#: How long a write retries as a local activity (inside the workflow task) before it goes on as a
#: normal activity. Bounded because a worker does not stop while a local activity retries.
LOCAL_WRITE_BUDGET = timedelta(seconds=10)

RECORD_REJECTED = RECORD_REJECTED_EVENT

#: Patch id marking histories whose record writes are local activities (and may create steps).
LOCAL_RECORD_WRITES = "local-record-writes"


class RecordsWrite(Protocol):
    """A surface's write dataclass: whatever it changes, plus the events that explain it."""

    events: list[EventRecord]


W = TypeVar("W", bound=RecordsWrite)


class WriteRejected(Exception):  # noqa: N818 - named for what happened, as ApplicationError types are
    """A records write Postgres refused for its data; never retried. ``reason`` is storable text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def rejection_reason(error: BaseException) -> str | None:
    """Postgres's reason when ``error`` (an activity's, or a local activity's own failure) is a records
    write it refused for good, else None."""
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError) and cause.type == RECORD_REJECTED_ERROR:
        # Storable whatever the driver quoted: no lone surrogate, no NUL.
        return cause.message.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
    return None


async def execute_records_activity(activity: str, arg: Any, result_type: type) -> Any:
    """A records write as a normal activity: retried by the server until Postgres answers."""
    return await workflow.execute_activity(activity, arg, start_to_close_timeout=RECORDS_TIMEOUT,
                                           retry_policy=RECORDS_RETRY, result_type=result_type)


async def execute_local_write(activity: str, arg: Any, result_type: type) -> Any:
    """A records write as a local activity, going on as a normal activity past ``LOCAL_WRITE_BUDGET``."""
    try:
        return await workflow.execute_local_activity(
            activity, arg, start_to_close_timeout=LOCAL_WRITE_BUDGET, schedule_to_close_timeout=LOCAL_WRITE_BUDGET,
            retry_policy=RECORDS_RETRY, result_type=result_type)
    except (ActivityError, ApplicationError, TemporalTimeoutError) as error:
        raise_if_cancelled(error)  # a cancelled workflow, not a slow Postgres
        if rejection_reason(error) is not None:
            raise
    # Postgres did not answer within the budget: keep retrying as a normal activity, which the
    # server holds, so the worker can stop (or die) without losing the write.
    return await execute_records_activity(activity, arg, result_type)


@contextlib.contextmanager
def refused_as_write_rejected() -> Iterator[None]:
    """Turn a refused records write into ``WriteRejected``, however the activity reported it."""
    try:
        yield
    except (ActivityError, ApplicationError) as error:
        reason = rejection_reason(error)
        if reason is None:
            raise
        raise WriteRejected(reason) from None


class RecordWriter(Generic[W]):
    """Writes a workflow's records of type ``W`` with the activity ``activity``.

    ``minimal(write, events)``: the part of a refused write that must still be recorded (values the
    workflow chose itself, such as statuses), with ``events``. Dedupe keys come from the workflow
    run and a counter, so they are the same on replay and unique across continue-as-new.
    """

    def __init__(self, activity: str, minimal: Callable[[W, list[EventRecord]], W], result_type: type = list[int],
                 legacy_activity: str | None = None, legacy_result_type: type = list[int]) -> None:
        self.activity = activity
        self.minimal = minimal
        self.result_type = result_type
        self.legacy_activity = legacy_activity
        self.legacy_result_type = legacy_result_type
        self._seq = 0

    def event(self, event_type: str, message: str, *, step_run_id: int | None = None,
              metadata: dict | None = None, step_index: int | None = None) -> EventRecord:
        self._seq += 1
        key = f"{workflow.info().workflow_id}/{workflow.info().run_id}/{self._seq}"
        return EventRecord(event_type=event_type, message=message, step_run_id=step_run_id,
                           metadata=metadata, dedupe_key=key, step_index=step_index)

    @staticmethod
    def writes_locally() -> bool:
        """True unless replaying a history from before record writes became local activities."""
        return workflow.patched(LOCAL_RECORD_WRITES)

    async def write(self, write: W) -> None:
        try:
            await self.write_once(write)
            return
        except WriteRejected as rejected:
            reason = rejected.reason
        refused = [e.event_type for e in write.events]
        explained = self.event(
            RECORD_REJECTED, f"Not recorded ({', '.join(refused) or 'status changes'}): {reason}",
            step_run_id=next((e.step_run_id for e in write.events if e.step_run_id is not None), None),
            metadata={"refused_events": refused, "reason": reason})
        try:
            await self.write_once(replace(write, events=[explained]))  # type: ignore[type-var]
        except WriteRejected:
            await self.write_once(self.minimal(write, [explained]))

    async def write_once(self, write: W) -> Any:
        """The write and its result; one Postgres refuses raises ``WriteRejected``."""
        with refused_as_write_rejected():
            if self.legacy_activity is not None and not self.writes_locally():
                return await execute_records_activity(self.legacy_activity, write, self.legacy_result_type)
            return await execute_local_write(self.activity, write, self.result_type)
