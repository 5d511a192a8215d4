"""``GET /jobs`` (filters ``type``, ``status``, ``resource``; ``sortBy`` ``queuedAt`` desc by default or
``completedAt``), ``GET /jobs/{id}``, and ``GET /agent-runtime/failures`` listing failed agent executions,
failed jobs and failed outbox events, each with the route that retries it."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.e2e.platform_v1.engine_world import execute, register_agent
from tests.e2e.platform_v1.job_world import failed_import, job_settled
from tests.e2e.platform_v1.support import V1


async def test_the_list_filters_sorts_and_shows_each_job(api, worker, workspaces):
    a, b = workspaces
    data = V1(api, "data_admin", workspace=a)
    imported = (await data.post("/imports", json={"resource": "runbooks", "records": [
        {"title": "Reboot", "steps": ["reboot"]}]})).json()
    await job_settled(data, imported["id"])
    exported = (await data.post("/exports", json={"resource": "clients"})).json()
    await job_settled(data, exported["id"])
    failed = await failed_import(data, "listed")
    reader = V1(api, "integration_admin", workspace=a)
    listed = (await reader.get("/jobs")).json()
    assert [j["id"] for j in listed["data"]] == [failed, exported["id"], imported["id"]]
    assert listed["sort"] == {"by": "queuedAt", "order": "desc"} and listed["page"]["total"] == 3
    assert [j["id"] for j in (await reader.get("/jobs", params={"type": "export"})).json()["data"]] == [exported["id"]]
    assert [j["id"] for j in (await reader.get("/jobs", params={"status": "failed"})).json()["data"]] == [failed]
    by_resource = (await reader.get("/jobs", params={"resource": "runbooks"})).json()
    assert [j["id"] for j in by_resource["data"]] == [imported["id"]] and by_resource["filters"] == {
        "resource": "runbooks"}
    oldest_done = (await reader.get("/jobs", params={"sortBy": "completedAt", "sortOrder": "asc"})).json()
    assert [j["id"] for j in oldest_done["data"]] == [imported["id"], exported["id"], failed]
    one = (await reader.get(f"/jobs/{exported['id']}")).json()
    assert set(one) == {"id", "workspaceId", "type", "resource", "executionId", "params", "status", "result",
                        "errorCode", "errorMessage", "artifactUrl", "queuedAt", "startedAt", "completedAt",
                        "retryCount", "createdBy", "correlationId"}
    assert one["artifactUrl"].startswith("/api/v1/artifacts/art_") and one["workspaceId"] == a
    for params, error in (({"type": "agent"}, "validation_error"), ({"status": "sleeping"}, "validation_error"),
                          ({"resource": "spaceships"}, "validation_error"), ({"sortBy": "id"}, "invalid_sort"),
                          ({"colour": "red"}, "unknown_parameter")):
        refused = await reader.get("/jobs", params=params)
        assert (refused.status_code, refused.json()["error"]) == (400, error), (params, refused.text)
    for missing in ("job_" + "f" * 32, "not-a-job", imported["executionId"]):
        assert (await reader.get(f"/jobs/{missing}")).status_code == 404
    assert (await V1(api, "msp_admin", workspace=b).get(f"/jobs/{imported['id']}")).status_code == 404
    assert (await V1(api, "msp_admin", workspace=b).get("/jobs")).json()["data"] == []
    refused = await V1(api, "viewer", workspace=a).get("/jobs")
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden_role")


async def test_the_failures_are_executions_jobs_and_events_newest_first(api, worker, workspaces, agent_node,
                                                                         db_engine):
    a, b = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    await register_agent(admin, agent_node.url)
    rejected = (await execute(admin, "helper.reject")).json()
    assert rejected["status"] == "failed"
    job = await failed_import(admin, "failures")
    event_id = f"evt_{uuid.uuid4().hex}"
    async with db_engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO platform_events (id, workspace_id, topic, subject_type, subject_id, data, occurred_at, "
            "status, created_at) VALUES (:id, :ws, 'ticket.created', 'ticket', 'tkt_1', '{}', now(), 'failed', "
            "now())"), {"id": event_id, "ws": a})
        await conn.execute(text(
            "INSERT INTO platform_event_deliveries (event_id, subscriber, workspace_id, status, attempts, "
            "next_attempt_at, last_error, updated_at) VALUES (:id, 'notifications', :ws, 'failed', 5, now(), "
            "'HTTP 500', now())"), {"id": event_id, "ws": a})
    viewer = V1(api, "viewer", workspace=a)
    listed = (await viewer.get("/agent-runtime/failures")).json()
    assert [(f["kind"], f["id"], f["code"]) for f in listed["data"]] == [
        ("outbox", event_id, "delivery_failed"), ("job", job, "invalid_reference"),
        ("execution", rejected["id"], "agent_rejected")]
    assert listed["data"][0]["message"] == "HTTP 500"
    assert [f["retryPath"] for f in listed["data"]] == [
        f"/api/v1/agent-runtime/outbox-failures/{event_id}/retry", f"/api/v1/agent-runtime/job-failures/{job}/retry",
        f"/api/v1/workflow-executions/{rejected['id']}/retry"]
    only_jobs = (await viewer.get("/agent-runtime/failures", params={"kind": "job"})).json()
    assert [f["id"] for f in only_jobs["data"]] == [job] and only_jobs["filters"] == {"kind": "job"}
    oldest = (await viewer.get("/agent-runtime/failures", params={"sortOrder": "asc", "limit": 1})).json()
    assert [f["id"] for f in oldest["data"]] == [rejected["id"]] and oldest["page"]["total"] == 3
    for params in ({"kind": "timer"}, {"sortBy": "code"}, {"colour": "red"}):
        assert (await viewer.get("/agent-runtime/failures", params=params)).status_code == 400
    assert (await V1(api, "msp_admin", workspace=b).get("/agent-runtime/failures")).json()["data"] == []
