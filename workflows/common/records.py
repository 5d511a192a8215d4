"""How workflows write records: one writer so every write has the same timeouts and retries.

A surface declares its write dataclass ``W`` (with an ``events: list[EventRecord]`` field) and
the activity that applies it, and gets a ``RecordWriter[W]``. A write retries until Postgres
answers, except one Postgres refuses for its data (``activities.common.db_errors``): that fails
at once, and the writer records instead the same changes with a ``record_rejected`` event saying
why, or, when the changes themselves were refused, the surface's ``minimal`` form of the write
(for protocol runs, the bare statuses) with that event. No write can hold a workflow, and every
action waiting behind it, forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, Generic, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from models.common.records import RECORD_REJECTED_ERROR, RECORD_REJECTED_EVENT, EventRecord

# Record writes must not be lost: they retry until Postgres answers, unless it refused the data.
RECORDS_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                            maximum_interval=timedelta(seconds=10),
                            non_retryable_error_types=[RECORD_REJECTED_ERROR])
RECORDS_TIMEOUT = timedelta(seconds=30)

RECORD_REJECTED = RECORD_REJECTED_EVENT


class RecordsWrite(Protocol):
    """A surface's write dataclass: whatever it changes, plus the events that explain it."""

    events: list[EventRecord]


W = TypeVar("W", bound=RecordsWrite)


def rejection_reason(error: BaseException) -> str | None:
    """Postgres's reason when ``error`` is a records write it refused for good, else None."""
    cause = error.cause if isinstance(error, ActivityError) else None
    if isinstance(cause, ApplicationError) and cause.type == RECORD_REJECTED_ERROR:
        # Storable whatever the driver quoted: no lone surrogate, no NUL.
        return cause.message.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
    return None


class RecordWriter(Generic[W]):
    """Writes a workflow's records of type ``W`` with the activity ``activity``.

    ``minimal(write, events)``: the part of a refused write that must still be recorded (values the
    workflow chose itself, such as statuses), with ``events``. Dedupe keys come from the workflow
    run and a counter, so they are the same on replay and unique across continue-as-new.
    """

    def __init__(self, activity: str, minimal: Callable[[W, list[EventRecord]], W],
                 result_type: type = list[int]) -> None:
        self.activity = activity
        self.minimal = minimal
        self.result_type = result_type
        self._seq = 0

    def event(self, event_type: str, message: str, *, step_run_id: int | None = None,
              metadata: dict | None = None) -> EventRecord:
        self._seq += 1
        key = f"{workflow.info().workflow_id}/{workflow.info().run_id}/{self._seq}"
        return EventRecord(event_type=event_type, message=message, step_run_id=step_run_id,
                           metadata=metadata, dedupe_key=key)

    async def write(self, write: W) -> None:
        try:
            await self._write(write)
            return
        except ActivityError as error:
            reason = rejection_reason(error)
            if reason is None:
                raise
        refused = [e.event_type for e in write.events]
        explained = self.event(
            RECORD_REJECTED, f"Not recorded ({', '.join(refused) or 'status changes'}): {reason}",
            step_run_id=next((e.step_run_id for e in write.events if e.step_run_id is not None), None),
            metadata={"refused_events": refused, "reason": reason})
        try:
            await self._write(replace(write, events=[explained]))  # type: ignore[type-var]
        except ActivityError as error:
            if rejection_reason(error) is None:
                raise
            await self._write(self.minimal(write, [explained]))

    async def _write(self, write: W) -> Any:
        return await workflow.execute_activity(
            self.activity, write, start_to_close_timeout=RECORDS_TIMEOUT,
            retry_policy=RECORDS_RETRY, result_type=self.result_type,
        )
