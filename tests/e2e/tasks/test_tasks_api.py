"""The task routes' contract: create from the dashboard, lists and history with their filters and bounds,
one task's status, the manual status, and a clear 4xx for every bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tasks.tables import CodingTaskRow, TaskExecutionRow
from tests.e2e.tasks.support import github_world, run_result, task_path

TASK_ID = "acme/widgets#11"
T0 = datetime(2026, 5, 13, 10, 0, tzinfo=UTC)


async def add_task(db_engine, number: int, status: str, *, agent: str = "mock", completed: datetime | None = None,
                   repo: tuple[str, str] = ("acme", "widgets"), title: str = "Fix the typo") -> str:
    """A task of an earlier run, as its records stand once it ended."""
    task_id = f"{repo[0]}/{repo[1]}#{number}"
    execution_id = f"task_00000000-0000-4000-8000-{number:012d}"
    async with AsyncSession(db_engine) as db, db.begin():
        db.add(CodingTaskRow(id=task_id, repo_owner=repo[0], repo_name=repo[1], issue_number=number,
                             issue_title=title, source="webhook", clone_url="/srv/x.git", execution_id=execution_id,
                             status=status, agent=agent, priority="normal", branch=f"capstan/{execution_id}",
                             queued_at=T0, completed_at=completed, created_at=T0, updated_at=completed or T0,
                             logs=[]))
        await db.flush()
        db.add(TaskExecutionRow(id=execution_id, task_id=task_id, status=status, agent=agent, priority="normal",
                                instructions="", base_branch="main", branch=f"capstan/{execution_id}",
                                runner="local", queued_at=T0, completed_at=completed, updated_at=completed or T0))
    return task_id


async def test_create_from_an_existing_issue_or_a_prompt_runs_the_task(live_api, worker, fake_github, settings,
                                                                         temporal_client, tmp_path):
    await github_world(live_api, fake_github, tmp_path)

    created = await live_api.post("/api/tasks", json={"repoOwner": "acme", "repoName": "widgets",
                                                      "issueNumber": 11, "agent": "mock", "priority": 3,
                                                      "prompt": "fix the typo"})

    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["id"], task["status"], task["progress"], task["priority"], task["priorityName"]) == (
        TASK_ID, "queued", 0, 3, "high")
    assert task["requestedBy"] == "alice" and task["issueTitle"] == "Fix the typo" and task["queuedAt"]
    assert await run_result(temporal_client, settings, task["executionId"]) == "success"
    assert fake_github.reactions("acme", "widgets", 1) == []  # no comment asked for this one

    running_again = await live_api.post("/api/tasks", json={"repoOwner": "acme", "repoName": "widgets",
                                                            "prompt": "Rename the heading! Then more.",
                                                            "agent": "mock"})
    assert running_again.status_code == 201, running_again.text
    opened = running_again.json()
    issue = fake_github.issue("acme", "widgets", opened["issueNumber"])
    assert issue.title == "Rename the heading" and issue.body == "Rename the heading! Then more."
    assert opened["id"] == f"acme/widgets#{opened['issueNumber']}"
    assert await run_result(temporal_client, settings, opened["executionId"]) == "success"


@pytest.mark.parametrize(("body", "status", "error"), [
    ({}, 400, "repoOwner and repoName are required"),
    ({"repoOwner": "acme"}, 400, "repoOwner and repoName are required"),
    ({"repoOwner": "acme", "repoName": "widgets"}, 400, "issueNumber or prompt is required"),
    ({"repoOwner": "acme", "repoName": "widgets", "prompt": "   "}, 400, "issueNumber or prompt is required"),
    ({"repoOwner": "acme", "repoName": "widgets", "issueNumber": "eleven"}, 400, "invalid_request"),
    ({"repoOwner": "acme", "repoName": "widgets", "issueNumber": 0}, 400, "invalid_request"),
    ({"repoOwner": "acme", "repoName": "widgets", "issueNumber": 2**31}, 400, "invalid_request"),
    ({"repoOwner": 5, "repoName": "widgets", "issueNumber": 11}, 400, "invalid_request"),
    ({"repoOwner": "acme", "repoName": "widgets", "issueNumber": 11, "priority": "urgent"}, 400, "invalid_priority"),
    ({"repoOwner": "acme", "repoName": "widgets", "issueNumber": 11, "priority": True}, 400, "invalid_priority"),
    ({"repoOwner": "acme", "repoName": "widgets", "issueNumber": 11, "agent": "nope"}, 400,
     "Task blocked: unknown agent."),
    ({"repoOwner": "acme", "repoName": "widgets", "issueNumber": 11}, 400,  # opencode, no Anthropic key
     "Task blocked: missing Anthropic credentials."),
    ({"repoOwner": "acme", "repoName": "widgets", "issueNumber": 11, "agent": "amp"}, 400,  # disabled by default
     "Task blocked: unknown agent."),
    ({"repoOwner": "acme", "repoName": "gadgets", "issueNumber": 1, "agent": "mock"}, 403, "repo_not_selected"),
])
async def test_create_refuses_bad_bodies_and_creates_nothing(live_api, fake_github, db_engine, tmp_path, body,
                                                               status, error):
    await github_world(live_api, fake_github, tmp_path)
    issues_before = len(fake_github.requests_to("/issues", method="POST"))

    response = await live_api.post("/api/tasks", json=body)

    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert (await live_api.get("/api/tasks")).json() == []
    assert len(fake_github.requests_to("/issues", method="POST")) == issues_before


async def test_an_issue_github_does_not_have_is_404_and_creates_nothing(live_api, worker, fake_github, db_engine,
                                                                          tmp_path):
    """The run's workflow reads the issue (with the user's token); GitHub's 404 is answered as the API's own."""
    await github_world(live_api, fake_github, tmp_path)

    response = await live_api.post("/api/tasks", json={"repoOwner": "acme", "repoName": "widgets",
                                                       "issueNumber": 404, "agent": "mock"})

    assert response.status_code == 404, response.text
    assert (response.json()["error"], response.json()["message"]) == ("not_found", "Not Found")
    assert (await live_api.get("/api/tasks")).json() == []
    assert fake_github.requests_to("/issues", method="POST") == []


async def test_not_an_object_malformed_or_nul_bodies_are_400(live_api, fake_github, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    for raw, code in ((b"[]", "invalid_request"), (b'{"repoOwner": ', "malformed_json"),
                      (b'{"repoOwner": "a\\u0000", "repoName": "w", "issueNumber": 1}', "nul_byte")):
        response = await live_api.post("/api/tasks", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["error"] == code, (raw, response.text)


async def test_history_filters_pages_and_orders_by_completion(live_api, fake_github, db_engine, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    done = {number: await add_task(db_engine, number, status, agent=agent, completed=T0 + timedelta(days=number),
                                   title=title)
            for number, status, agent, title in ((1, "success", "mock", "Fix the typo"),
                                                 (2, "failed", "opencode", "Speed up builds"),
                                                 (3, "timed_out", "mock", "Typo in docs"))}
    queued = await add_task(db_engine, 4, "queued", title="Add a logo")
    await add_task(db_engine, 5, "success", completed=T0, repo=("other", "repo"))  # not the user's repository

    async def ids(**params) -> list[str]:
        response = await live_api.get("/api/tasks/history", params=params)
        assert response.status_code == 200, response.text
        return [task["id"] for task in response.json()["tasks"]]

    assert await ids() == [done[3], done[2], done[1], queued]
    page = (await live_api.get("/api/tasks/history", params={"limit": 2, "offset": 1})).json()
    assert ([t["id"] for t in page["tasks"]], page["total"], page["limit"], page["offset"]) == (
        [done[2], done[1]], 4, 2, 1)
    assert await ids(status="failed") == [done[2]]
    assert await ids(agent="mock") == [done[3], done[1], queued]
    assert await ids(repo="ACME/wid") == [done[3], done[2], done[1], queued]
    assert await ids(repo="other") == []
    assert await ids(branch=f"CAPSTAN/task_00000000-0000-4000-8000-{1:012d}") == [done[1]]
    assert await ids(issueNumber=2) == [done[2]]
    assert await ids(search="typo") == [done[3], done[1]]
    assert await ids(search="3") == [done[3]]
    assert await ids(**{"from": "2026-05-15"}) == [done[3], done[2]]
    assert await ids(to="2026-05-14") == [done[1], queued]
    assert (await live_api.get("/api/tasks", params={"status": "queued"})).json()[0]["id"] == queued
    assert [t["id"] for t in (await live_api.get("/api/tasks", params={"limit": 1})).json()] == [done[3]]


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/api/tasks/history", {"status": "done"}, "query.status"),
    ("/api/tasks/history", {"limit": 201}, "query.limit"),
    ("/api/tasks/history", {"limit": 0}, "query.limit"),
    ("/api/tasks/history", {"offset": -1}, "query.offset"),
    ("/api/tasks/history", {"offset": 2**63}, "query.offset"),
    ("/api/tasks/history", {"issueNumber": "x"}, "query.issueNumber"),
    ("/api/tasks/history", {"from": "yesterday"}, "query.from"),
    ("/api/tasks/history", {"from": "2026-05-02", "to": "2026-05-01"}, "query.from"),
    ("/api/tasks/history", {"search": "a\x00b"}, None),
    ("/api/tasks", {"status": "SUCCESS"}, "query.status"),
    ("/api/tasks", {"limit": 501}, "query.limit"),
    ("/api/tasks", {"offset": "1.5"}, "query.offset"),
])
async def test_bad_list_parameters_are_400_naming_the_parameter(live_api, fake_github, tmp_path, path, params, field):
    await github_world(live_api, fake_github, tmp_path)
    response = await live_api.get(path, params=params)
    assert response.status_code == 400, response.text
    if field:
        assert response.json()["fields"][0]["field"] == field


async def test_task_ids_are_url_encoded_and_checked(live_api, fake_github, db_engine, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    task_id = await add_task(db_engine, 11, "failed", completed=T0)
    hidden = await add_task(db_engine, 12, "failed", completed=T0, repo=("other", "repo"))

    status = await live_api.get(task_path(task_id))
    assert status.status_code == 200 and status.json()["id"] == task_id
    assert status.json()["executions"][0]["executionId"] == status.json()["executionId"]
    for bad in ("acme/widgets", "acme%2Fwidgets%23x", "acme%2Fwidgets%230", "%2Fwidgets%2311"):
        response = await live_api.get(f"/api/tasks/{bad}/status")
        assert response.status_code == 400 and response.json()["error"] == "invalid task id", (bad, response.text)
    for unknown in ("acme/widgets#99", hidden):  # none, or not the user's repository: the same 404
        response = await live_api.get(task_path(unknown))
        assert response.status_code == 404 and response.json()["error"] == "task not found", unknown
        for action in ("retry", "stop"):
            assert (await live_api.post(task_path(unknown, action))).status_code == 404
    assert (await live_api.get(f"/api/tasks/{quote(task_id, safe='')}")).status_code == 404


async def test_stop_and_retry_refuse_what_their_state_does_not_allow(live_api, fake_github, db_engine, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    task_id = await add_task(db_engine, 11, "success", completed=T0)
    stop = await live_api.post(task_path(task_id, "stop"))
    assert stop.status_code == 409 and stop.json()["error"] == "not_running" and stop.json()["status"] == "success"
    retry = await live_api.put(task_path(task_id, "retry"))
    assert retry.status_code == 409 and retry.json()["error"] == "not_retryable"
    queued = await add_task(db_engine, 12, "queued")
    retry = await live_api.post(task_path(queued, "retry"))
    assert retry.status_code == 409 and retry.json()["error"] == "task_running"


async def test_the_manual_status_relabels_comments_and_records(live_api, worker, fake_github, db_engine, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    task_id = await add_task(db_engine, 11, "failed", completed=T0)
    body = {"repoOwner": "acme", "repoName": "widgets", "issueNumber": 11, "status": "success",
            "summary": "Fixed by hand", "priority": "high"}

    response = await live_api.put(task_path(task_id), json=body)

    assert response.status_code == 200 and response.json() == {"ok": True}, response.text
    assert fake_github.labels("acme", "widgets", 11) == [
        "bug", "capstan:task", "capstan:success", "capstan:agent:mock", "capstan:priority:high"]
    assert fake_github.comments("acme", "widgets", 11)[-1].body.startswith("Fixed by hand\n\n<!-- capstan:{")
    status = (await live_api.get(task_path(task_id))).json()
    assert (status["status"], status["summary"], status["priorityName"]) == ("success", "Fixed by hand", "high")

    for bad, error in (({**body, "status": "done"}, "invalid_status"),
                       ({"status": "success"}, "repoOwner, repoName, issueNumber, status are required"),
                       ({**body, "issueNumber": 12}, "invalid task id")):
        refused = await live_api.put(task_path(task_id), json=bad)
        assert refused.status_code == 400 and refused.json()["error"] == error, refused.text
    running = await add_task(db_engine, 13, "running")
    refused = await live_api.put(task_path(running), json={**body, "issueNumber": 13})
    assert refused.status_code == 409 and refused.json()["error"] == "task_running"


async def test_every_task_route_needs_the_session(live_api):
    for method, path in (("GET", "/api/tasks"), ("POST", "/api/tasks"), ("GET", "/api/tasks/history"),
                         ("GET", task_path(TASK_ID)), ("PUT", task_path(TASK_ID)),
                         ("POST", task_path(TASK_ID, "retry")), ("PUT", task_path(TASK_ID, "stop"))):
        response = await live_api.request(method, path, json={})
        assert response.status_code == 401 and response.json()["error"] == "unauthorized", (method, path)
