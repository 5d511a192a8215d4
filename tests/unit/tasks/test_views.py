"""Task, execution and status objects as the API shows them."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel

from models.tasks.tables import CodingTaskRow, TaskExecutionRow
from models.tasks.views import comment_marker, execution_object, iso, status_object, task_object

T0 = datetime(2026, 5, 13, 10, 0, 0, 123456, tzinfo=UTC)
EXECUTION = "task_0b5c7a4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d"
OLDER = "task_11111111-2222-4333-8444-555555555555"


def task_row(**fields) -> CodingTaskRow:
    values = dict(id="acme/widgets#11", repo_owner="acme", repo_name="widgets", issue_number=11,
                  issue_title="Fix the typo", issue_body="It says teh.",
                  issue_url="https://github.com/acme/widgets/issues/11", created_by="octocat", requested_by="alice",
                  requester_user_id=42, source="webhook", installation_id=7, clone_url="/tmp/widgets.git",
                  default_branch="main", execution_id=EXECUTION, status="success", agent="mock", priority="high",
                  branch=f"capstan/{EXECUTION}", summary="✅ Capstan completed this task. PR: https://x/pull/3",
                  queued_at=T0, started_at=T0 + timedelta(seconds=2), completed_at=T0 + timedelta(seconds=30),
                  logs=[{"time": "2026-05-13T10:00:00.123Z", "level": "info", "message": "Task queued"}],
                  created_at=T0 - timedelta(days=1), updated_at=T0 + timedelta(seconds=30))
    return CodingTaskRow(**{**values, **fields})


def execution_row(**fields) -> TaskExecutionRow:
    values = dict(id=EXECUTION, task_id="acme/widgets#11", status="success", agent="mock", priority="high",
                  instructions="fix the typo", branch=f"capstan/{EXECUTION}", base_branch="main", comment_id=99,
                  runner="local", runner_ref="4242", commit_hash="abc1234", pr_url="https://x/pull/3", pr_number=3,
                  summary="Agent completed successfully.", queued_at=T0, started_at=T0 + timedelta(seconds=2),
                  completed_at=T0 + timedelta(seconds=30), updated_at=T0 + timedelta(seconds=30))
    return TaskExecutionRow(**{**values, **fields})


def wire(model: BaseModel) -> Any:
    """What the API sends for ``model``: its JSON, serialised without a warning (every value has its type)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return json.loads(model.model_dump_json())


def wire_task(task: CodingTaskRow, execution: TaskExecutionRow | None) -> Any:
    return wire(task_object(task, execution))


def wire_execution(execution: TaskExecutionRow) -> Any:
    return wire(execution_object(execution))


def wire_status(task: CodingTaskRow, executions: list[TaskExecutionRow]) -> Any:
    return wire(status_object(task, executions))


def test_iso_is_utc_with_milliseconds_and_z():
    assert iso(T0) == "2026-05-13T10:00:00.123Z"
    assert iso(datetime(2026, 5, 13, 12, 0, tzinfo=timezone(timedelta(hours=2)))) == "2026-05-13T10:00:00.000Z"
    assert iso(datetime(2026, 5, 13, 10, 0)) == "2026-05-13T10:00:00.000Z"
    assert iso(None) is None


def test_a_successful_task_shows_every_field():
    assert wire_task(task_row(), execution_row()) == {
        "id": "acme/widgets#11", "status": "success", "progress": 100, "agent": "mock", "priority": 3,
        "priorityName": "high", "repoOwner": "acme", "repoName": "widgets", "issueNumber": 11,
        "issueTitle": "Fix the typo", "issueBody": "It says teh.", "issueUrl": "https://github.com/acme/widgets/issues/11",
        "createdBy": "octocat", "requestedBy": "alice", "createdAt": "2026-05-12T10:00:00.123Z",
        "queuedAt": "2026-05-13T10:00:00.123Z", "startedAt": "2026-05-13T10:00:02.123Z",
        "completedAt": "2026-05-13T10:00:30.123Z", "updatedAt": "2026-05-13T10:00:30.123Z",
        "executionId": EXECUTION, "branch": f"capstan/{EXECUTION}", "commitHash": "abc1234",
        "prUrl": "https://x/pull/3", "prNumber": 3, "summary": "✅ Capstan completed this task. PR: https://x/pull/3",
        "failureStage": None, "errorMessage": None, "error": None,
        "callbackAttempts": None, "callbackMaxAttempts": None, "callbackLastHttpCode": None,
        "logs": [{"time": "2026-05-13T10:00:00.123Z", "level": "info", "message": "Task queued"}],
    }


def test_a_failed_task_carries_its_error():
    task = task_row(status="failed", summary="❌ Capstan failed: agent made no changes")
    execution = execution_row(status="failed", failure_stage="agent", error_message="agent made no changes",
                              pr_url=None, pr_number=None)
    shown = wire_task(task, execution)
    assert (shown["status"], shown["progress"], shown["failureStage"]) == ("failed", 100, "agent")
    assert shown["error"] == {"stage": "agent", "message": "agent made no changes"}
    timed_out = wire_task(task_row(status="timed_out", summary="❌ Capstan failed: timeout after 17 minutes"),
                            execution_row(status="timed_out", failure_stage="agent"))
    assert timed_out["error"] == {"stage": "agent", "message": "❌ Capstan failed: timeout after 17 minutes"}


def test_a_queued_task_has_no_times_beyond_queued():
    task = task_row(status="queued", priority="low", started_at=None, completed_at=None, summary="Task queued")
    shown = wire_task(task, execution_row(status="queued", started_at=None, completed_at=None, commit_hash=None,
                                            pr_url=None, pr_number=None))
    assert (shown["status"], shown["progress"], shown["priority"], shown["priorityName"]) == ("queued", 0, 1, "low")
    assert (shown["startedAt"], shown["completedAt"], shown["error"]) == (None, None, None)


def test_a_callback_that_needed_retries_leaves_warnings_in_the_logs():
    execution = execution_row(callback_attempts=3, callback_max_attempts=5, callback_last_http_code=502,
                              result_received_at=T0 + timedelta(seconds=29))
    shown = wire_task(task_row(), execution)
    assert (shown["callbackAttempts"], shown["callbackMaxAttempts"], shown["callbackLastHttpCode"]) == (3, 5, 502)
    assert shown["logs"][1:] == [
        {"time": "2026-05-13T10:00:29.123Z", "level": "warning", "message": "Callback succeeded after 3/5 attempts."},
        {"time": "2026-05-13T10:00:29.123Z", "level": "warning",
         "message": "Callback reported non-2xx code before success: HTTP 502."},
    ]
    first_try = wire_task(task_row(), execution_row(callback_attempts=1, callback_max_attempts=5,
                                                      callback_last_http_code=200))
    assert len(first_try["logs"]) == 1


def test_the_execution_object():
    assert wire_execution(execution_row(requested_by="bob")) == {
        "executionId": EXECUTION, "status": "success", "branch": f"capstan/{EXECUTION}", "baseBranch": "main",
        "runner": "local", "runnerRef": "4242", "requestedBy": "bob", "failureStage": None, "errorMessage": None,
        "commitHash": "abc1234",
        "prUrl": "https://x/pull/3", "prNumber": 3, "queuedAt": "2026-05-13T10:00:00.123Z",
        "startedAt": "2026-05-13T10:00:02.123Z", "completedAt": "2026-05-13T10:00:30.123Z"}


def test_the_status_object_lists_executions_newest_first():
    older = execution_row(id=OLDER, status="failed", failure_stage="dispatch", error_message="Failed to clone",
                          queued_at=T0 - timedelta(hours=1), started_at=None, completed_at=T0 - timedelta(hours=1),
                          updated_at=T0 - timedelta(hours=1), commit_hash=None, pr_url=None, pr_number=None)
    status = wire_status(task_row(), [older, execution_row()])
    assert list(status) == ["id", "status", "progress", "agent", "priority", "priorityName", "executionId", "branch",
                            "commitHash", "prUrl", "prNumber", "summary", "failureStage", "errorMessage", "error",
                            "queuedAt", "startedAt", "completedAt", "updatedAt", "executions"]
    assert [execution["executionId"] for execution in status["executions"]] == [EXECUTION, OLDER]
    assert (status["id"], status["status"], status["prNumber"]) == ("acme/widgets#11", "success", 3)


def test_the_comment_marker_describes_the_execution():
    marker = comment_marker(task_row(), execution_row(callback_attempts=2, callback_max_attempts=5), "Done")
    assert marker == {
        "taskId": "acme/widgets#11", "executionId": EXECUTION, "agent": "mock", "priority": "high",
        "status": "success", "progress": 100, "createdAt": "2026-05-12T10:00:00.123Z",
        "updatedAt": "2026-05-13T10:00:30.123Z", "summary": "Done", "prUrl": "https://x/pull/3", "prNumber": 3,
        "branchName": f"capstan/{EXECUTION}", "commitHash": "abc1234", "failureStage": None, "callbackAttempts": 2,
        "callbackMaxAttempts": 5, "callbackLastHttpCode": None}
