"""How workflows write records: one helper so every write has the same timeouts and retries.

A write retries until Postgres answers, except one Postgres refuses for its
data (``activities.common.db_errors``): that fails at once, and the writer records
instead the same changes with a ``record_rejected`` event saying why, or, when
the changes themselves were refused, the bare statuses with that event. No
write can hold a workflow, and every action waiting behind it, forever.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from models.protocols.workflow_io import ActivityName, EventRecord, RunRecordsWrite, StepStatusChange, UpdateErrorType

# Record writes must not be lost: they retry until Postgres answers, unless it refused the data.
RECORDS_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                            maximum_interval=timedelta(seconds=10),
                            non_retryable_error_types=[UpdateErrorType.RECORD_REJECTED])

RECORD_REJECTED = "record_rejected"


def rejection_reason(error: BaseException) -> str | None:
    """Postgres's reason when ``error`` is a records write it refused for good, else None."""
    cause = error.cause if isinstance(error, ActivityError) else None
    if isinstance(cause, ApplicationError) and cause.type == UpdateErrorType.RECORD_REJECTED:
        # Storable whatever the driver quoted: no lone surrogate, no NUL.
        return cause.message.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
    return None


def statuses_only(write: RunRecordsWrite, events: list[EventRecord]) -> RunRecordsWrite:
    """Only the statuses of ``write`` (values the workflow chose from its enums), with ``events``."""
    return RunRecordsWrite(project_id=write.project_id, protocol_run_id=write.protocol_run_id,
                           protocol_status=write.protocol_status, events=events,
                           step_changes=[StepStatusChange(step_run_id=c.step_run_id, status=c.status,
                                                          retries=c.retries) for c in write.step_changes])


class RecordWriter:
    """Writes a workflow's records; dedupe keys come from the run id and a counter, so they
    are the same on replay and unique across continue-as-new."""

    def __init__(self, project_id: int, protocol_run_id: int | None) -> None:
        self.project_id = project_id
        self.protocol_run_id = protocol_run_id
        self._seq = 0

    def event(self, event_type: str, message: str, *, step_run_id: int | None = None,
              metadata: dict | None = None) -> EventRecord:
        self._seq += 1
        key = f"{workflow.info().workflow_id}/{workflow.info().run_id}/{self._seq}"
        return EventRecord(event_type=event_type, message=message, step_run_id=step_run_id,
                           metadata=metadata, dedupe_key=key)

    async def write(self, write: RunRecordsWrite) -> None:
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
            await self._write(replace(write, events=[explained]))
        except ActivityError as error:
            if rejection_reason(error) is None:
                raise
            await self._write(statuses_only(write, [explained]))

    async def _write(self, write: RunRecordsWrite) -> None:
        await workflow.execute_activity(
            ActivityName.WRITE_RUN_RECORDS, write, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORDS_RETRY, result_type=list[int],
        )

    async def record(self, *events: EventRecord, protocol_status: str | None = None, **fields) -> None:
        await self.write(RunRecordsWrite(project_id=self.project_id, protocol_run_id=self.protocol_run_id,
                                         protocol_status=protocol_status, events=list(events), **fields))
