"""What an attempt says after its dispatch and after its runs: status, message, error, refs and times."""

from __future__ import annotations

import pytest

from models.maintenance.attempts import (
    attempt_changed,
    attempt_for_dispatch,
    candidate_refs_of,
    dedupe_candidate_refs,
    derive_attempt,
)

EVENT_ID = "patch:gh-rel:tag:github.com,2008:Repository/9654/rust-v0.131.0:upstream.release"
CREATED = "2026-05-13T00:00:01.000Z"
LATER = "2026-05-13T00:05:00.000Z"
NOW = "2026-05-13T01:00:00.000Z"

EVENT = {"id": EVENT_ID, "type": "upstream.release", "source": "patch", "receivedAt": CREATED,
         "payload": {"repo": "openai/codex", "ref": "refs/tags/rust-v0.131.0", "sha": "", "tag": "rust-v0.131.0",
                     "forkUrl": "https://example.test/fork.git"}}


def dispatched(**fields) -> dict:
    return {"eventId": EVENT_ID, "eventType": "upstream.release", "operation": "dispatch",
            "target": "workspace-backend", "transport": "workspace-http",
            "workspaceBackendUrl": "http://backend:3586", "url": "http://backend:3586/events",
            "status": "dispatched", "runIds": ["run-1"], "matched": 1, "createdAt": CREATED, **fields}


def failed(**fields) -> dict:
    return {"eventId": EVENT_ID, "eventType": "upstream.release", "operation": "dispatch",
            "target": "workspace-backend", "transport": "workspace-http",
            "workspaceBackendUrl": "http://backend:3586", "url": "http://backend:3586/events",
            "status": "failed", "httpStatus": 500,
            "error": "Flow backend POST /events failed with 500", "createdAt": CREATED, **fields}


def run(run_id: str, status: str | None = None, payload: dict | None = None, **fields) -> dict:
    view = {"id": run_id, **fields}
    if status is not None:
        view["status"] = view["effectiveStatus"] = status
    if payload is not None:
        view["resultPayload"] = payload
    return view


def started_attempt(**fields) -> dict:
    return {**attempt_for_dispatch(EVENT, dispatched()), **fields}


# --- §6.1: the attempt a dispatch starts ---


def test_a_dispatched_record_starts_an_attempt_named_after_event_operation_and_time():
    attempt = attempt_for_dispatch(EVENT, dispatched())

    assert attempt == {
        "id": f"{EVENT_ID}:dispatch:{CREATED}", "eventId": EVENT_ID, "eventType": "upstream.release",
        "operation": "dispatch", "status": "started", "upstreamRepo": "openai/codex",
        "upstreamRef": "refs/tags/rust-v0.131.0", "upstreamTag": "rust-v0.131.0",
        "workspaceBackendUrl": "http://backend:3586", "workspaceRunIds": ["run-1"], "candidateRefs": [],
        "createdAt": CREATED, "updatedAt": CREATED}
    assert None not in attempt.values()


def test_a_replay_attempt_is_its_own_attempt():
    attempt = attempt_for_dispatch(EVENT, dispatched(operation="replay", createdAt=LATER))

    assert attempt["id"] == f"{EVENT_ID}:replay:{LATER}"
    assert attempt["operation"] == "replay"


def test_a_failed_dispatch_gives_a_failed_attempt_that_is_already_complete():
    attempt = attempt_for_dispatch(EVENT, failed())

    assert attempt["status"] == "failed"
    assert attempt["error"] == "Flow backend POST /events failed with 500"
    assert attempt["workspaceRunIds"] == []
    assert attempt["completedAt"] == CREATED


def test_a_started_attempt_has_no_completion_time():
    assert "completedAt" not in attempt_for_dispatch(EVENT, dispatched())


def test_a_local_dispatch_without_backend_url_or_upstream_fields_omits_them():
    event = {"id": "e1", "type": "upstream.push", "source": "patch", "receivedAt": CREATED, "payload": {}}
    record = {"eventId": "e1", "eventType": "upstream.push", "operation": "dispatch", "target": "local",
              "transport": "local", "status": "dispatched", "runIds": [], "matched": 0, "createdAt": CREATED}

    attempt = attempt_for_dispatch(event, record)

    assert not {"workspaceBackendUrl", "upstreamRepo", "upstreamRef", "upstreamSha", "upstreamTag", "error",
                "completedAt", "message"} & attempt.keys()


def test_runs_in_the_dispatch_answer_are_applied_at_the_dispatch_time():
    attempt = attempt_for_dispatch(EVENT, dispatched(runIds=["run-1"]),
                                   [run("run-1", "skipped", {"status": "skipped", "message": "nothing to do"})])

    assert attempt["status"] == "skipped"
    assert attempt["message"] == "nothing to do"
    assert attempt["workspaceRunStatuses"] == {"run-1": "skipped"}
    assert attempt["updatedAt"] == CREATED
    assert attempt["completedAt"] == CREATED


# --- §6.2: status precedence ---


@pytest.mark.parametrize(("statuses", "expected"), [
    (["needs_intervention", "blocked", "failed", "changed"], "needs_intervention"),
    (["completed", "needs_intervention"], "needs_intervention"),
    (["blocked", "failed", "changed"], "blocked"),
    (["changed", "blocked"], "blocked"),
    (["failed", "changed", "completed"], "failed"),
    (["changed", "failed"], "failed"),
    (["changed", "completed"], "changed"),
    (["running", "changed"], "changed"),
    (["queued", "changed"], "changed"),
    (["skipped"], "skipped"),
    (["skipped", "skipped"], "skipped"),
    (["completed", "skipped"], "completed"),
    (["completed"], "completed"),
    (["completed", "running"], "started"),
    (["queued"], "started"),
    (["skipped", "queued"], "started"),
    (["unknown"], "started"),
])
def test_the_attempt_status_follows_the_first_rule_that_holds_over_its_runs(statuses, expected):
    runs = [run(f"run-{index}", status) for index, status in enumerate(statuses)]

    assert derive_attempt(started_attempt(), runs, NOW)["status"] == expected


def test_a_result_payload_status_outranks_the_run_status():
    runs = [run("run-1", "completed", {"status": "changed", "message": "rebased 3 patches"})]

    assert derive_attempt(started_attempt(), runs, NOW)["status"] == "changed"


def test_a_payload_nested_under_result_counts():
    runs = [run("run-1", "completed", {"result": {"status": "blocked", "message": "conflict in a.txt"}})]

    derived = derive_attempt(started_attempt(), runs, NOW)

    assert derived["status"] == "blocked"
    assert derived["message"] == "conflict in a.txt"


def test_a_payload_without_a_string_status_is_no_payload():
    runs = [run("run-1", "completed", {"status": 3, "message": "ignored",
                                        "artifacts": {"candidateRef": "refs/heads/x"}})]

    derived = derive_attempt(started_attempt(), runs, NOW)

    assert derived["status"] == "completed"
    assert "message" not in derived
    assert derived["candidateRefs"] == []


def test_a_run_status_falls_back_to_process_status_then_started():
    assert derive_attempt(started_attempt(), [{"id": "run-1", "status": "completed"}], NOW)["status"] == "completed"
    derived = derive_attempt(started_attempt(), [{"id": "run-1"}], NOW)
    assert derived["status"] == "started"
    assert derived["workspaceRunStatuses"] == {"run-1": "unknown"}


def test_run_statuses_map_each_run_to_its_effective_status_and_replace_the_old_map():
    attempt = started_attempt(workspaceRunStatuses={"run-0": "queued"})
    runs = [{"id": "run-1", "effectiveStatus": "changed", "status": "completed"}, {"id": "run-2", "status": "running"}]

    assert derive_attempt(attempt, runs, NOW)["workspaceRunStatuses"] == {"run-1": "changed", "run-2": "running"}


def test_no_runs_leave_the_attempt_unchanged():
    attempt = started_attempt(message="waiting")

    assert derive_attempt(attempt, [], NOW) == attempt


# --- §6.2: message, error, completedAt, ids ---


def test_the_message_is_the_last_payload_message_else_the_previous_one():
    attempt = started_attempt(message="old")
    runs = [run("run-1", "completed", {"status": "completed", "message": "first"}),
            run("run-2", "completed", {"status": "completed", "message": "second"}),
            run("run-3", "completed", {"status": "completed", "message": ""})]

    assert derive_attempt(attempt, runs, NOW)["message"] == "second"
    assert derive_attempt(attempt, [run("run-1", "running")], NOW)["message"] == "old"


def test_the_error_is_the_last_failing_payload_message_after_run_errors():
    runs = [run("run-1", "failed", error="exit 1"),
            run("run-2", "completed", {"status": "blocked", "message": "conflict in a.txt"}),
            run("run-3", "failed", error="exit 2")]

    assert derive_attempt(started_attempt(), runs, NOW)["error"] == "conflict in a.txt"


def test_the_error_is_the_last_run_error_when_no_payload_failed():
    runs = [run("run-1", "failed", error="exit 1"), run("run-2", "failed", error="exit 2"),
            run("run-3", "completed", {"status": "changed", "message": "rebased"})]

    assert derive_attempt(started_attempt(), runs, NOW)["error"] == "exit 2"


@pytest.mark.parametrize("status", ["failed", "blocked", "needs_intervention"])
def test_a_payload_message_is_an_error_only_for_failing_statuses(status):
    runs = [run("run-1", "completed", {"status": status, "message": "look at this"})]
    assert derive_attempt(started_attempt(), runs, NOW)["error"] == "look at this"

    quiet = [run("run-1", "completed", {"status": "changed", "message": "rebased"})]
    assert "error" not in derive_attempt(started_attempt(), quiet, NOW)


def test_an_old_error_is_never_cleared():
    attempt = started_attempt(error="exit 1")
    runs = [run("run-1", "completed", {"status": "changed", "message": "rebased"})]

    derived = derive_attempt(attempt, runs, NOW)

    assert derived["status"] == "changed"
    assert derived["error"] == "exit 1"


def test_a_finished_attempt_completes_at_the_last_run_completion_else_now():
    runs = [run("run-1", "completed", completedAt="2026-05-13T00:02:00.000Z"),
            run("run-2", "completed", completedAt=LATER), run("run-3", "completed")]

    assert derive_attempt(started_attempt(), runs, NOW)["completedAt"] == LATER
    assert derive_attempt(started_attempt(), [run("run-1", "completed")], NOW)["completedAt"] == NOW


def test_a_started_attempt_keeps_its_previous_completion_time():
    runs = [run("run-1", "running", completedAt=LATER)]

    assert "completedAt" not in derive_attempt(started_attempt(), runs, NOW)
    assert derive_attempt(started_attempt(completedAt=CREATED), runs, NOW)["completedAt"] == CREATED


def test_run_ids_are_merged_first_occurrence_kept_and_updated_at_is_now():
    attempt = started_attempt(workspaceRunIds=["run-1", "run-2"])

    derived = derive_attempt(attempt, [run("run-3", "queued"), run("run-1", "queued")], NOW)

    assert derived["workspaceRunIds"] == ["run-1", "run-2", "run-3"]
    assert derived["updatedAt"] == NOW
    assert attempt["workspaceRunIds"] == ["run-1", "run-2"]  # the input is left alone


def test_thread_refs_in_run_artifacts_are_found_and_merged_once():
    payload = {"status": "changed", "artifacts": {"review": {"threadId": "t-1", "turnId": "u-1"},
                                                  "turns": [{"threadId": "t-2", "label": "fix"}]}}
    runs = [run("run-1", "completed", payload, flowName="rebase", stepName="replay")]

    derived = derive_attempt(started_attempt(), runs, NOW)
    again = derive_attempt(derived, runs, NOW)

    assert derived["workspaceThreadRefs"] == [
        {"threadId": "t-1", "turnId": "u-1", "label": "review", "runId": "run-1", "flowName": "rebase",
         "stepName": "replay"},
        {"threadId": "t-2", "label": "fix", "runId": "run-1", "flowName": "rebase", "stepName": "replay"}]
    assert again["workspaceThreadRefs"] == derived["workspaceThreadRefs"]
    assert "workspaceThreadRefs" not in derive_attempt(started_attempt(), [run("run-1", "queued")], NOW)


# --- candidate refs ---


def test_candidate_refs_come_from_all_three_artifact_keys_in_order():
    payload = {"status": "changed", "artifacts": {
        "candidateRef": {"ref": "refs/heads/single"},
        "candidates": ["  refs/heads/from-candidates  "],
        "candidateRefs": [{"kind": "branch", "ref": "refs/heads/patches-next", "repo": "acme/fork",
                           "remote": "origin", "sha": "abc123", "url": "https://example.test/x", "pushed": True}],
    }}

    assert candidate_refs_of(payload) == [
        {"kind": "branch", "ref": "refs/heads/patches-next", "repo": "acme/fork", "remote": "origin",
         "sha": "abc123", "url": "https://example.test/x", "pushed": True},
        {"kind": "ref", "ref": "refs/heads/from-candidates"},
        {"kind": "ref", "ref": "refs/heads/single"}]


def test_unusable_candidate_items_and_fields_are_ignored():
    payload = {"artifacts": {"candidateRefs": [
        "", "   ", 42, None, {"ref": ""}, {"kind": "branch"},
        {"ref": "refs/heads/ok", "kind": "", "repo": "", "sha": 7, "pushed": "yes", "url": None}]}}

    assert candidate_refs_of(payload) == [{"kind": "ref", "ref": "refs/heads/ok"}]
    assert candidate_refs_of({"status": "changed"}) == []
    assert candidate_refs_of({"artifacts": {"candidateRefs": "refs/heads/not-a-list"}}) == []
    assert candidate_refs_of("not a payload") == []


def test_dedupe_keeps_the_first_of_each_kind_repo_remote_ref_sha():
    first = {"kind": "branch", "ref": "refs/heads/x", "repo": "acme/fork", "sha": "abc", "url": "u1",
             "pushed": False}
    same_but_url_and_pushed = {"kind": "branch", "ref": "refs/heads/x", "repo": "acme/fork", "sha": "abc",
                               "url": "u2", "pushed": True}
    other_sha = {"kind": "branch", "ref": "refs/heads/x", "repo": "acme/fork", "sha": "def"}
    other_kind = {"kind": "ref", "ref": "refs/heads/x", "repo": "acme/fork", "sha": "abc"}
    other_remote = {"kind": "branch", "ref": "refs/heads/x", "repo": "acme/fork", "sha": "abc", "remote": "up"}

    refs = [first, same_but_url_and_pushed, other_sha, other_kind, other_remote, dict(other_sha)]

    assert dedupe_candidate_refs(refs) == [first, other_sha, other_kind, other_remote]


def test_derived_candidate_refs_keep_the_previous_ones_first():
    attempt = started_attempt(candidateRefs=[{"kind": "ref", "ref": "refs/heads/old"}])
    runs = [run("run-1", "completed", {"status": "changed", "artifacts": {
        "candidateRefs": ["refs/heads/old", {"ref": "refs/heads/new", "sha": "abc", "pushed": True}]}}),
            run("run-2", "completed", {"status": "changed", "artifacts": {
                "candidateRef": {"ref": "refs/heads/new", "sha": "abc", "pushed": False}}})]

    assert derive_attempt(attempt, runs, NOW)["candidateRefs"] == [
        {"kind": "ref", "ref": "refs/heads/old"}, {"kind": "ref", "ref": "refs/heads/new", "sha": "abc",
                                                   "pushed": True}]


# --- §6.3 step 4 ---


def test_a_sync_that_only_moves_updated_at_is_no_change():
    previous = started_attempt(workspaceRunStatuses={"run-1": "queued"})
    derived = derive_attempt(previous, [run("run-1", "queued")], NOW)

    assert derived["updatedAt"] != previous["updatedAt"]
    assert not attempt_changed(previous, derived)


@pytest.mark.parametrize(("field", "value"), [
    ("status", "changed"), ("workspaceRunIds", ["run-1", "run-2"]), ("workspaceRunStatuses", {"run-1": "running"}),
    ("candidateRefs", [{"kind": "ref", "ref": "refs/heads/x"}]), ("message", "rebased"), ("error", "exit 1"),
    ("completedAt", NOW),
])
def test_each_tracked_field_counts_as_a_change(field, value):
    previous = started_attempt(workspaceRunStatuses={"run-1": "queued"})

    assert attempt_changed(previous, {**previous, field: value})


def test_a_first_run_status_map_is_a_change():
    previous = started_attempt()

    assert attempt_changed(previous, derive_attempt(previous, [run("run-1", "queued")], NOW))
