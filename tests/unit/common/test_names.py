"""Names defined once as StrEnums cross the Temporal boundary exactly as the strings they replaced:
a running workflow's history, and the payloads in it, must not change."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter

from models.protocols.event_types import EventType
from models.protocols.workflow_io import EventRecord, RunRecordsWrite, Update, WorkItem, WorkKind


def payload(value) -> bytes:
    return pydantic_data_converter.payload_converter.to_payloads([value])[0].data


def test_enum_members_encode_as_their_plain_string_values():
    assert payload(WorkItem(kind=WorkKind.PLAN)) == payload(WorkItem(kind="plan"))
    assert payload(Update.STEP_RUN_QA) == payload("step_run_qa")
    write = RunRecordsWrite(project_id=1, events=[EventRecord(event_type=EventType.STEP_COMPLETED, message="m")])
    plain = RunRecordsWrite(project_id=1, events=[EventRecord(event_type="step_completed", message="m")])
    assert payload(write) == payload(plain)


def test_decoded_payloads_compare_equal_to_the_enum_members():
    [item] = pydantic_data_converter.payload_converter.from_payloads(
        pydantic_data_converter.payload_converter.to_payloads([WorkItem(kind=WorkKind.IMPORT)]), [WorkItem])
    assert item.kind == WorkKind.IMPORT and item.kind == "codemachine_import_job"

