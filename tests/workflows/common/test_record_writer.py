"""``RecordWriter[W]`` serves any surface's record write: a made-up surface with its own write type and
activity name gets the same rejected-write fallback as protocol runs, without copying the writer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from models.common.records import RECORD_REJECTED_ERROR, EventRecord
from workflows.common.records import RecordWriter

WRITE_NOTES = "write_notes_of_another_surface"


@dataclass
class NoteWrite:
    note: str
    events: list[EventRecord] = field(default_factory=list)


def note_cleared(write: NoteWrite, events: list[EventRecord]) -> NoteWrite:
    return NoteWrite(note="", events=events)


@workflow.defn(name="NotesWorkflow")
class NotesWorkflow:
    @workflow.run
    async def run(self, note: str) -> None:
        records = RecordWriter[NoteWrite](WRITE_NOTES, note_cleared)
        await records.write(NoteWrite(note=note, events=[records.event("note_added", f"Added {note!r}")]))


class NotesTable:
    """The stub database: refuses a note with a NUL, as Postgres refuses such text."""

    def __init__(self) -> None:
        self.rows: list[NoteWrite] = []

    @activity.defn(name=WRITE_NOTES)
    async def write_notes(self, write: NoteWrite) -> list[int]:
        if "\x00" in write.note:
            raise ApplicationError("invalid byte sequence", type=RECORD_REJECTED_ERROR, non_retryable=True)
        self.rows.append(write)
        return list(range(len(write.events)))


async def run_notes(client, note: str) -> NotesTable:
    table = NotesTable()
    queue = f"notes-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[NotesWorkflow], activities=[table.write_notes],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        await client.execute_workflow(NotesWorkflow.run, note, id=f"notes-{uuid.uuid4().hex}", task_queue=queue)
    return table


async def test_another_surface_writes_its_own_records_with_the_shared_writer(workflow_env):
    table = await run_notes(workflow_env.client, "hello")
    [row] = table.rows
    assert row.note == "hello" and [e.event_type for e in row.events] == ["note_added"]
    assert row.events[0].dedupe_key  # replay-stable keys, as for protocol runs


async def test_a_refused_write_of_another_surface_records_its_minimal_form_and_why(workflow_env):
    table = await run_notes(workflow_env.client, "bad\x00note")
    [row] = table.rows  # the full write and the write with the explanation were refused; the minimal one is in
    assert row.note == ""
    [event] = row.events
    assert event.event_type == "record_rejected"
    assert event.metadata == {"refused_events": ["note_added"], "reason": "invalid byte sequence"}
