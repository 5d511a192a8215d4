"""RunView and EventView: what the workspace routes show of any backend's runs and events."""

from __future__ import annotations

import json

import pytest

from models.maintenance.views import event_view, run_view

CREATED = "2026-05-13T00:00:01.000Z"
STARTED = "2026-05-13T00:00:02.000Z"
DONE = "2026-05-13T00:00:09.000Z"


def reference_run(**fields) -> dict:
    """A run as the reference backend stores it."""
    return {"id": "run-1", "eventId": "e1", "flowName": "rebase", "stepName": "replay", "status": "completed",
            "backend": "local", "executor": "codex", "eventPath": "/tmp/e1.json", "createdAt": CREATED,
            "startedAt": STARTED, "completedAt": DONE, **fields}


def test_a_reference_run_with_a_json_result_string_shows_its_result_status():
    raw = reference_run(resultJson=json.dumps({"status": "changed", "message": "rebased"}), stdout="ok\n",
                        stderr="warning\n")

    view = run_view({"run": raw})

    assert view == {
        "id": "run-1", "eventId": "e1", "flowName": "rebase", "stepName": "replay", "backend": "local",
        "processStatus": "completed", "resultPayload": {"status": "changed", "message": "rebased"},
        "resultStatus": "changed", "status": "changed", "effectiveStatus": "changed", "needsAttention": False,
        "attemptCount": 0, "attempts": [],
        "output": [{"kind": "stdout", "text": "ok\n"}, {"kind": "stderr", "text": "warning\n"}],
        "latestOutput": "warning\n", "createdAt": CREATED, "startedAt": STARTED, "completedAt": DONE, "raw": raw}


@pytest.mark.parametrize("status", ["blocked", "needs_intervention"])
def test_a_run_that_needs_a_person_says_so(status):
    view = run_view(reference_run(resultJson=json.dumps({"status": status, "message": "conflict"})))

    assert view["effectiveStatus"] == status
    assert view["needsAttention"] is True


def test_a_result_key_wins_over_result_json():
    view = run_view(reference_run(result={"status": "blocked"}, resultJson=json.dumps({"status": "changed"}),
                                  webUrl="http://temporal-ui/run-1"))

    assert view["resultPayload"] == {"status": "blocked"}
    assert view["status"] == "blocked"
    assert view["webUrl"] == "http://temporal-ui/run-1"


def test_an_unparsable_result_json_is_kept_as_text_and_the_process_status_counts():
    view = run_view(reference_run(status="failed", resultJson="not json", error="exit 1"))

    assert view["resultPayload"] == "not json"
    assert view["resultStatus"] == "failed"
    assert view["effectiveStatus"] == "failed"
    assert view["error"] == "exit 1"


def test_an_unknown_result_status_falls_back_to_the_process_status():
    view = run_view(reference_run(status="running", resultJson=json.dumps({"status": "weird"}), completedAt=None))

    assert "resultStatus" not in view
    assert view["status"] == view["effectiveStatus"] == "running"
    assert view["needsAttention"] is False
    assert "completedAt" not in view


def test_a_run_without_any_status_is_unknown_and_omits_absent_fields():
    view = run_view({"runId": "r-9"})

    assert view == {"id": "r-9", "status": "unknown", "effectiveStatus": "unknown", "needsAttention": False,
                    "attemptCount": 0, "attempts": [], "output": [], "raw": {"runId": "r-9"}}


def test_output_items_finished_at_and_attempts_of_other_backends_are_kept():
    raw = {"id": "r-2", "status": "completed", "flowVersion": 3, "runner": "docker", "finishedAt": DONE,
           "updatedAt": DONE, "attempts": [{"n": 1}, {"n": 2}],
           "output": [{"kind": "stdout", "text": "one", "createdAt": STARTED}, {"kind": "log", "text": "two"},
                      "junk", {"kind": "stdout"}], "stdout": "ignored"}

    view = run_view(raw)

    assert view["flowVersion"] == 3
    assert view["runner"] == "docker"
    assert view["completedAt"] == DONE
    assert view["updatedAt"] == DONE
    assert view["attemptCount"] == 2
    assert view["attempts"] == [{"n": 1}, {"n": 2}]
    assert view["output"] == [{"kind": "stdout", "text": "one", "createdAt": STARTED}, {"kind": "log", "text": "two"}]
    assert view["latestOutput"] == "two"


def test_unknown_backend_keys_stay_under_raw_only():
    raw = reference_run(executor="codex", eventPath="/tmp/e1.json", secretish="x")

    view = run_view(raw)

    assert not {"executor", "eventPath", "secretish"} & view.keys()
    assert view["raw"]["eventPath"] == "/tmp/e1.json"


def test_an_event_read_answer_brings_its_sibling_runs():
    event = {"id": "e1", "type": "upstream.release", "source": "patch", "occurredAt": CREATED,
             "receivedAt": STARTED, "payload": {"tag": "v1"}, "runIds": ["run-0", "run-1"]}
    answer = {"event": event, "runs": [reference_run(), reference_run(id="run-2", status="queued",
                                                                      completedAt=None)]}

    view = event_view(answer)

    assert view["id"] == "e1"
    assert view["type"] == "upstream.release"
    assert view["source"] == "patch"
    assert view["occurredAt"] == CREATED
    assert view["receivedAt"] == STARTED
    assert view["payload"] == {"tag": "v1"}
    assert view["runIds"] == ["run-0", "run-1", "run-2"]
    assert [run["id"] for run in view["runs"]] == ["run-1", "run-2"]
    assert view["runs"][1]["status"] == "queued"
    assert view["raw"] == event
    assert "createdAt" not in view


def test_an_event_lists_its_own_runs_and_given_runs_win():
    event = {"eventId": "e2", "createdAt": CREATED, "runs": [{"id": "own", "status": "running"}]}

    assert [run["id"] for run in event_view(event)["runs"]] == ["own"]
    assert event_view(event)["id"] == "e2"
    assert event_view(event)["createdAt"] == CREATED
    given = event_view(event, runs=[{"id": "given", "status": "completed"}])
    assert [run["id"] for run in given["runs"]] == ["given"]
    assert given["runIds"] == ["given"]
    assert event_view({"id": "e3"}) == {"id": "e3", "runIds": [], "runs": [], "raw": {"id": "e3"}}
