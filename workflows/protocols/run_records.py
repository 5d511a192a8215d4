"""The protocols surface's record writes: ``RunRecordsWrite`` through ``record_run_changes``."""

from __future__ import annotations

from models.protocols.workflow_io import (
    ActivityName,
    EventRecord,
    RunRecordsResult,
    RunRecordsWrite,
    StepStatusChange,
)
from workflows.common.records import RecordWriter


def statuses_only(write: RunRecordsWrite, events: list[EventRecord]) -> RunRecordsWrite:
    """Only the statuses of ``write`` (values the workflow chose from its enums), with ``events``."""
    return RunRecordsWrite(project_id=write.project_id, protocol_run_id=write.protocol_run_id,
                           protocol_status=write.protocol_status, events=events,
                           step_changes=[StepStatusChange(step_run_id=c.step_run_id, status=c.status,
                                                          retries=c.retries) for c in write.step_changes])


class RunRecordWriter(RecordWriter[RunRecordsWrite]):
    """Writes the records of one project (and protocol run, when it has one)."""

    def __init__(self, project_id: int, protocol_run_id: int | None) -> None:
        super().__init__(ActivityName.RECORD_RUN_CHANGES, statuses_only, RunRecordsResult,
                         legacy_activity=ActivityName.WRITE_RUN_RECORDS)
        self.project_id = project_id
        self.protocol_run_id = protocol_run_id

    async def record(self, *events: EventRecord, protocol_status: str | None = None, **fields) -> None:
        await self.write(RunRecordsWrite(project_id=self.project_id, protocol_run_id=self.protocol_run_id,
                                         protocol_status=protocol_status, events=list(events), **fields))
