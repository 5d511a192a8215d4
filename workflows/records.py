"""How workflows write records: one helper so every write has the same timeouts and retries."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from models.workflow_io import ActivityName, EventRecord, RunRecordsWrite

# Record writes must not be lost: they retry until Postgres answers.
RECORDS_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                            maximum_interval=timedelta(seconds=10))


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
        await workflow.execute_activity(
            ActivityName.WRITE_RUN_RECORDS, write, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORDS_RETRY, result_type=list[int],
        )

    async def record(self, *events: EventRecord, protocol_status: str | None = None, **fields) -> None:
        await self.write(RunRecordsWrite(project_id=self.project_id, protocol_run_id=self.protocol_run_id,
                                         protocol_status=protocol_status, events=list(events), **fields))
