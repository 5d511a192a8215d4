"""The maintenance wire models keep the documented wire format: a stored record goes out exactly as stored
(byte for byte, in one pass) and fits its model (camelCase, no key added, none turned into ``null``), feed
sources show their ``null`` state fields, and a built-in run's ``webUrl`` names the execution that wrote it."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from capstan.temporal import workflow_ui_url
from integrations.workspaces.builtin import BuiltinWorkspace
from models.maintenance.public import (
    DispatchRecordPublic,
    FeedPollPublic,
    FeedSourceList,
    FeedSourcePublic,
    FlowEventPublic,
    FlowEventWithDispatches,
    MaintenanceAttemptList,
    MaintenanceAttemptPublic,
    WorkspaceEventPublic,
    WorkspaceRunList,
    WorkspaceRunPublic,
    stored_envelope,
)
from models.maintenance.tables import WorkspaceRunRow
from models.maintenance.views import event_view, run_view

ATTEMPT = {
    "id": "patch:upstream-tags:v1.1.0:upstream.release:dispatch:2026-11-25T07:09:31.251Z", "status": "changed",
    "eventId": "patch:upstream-tags:v1.1.0:upstream.release", "message": "rebased 3 patch(es)",
    "createdAt": "2026-11-25T07:09:31.251Z", "eventType": "upstream.release", "operation": "dispatch",
    "updatedAt": "2026-11-25T07:09:31.448Z", "completedAt": "2026-11-25T07:09:31.433Z", "upstreamRef": "v1.1.0",
    "upstreamSha": "05924e5f623352175c037cec263da7815a5312b8", "upstreamTag": "v1.1.0", "upstreamRepo": "acme/widget",
    "candidateRefs": [{"ref": "refs/heads/candidates/v1.1.0", "sha": "fbb25aba48710ca0ea4609772ccf5d054b626107",
                       "kind": "branch", "repo": "/srv/fork.git", "pushed": True, "remote": "/srv/fork.git"}],
    "workspaceRunIds": ["patch-stack-rebase-27ea253be6121b8a00b2"],
    "workspaceRunStatuses": {"patch-stack-rebase-27ea253be6121b8a00b2": "changed"},
    "workspaceThreadRefs": [{"threadId": "t-1", "runId": "patch-stack-rebase-27ea253be6121b8a00b2"}],
}
SKIPPED_ATTEMPT = {
    "id": "patch:upstream-main:0ce2:upstream.push:dispatch:2026-11-25T07:02:33.715Z", "status": "skipped",
    "eventId": "patch:upstream-main:0ce2:upstream.push", "message": "no automation matches",
    "createdAt": "2026-11-25T07:02:33.715Z", "eventType": "upstream.push", "operation": "dispatch",
    "updatedAt": "2026-11-25T07:02:33.715Z", "completedAt": "2026-11-25T07:02:33.715Z",
    "upstreamRef": "refs/heads/main", "upstreamRepo": "acme/widget", "candidateRefs": [], "workspaceRunIds": [],
}
DISPATCH = {"runIds": ["patch-stack-rebase-441bcd034bc34deb1e2a"], "status": "dispatched", "target": "local",
            "eventId": "patch:upstream-tags:release/1.2:upstream.release", "matched": 1,
            "createdAt": "2026-11-25T07:03:00.783Z", "eventType": "upstream.release", "operation": "dispatch",
            "transport": "local", "idempotent": False}
FAILED_DISPATCH = {"eventId": "e", "eventType": "t", "operation": "replay", "target": "workspace-backend",
                   "transport": "workspace-http", "workspaceBackendUrl": "http://backend.invalid",
                   "url": "http://backend.invalid/events/e/replay", "status": "failed", "httpStatus": 500,
                   "error": "Flow backend POST /events/e/replay failed with 500",
                   "createdAt": "2026-11-25T07:03:00.783Z"}
EVENT = {"id": "patch:upstream-main:0ce2:upstream.push", "type": "upstream.push", "source": "patch",
         "payload": {"raw": {"id": "0ce2"}, "ref": "refs/heads/main", "forkUrl": "/srv/fork.git", "extra": [1, None]},
         "occurredAt": "2026-11-25T07:02:33.607Z", "receivedAt": "2026-11-25T07:02:33.607Z"}


def wire(model: BaseModel) -> dict[str, Any]:
    """What the routes send: by alias, unset keys left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


@pytest.mark.parametrize(("model", "record"), [
    (MaintenanceAttemptPublic, ATTEMPT), (MaintenanceAttemptPublic, SKIPPED_ATTEMPT),
    (DispatchRecordPublic, DISPATCH), (DispatchRecordPublic, FAILED_DISPATCH),
    (FlowEventPublic, EVENT), (FlowEventPublic, {"id": "patch:s:e0:t", "type": "t", "payload": {}}),
    (MaintenanceAttemptPublic, {**SKIPPED_ATTEMPT, "laterKey": {"kept": True}}),
], ids=["attempt", "skipped-attempt", "dispatch", "failed-dispatch", "event", "sparse-event", "unknown-key"])
def test_a_stored_record_goes_out_exactly_as_stored(model: type[BaseModel], record: dict):
    assert wire(model.model_validate(record)) == record


@pytest.mark.parametrize(("model", "fields"), [
    (MaintenanceAttemptList, {"attempts": [ATTEMPT, SKIPPED_ATTEMPT]}),
    (FlowEventWithDispatches, {"event": EVENT, "dispatches": [DISPATCH, FAILED_DISPATCH]}),
    (WorkspaceRunList, {"runs": [run_view({"id": "run-1", "status": "queued"})], "event_id": "e1"}),
], ids=["attempts", "event-with-dispatches", "runs"])
def test_an_envelope_sends_its_stored_records_byte_for_byte_without_a_second_pass(model, fields):
    """What the routes do: the envelope around the stored dicts, serialised as FastAPI does (by alias, unset
    keys left out), gives the records' own JSON, key order included, with no serialisation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sent = TypeAdapter(model).dump_json(stored_envelope(model, **fields), by_alias=True, exclude_unset=True)
    wire_names = {"event_id": "eventId"}
    expected = {wire_names.get(name, name): value for name, value in fields.items()}
    assert sent == json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()


def test_run_and_event_views_go_out_as_built():
    raw = {"id": "run-1", "eventId": "e1", "flowName": "rebase", "flowVersion": 2, "status": "completed",
           "result": {"status": "needs_intervention", "message": "conflict"}, "stdout": "ok\n",
           "createdAt": "2026-05-13T00:00:01.000Z", "webUrl": "http://ui/run-1"}
    view = run_view(raw)
    assert wire(WorkspaceRunPublic.model_validate(view)) == view
    event = event_view({"event": {"id": "e1", "type": "t", "payload": None, "runIds": ["run-1"]}, "runs": [raw]})
    assert wire(WorkspaceEventPublic.model_validate(event)) == event and "payload" not in event


def test_feed_source_state_fields_are_null_until_they_have_a_value_and_errors_only_when_there_are_some():
    fresh = FeedSourcePublic(id="s", provider="npm", event="release", url="https://registry.npmjs.org/left-pad",
                             poll_interval_seconds=300, prime_only=True, cursor=None, last_polled_at=None,
                             last_error=None, next_run_at=None, paused=None)
    assert wire(FeedSourceList(sources=[fresh])) == {"sources": [{
        "id": "s", "provider": "npm", "event": "release", "url": "https://registry.npmjs.org/left-pad",
        "pollIntervalSeconds": 300, "primeOnly": True, "cursor": None, "lastPolledAt": None, "lastError": None,
        "nextRunAt": None, "paused": None}]}
    assert wire(FeedSourceList(sources=[], errors=["feed source 'x': bad"])) == {"sources": [],
                                                                                 "errors": ["feed source 'x': bad"]}
    assert wire(FeedPollPublic(source_id="s", primed=False, entries=2, events=[])) == {
        "sourceId": "s", "primed": False, "entries": 2, "events": []}


def run_row(**fields) -> WorkspaceRunRow:
    return WorkspaceRunRow(**{"id": "patch-stack-rebase-1", "event_id": "e1", "flow_name": "patch-stack-rebase",
                              "status": "completed", "created_at": datetime(2026, 5, 13, tzinfo=UTC), **fields})


def test_a_built_in_runs_web_url_names_the_execution_that_wrote_it():
    builtin = BuiltinWorkspace("capstan-maintenance", "http://ui.invalid", "default")
    raw = builtin.raw_run(run_row(workflow_run_id="0195-run"))
    workflow_id = "capstan-maintenance:workspace-run:patch-stack-rebase-1"
    assert raw["webUrl"] == workflow_ui_url("http://ui.invalid", "default", workflow_id, "0195-run")
    assert raw["webUrl"].endswith(f"/workflows/{workflow_id}/0195-run") and raw["workflowRunId"] == "0195-run"
    # A queued run's workflow has not written yet: there is no execution to link.
    queued = builtin.raw_run(run_row(status="queued"))
    assert "webUrl" not in queued and "webUrl" not in run_view(queued)
