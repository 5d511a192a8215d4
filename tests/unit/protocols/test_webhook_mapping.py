"""Webhook payloads → CI reports, one test per mapping row (docs/api/webhooks.md),
with GitHub's real payloads from ``tests/fixtures/github`` and crafted variants."""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

import pytest
from pydantic import SecretStr

from api.common.errors import BadRequest, Unauthorized
from api.protocols.webhooks.github import github_report, read_github
from api.protocols.webhooks.gitlab import gitlab_event_name, gitlab_report, read_gitlab
from api.protocols.webhooks.mapping import branch_candidates, event_message, event_type_of
from api.protocols.webhooks.verify import parse_payload, signature_matches, verify_github, verify_gitlab
from models.protocols.settings import WebhookSettings
from models.protocols.workflow_io import CiOutcome, CiReport
from tests.support import github_fixture

SUCCESS, RUNNING, FAILURE, MERGED = CiOutcome.SUCCESS, CiOutcome.RUNNING, CiOutcome.FAILURE, CiOutcome.MERGED


# --- GitHub: the fixture payloads -----------------------------------------------------------------

@pytest.mark.parametrize("event, name, status, branch, outcome", [
    ("workflow_run", "completed.payload", "success", "master", SUCCESS),
    ("workflow_run", "requested.payload", "queued", "master", RUNNING),
    ("check_suite", "completed.payload", "success", "changes", SUCCESS),
    ("check_run", "completed.payload", "success", "changes", SUCCESS),
    ("pull_request", "opened.payload", "open", "changes", None),
    ("pull_request", "closed.payload", "closed", "changes", None),  # closed without merging
    ("status", "payload", "success", "master", SUCCESS),
])
def test_github_fixture_payloads(event, name, status, branch, outcome):
    payload = github_fixture(event, name)
    notice = read_github(event, payload)
    assert notice.supported and notice.status == status and notice.branch == branch
    report = github_report(event, payload, delivery_id="d-1")
    if outcome is None:
        assert report is None
    else:
        assert report == CiReport(outcome=outcome, source="github", event_name=event, status=status,
                                  delivery_id="d-1", branch=branch, url=notice.url)


def test_github_fixture_urls_point_at_the_run():
    assert read_github("workflow_run", github_fixture("workflow_run", "completed.payload")).url.startswith(
        "https://github.com/")
    assert read_github("pull_request", github_fixture("pull_request", "opened.payload")).url.startswith(
        "https://github.com/")
    assert read_github("check_run", github_fixture("check_run", "completed.payload")).url is not None


def test_a_merged_pull_request_is_merged():
    payload = github_fixture("pull_request", "closed.payload")
    payload["pull_request"]["merged"] = True
    report = github_report("pull_request", payload)
    assert report is not None and report.outcome == MERGED and report.status == "merged"
    assert report.branch == "changes"


@pytest.mark.parametrize("event, name", [
    ("push", "payload"), ("installation", "created.payload"), ("issue_comment", "created.payload"),
    ("issue_comment", "edited.payload"), ("ping", "payload"),
])
def test_other_github_events_are_not_acted_on(event, name):
    notice = read_github(event, github_fixture(event, name))
    assert not notice.supported and notice.status is None
    assert github_report(event, github_fixture(event, name)) is None


def test_a_push_keeps_its_ref_so_it_can_still_be_matched_and_recorded():
    notice = read_github("push", github_fixture("push"))
    assert notice.branch == "refs/tags/simple-tag"  # only refs/heads/ is stripped
    assert read_github("push", {"ref": "refs/heads/feature/x"}).branch == "feature/x"


# --- GitHub: every status of every outcome set ----------------------------------------------------

GITHUB_STATUSES = [
    *[(s, SUCCESS) for s in ("success", "neutral", "passed", "ok")],
    ("merged", MERGED),
    *[(s, RUNNING) for s in ("in_progress", "queued", "requested", "pending")],
    *[(s, FAILURE) for s in ("failure", "timed_out", "cancelled", "action_required", "error", "startup_failure")],
    *[(s, None) for s in ("skipped", "stale", "completed", "waiting", "weird")],
]


@pytest.mark.parametrize("status, outcome", GITHUB_STATUSES)
def test_github_workflow_run_conclusion(status, outcome):
    payload = copy.deepcopy(github_fixture("workflow_run", "completed.payload"))
    payload["workflow_run"]["conclusion"] = status
    report = github_report("workflow_run", payload)
    assert (report.outcome if report else None) == outcome


@pytest.mark.parametrize("status, outcome", GITHUB_STATUSES)
def test_github_status_state(status, outcome):
    payload = github_fixture("status")
    payload["state"] = status
    report = github_report("status", payload)
    assert (report.outcome if report else None) == outcome


@pytest.mark.parametrize("event, key", [("check_suite", "check_suite"), ("check_run", "check_run"),
                                        ("workflow_run", "workflow_run")])
@pytest.mark.parametrize("conclusion, status, outcome", [
    (None, "in_progress", RUNNING), (None, "queued", RUNNING), ("failure", "completed", FAILURE),
    ("timed_out", "completed", FAILURE), ("cancelled", "completed", FAILURE),
    ("action_required", "completed", FAILURE), ("neutral", "completed", SUCCESS),
])
def test_github_conclusion_wins_and_status_is_the_fallback(event, key, conclusion, status, outcome):
    name = "requested.payload" if event == "workflow_run" else "completed.payload"
    payload = github_fixture(event, name)
    payload[key]["conclusion"], payload[key]["status"] = conclusion, status
    report = github_report(event, payload)
    assert report is not None and report.outcome == outcome and report.status == (conclusion or status)


def test_github_status_branch_is_the_first_of_branches():
    payload = github_fixture("status")
    assert [b["name"] for b in payload["branches"]][0] == "master"
    payload["branches"] = []
    assert read_github("status", payload).branch is None


@pytest.mark.parametrize("payload", [
    {}, {"workflow_run": "not an object"}, {"workflow_run": {"conclusion": 7}}, {"workflow_run": None},
])
def test_malformed_github_payloads_give_no_outcome(payload):
    assert github_report("workflow_run", payload) is None
    assert read_github("workflow_run", payload).branch is None


@pytest.mark.parametrize("payload", [{"branches": "x", "state": "success"}, {"pull_request": {"head": []}},
                                     {"check_run": {"check_suite": None, "status": "queued"}}])
def test_odd_shapes_do_not_raise(payload):
    for event in ("status", "pull_request", "check_run"):
        read_github(event, payload)


# --- GitLab ---------------------------------------------------------------------------------------

def pipeline(status: str, ref: str = "feature-x") -> dict[str, Any]:
    return {"object_kind": "pipeline",
            "object_attributes": {"id": 31, "ref": ref, "status": status, "url": "https://gitlab.test/p/31"}}


def job(status: str, ref: str = "feature-x") -> dict[str, Any]:
    return {"object_kind": "build", "ref": ref, "build_status": status, "build_id": 7, "build_name": "test"}


def merge_request(state: str, action: str = "update") -> dict[str, Any]:
    return {"object_kind": "merge_request",
            "object_attributes": {"state": state, "action": action, "source_branch": "feature-x",
                                  "target_branch": "main", "url": "https://gitlab.test/mr/1"}}


GITLAB_STATUSES = [
    ("success", SUCCESS), ("passed", SUCCESS), ("merge", MERGED),
    ("running", RUNNING), ("pending", RUNNING),
    ("failed", FAILURE), ("canceled", FAILURE), ("cancelled", FAILURE),
    ("created", None), ("skipped", None), ("manual", None), ("failure", None),
]


@pytest.mark.parametrize("status, outcome", GITLAB_STATUSES)
def test_gitlab_pipeline_status(status, outcome):
    report = gitlab_report("Pipeline Hook", pipeline(status), delivery_id="u-1")
    if outcome is None:
        assert report is None
    else:
        assert report == CiReport(outcome=outcome, source="gitlab", event_name="Pipeline Hook", status=status,
                                  delivery_id="u-1", branch="feature-x", url="https://gitlab.test/p/31")


@pytest.mark.parametrize("event", ["Job Hook", "Build Hook"])
@pytest.mark.parametrize("status, outcome", GITLAB_STATUSES)
def test_gitlab_job_status(event, status, outcome):
    report = gitlab_report(event, job(status))
    assert (report.outcome if report else None) == outcome
    assert read_gitlab(event, job(status)).branch == "feature-x"


@pytest.mark.parametrize("state, action, outcome", [
    ("merged", "merge", MERGED), ("merged", "update", MERGED), ("opened", "merge", MERGED),
    ("opened", "open", None), ("closed", "close", None), ("locked", "update", None),
])
def test_gitlab_merge_request(state, action, outcome):
    report = gitlab_report("Merge Request Hook", merge_request(state, action))
    assert (report.outcome if report else None) == outcome
    notice = read_gitlab("Merge Request Hook", merge_request(state, action))
    assert notice.branch == "feature-x"
    assert notice.status == ("merged" if outcome == MERGED else state)


def test_gitlab_refs_heads_is_stripped():
    assert gitlab_report("Pipeline Hook", pipeline("success", "refs/heads/team/feature-x")).branch == "team/feature-x"
    assert read_gitlab("Job Hook", job("running", "refs/heads/x")).branch == "x"


@pytest.mark.parametrize("event", ["Pipeline Hook", "Job Hook", "Merge Request Hook", "Push Hook"])
@pytest.mark.parametrize("attributes, top_level_ref, branch", [
    ({"source_branch": "from-source", "ref": "from-attributes"}, "from-top", "from-source"),
    ({"ref": "refs/heads/from-attributes"}, "from-top", "from-attributes"),
    ({}, "refs/heads/from-top", "from-top"),
    (None, "from-top", "from-top"),
    ({"source_branch": "", "ref": 7}, "from-top", "from-top"),
])
def test_gitlab_branch_is_source_branch_then_ref_then_top_level_ref(event, attributes, top_level_ref, branch):
    payload = {"ref": top_level_ref, **({"object_attributes": attributes} if attributes is not None else {})}
    assert read_gitlab(event, payload).branch == branch


@pytest.mark.parametrize("attributes, status, outcome", [
    ({"status": "success", "state": "failed"}, "success", SUCCESS),
    ({"state": "failed"}, "failed", FAILURE),
    ({"status": "", "state": "running"}, "running", RUNNING),
    ({}, None, None),
])
def test_gitlab_status_is_status_then_state(attributes, status, outcome):
    payload = {"object_kind": "pipeline", "ref": "feature-x", "object_attributes": attributes}
    assert read_gitlab("Pipeline Hook", payload).status == status
    report = gitlab_report("Pipeline Hook", payload)
    assert (report.outcome if report else None) == outcome


def test_gitlab_pipeline_with_only_a_top_level_ref_reads_its_branch_and_status():
    payload = {"object_kind": "pipeline", "ref": "refs/heads/feature-x", "object_attributes": {"state": "passed"}}
    assert gitlab_report("Pipeline Hook", payload) == CiReport(
        outcome=SUCCESS, source="gitlab", event_name="Pipeline Hook", status="passed", branch="feature-x")


def test_other_gitlab_events_are_not_acted_on():
    push = {"object_kind": "push", "ref": "refs/heads/feature-x"}
    notice = read_gitlab("Push Hook", push)
    assert not notice.supported and notice.branch == "feature-x"
    assert gitlab_report("Push Hook", push) is None
    assert gitlab_report("Note Hook", {"object_kind": "note"}) is None


def test_gitlab_event_name_falls_back_to_object_kind():
    assert gitlab_event_name("Pipeline Hook", {}) == "Pipeline Hook"
    assert gitlab_event_name(None, pipeline("success")) == "Pipeline Hook"
    assert gitlab_event_name(None, job("success")) == "Job Hook"
    assert gitlab_event_name(None, merge_request("merged")) == "Merge Request Hook"
    with pytest.raises(BadRequest):
        gitlab_event_name(None, {"object_kind": "something"})


# --- branches, event names ------------------------------------------------------------------------

@pytest.mark.parametrize("ref, candidates", [
    ("main", ["main"]),
    ("refs/heads/main", ["main"]),
    ("refs/heads/feature/login", ["feature/login", "login"]),
    ("feature/login", ["feature/login", "login"]),
    ("refs/tags/v1", ["refs/tags/v1", "v1"]),
    ("refs/heads/", []),
    ("", []),
    (None, []),
])
def test_branch_candidates(ref, candidates):
    assert branch_candidates(ref) == candidates


def test_event_type_and_message():
    notice = read_gitlab("Pipeline Hook", pipeline("failed"))
    assert event_type_of(notice) == "gitlab_pipeline_hook"
    assert event_message(notice, FAILURE) == "GitLab Pipeline Hook on branch feature-x: failed (outcome failure)"
    notice = read_github("workflow_run", github_fixture("workflow_run", "completed.payload"))
    assert event_type_of(notice) == "github_workflow_run"
    assert event_message(notice, SUCCESS) == "GitHub workflow_run on branch master: success (outcome success)"
    unknown = read_github("pull_request", github_fixture("pull_request", "opened.payload"))
    assert event_message(unknown, None) == "GitHub pull_request on branch changes: open (no action for this status)"
    assert event_message(read_github("push", {"ref": "refs/heads/x"}), None) == "GitHub push on branch x: ignored"


# --- verification and parsing ---------------------------------------------------------------------

# GitHub's documented test vector.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def webhook_settings(token: str | None) -> WebhookSettings:
    return WebhookSettings(token=SecretStr(token) if token is not None else None)


def test_github_signature_matches_githubs_test_vector():
    assert signature_matches(GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE)
    assert signature_matches(GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE.upper().replace("SHA256=", "sha256="))
    verify_github(webhook_settings(GITHUB_SECRET), GITHUB_BODY, GITHUB_SIGNATURE)


@pytest.mark.parametrize("signature", [
    None, "", GITHUB_SIGNATURE.removeprefix("sha256="), "sha1=" + "0" * 40, GITHUB_SIGNATURE[:-1] + "0",
    "sha256=", "sha256=zz",
])
def test_github_bad_or_missing_signature_is_unauthorized(signature):
    with pytest.raises(Unauthorized):
        verify_github(webhook_settings(GITHUB_SECRET), GITHUB_BODY, signature)


def test_github_body_change_breaks_the_signature():
    with pytest.raises(Unauthorized):
        verify_github(webhook_settings(GITHUB_SECRET), GITHUB_BODY + b" ", GITHUB_SIGNATURE)


@pytest.mark.parametrize("token", [None, ""])
def test_without_a_secret_nothing_is_verified(token):
    verify_github(webhook_settings(token), GITHUB_BODY, None)
    verify_gitlab(webhook_settings(token), GITHUB_BODY, [None, None], None)


@pytest.mark.parametrize("tokens, signature", [
    (["s3cret", None], None), ([None, "s3cret"], None), (["wrong", "s3cret"], None),
    ([None, None], "sha256=" + hmac.new(b"s3cret", b"{}", hashlib.sha256).hexdigest()),
    ([None, None], hmac.new(b"s3cret", b"{}", hashlib.sha256).hexdigest()),
])
def test_gitlab_accepts_either_token_header_or_the_signature(tokens, signature):
    verify_gitlab(webhook_settings("s3cret"), b"{}", tokens, signature)


@pytest.mark.parametrize("tokens, signature", [
    ([None, None], None), (["wrong", None], None), ([None, "s3cret "], None), (["", ""], None),
    ([None, None], "sha256=" + "0" * 64),
])
def test_gitlab_wrong_or_missing_token_is_unauthorized(tokens, signature):
    with pytest.raises(Unauthorized):
        verify_gitlab(webhook_settings("s3cret"), b"{}", tokens, signature)


def test_parse_payload():
    assert parse_payload(b'{"a": 1}', "application/json") == {"a": 1}
    assert parse_payload(b'{"a": 1}', None) == {"a": 1}
    form = b"payload=%7B%22zen%22%3A%22hi%22%7D"
    assert parse_payload(form, "application/x-www-form-urlencoded") == {"zen": "hi"}


@pytest.mark.parametrize("body, content_type", [
    (b"[1, 2]", "application/json"), (b'"text"', "application/json"), (b"", "application/json"),
    (b"{", "application/json"), (b"other=1", "application/x-www-form-urlencoded"),
    (b"payload=%7B%22a%22%3A%22%5Cu0000%22%7D", "application/x-www-form-urlencoded"),
])
def test_parse_payload_refuses_what_is_not_a_json_object(body, content_type):
    with pytest.raises(BadRequest):
        parse_payload(body, content_type)
