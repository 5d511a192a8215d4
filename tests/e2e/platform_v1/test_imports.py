"""``POST /imports``: every record validated up front (400 naming ``body.records[i].field``, no job), then one
transaction for all of them: each audited with the job's creator as actor and emitting its usual event; a
broken reference fails the job ``invalid_reference`` and writes nothing."""

from __future__ import annotations

from tests.e2e.platform_v1.engine_world import count_rows
from tests.e2e.platform_v1.job_world import created, job_settled
from tests.e2e.platform_v1.support import V1


async def test_an_import_writes_every_record_audited_as_its_creator_with_their_events(api, worker, workspaces,
                                                                                       db_engine):
    a, _ = workspaces
    data = V1(api, "data_admin", workspace=a, sub="importer")
    customer = await created(data, "clients", {"name": "Initech"})
    records = [{"clientId": customer["id"], "title": f"Printer {n} jams", "priority": "high"} for n in range(3)]
    answer = await data.post("/imports", json={"resource": "tickets", "records": records})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert (job["type"], job["resource"], job["params"]) == ("import", "tickets", {"resource": "tickets", "count": 3})
    assert job["status"] in ("queued", "running", "succeeded")
    done = await job_settled(data, job["id"])
    assert (done["status"], done["result"], done["errorCode"], done["artifactUrl"]) == \
        ("succeeded", {"created": 3}, None, None)
    assert done["completedAt"] and done["startedAt"] and done["createdBy"] == "importer"
    tickets = (await data.get("/tickets", params={"clientId": customer["id"]})).json()["data"]
    assert sorted(t["title"] for t in tickets) == [f"Printer {n} jams" for n in range(3)]
    assert {t["createdBy"] for t in tickets} == {"importer"}
    audit = (await data.get(f"/tickets/{tickets[0]['id']}/audit")).json()["data"]
    assert [(entry["action"], entry["actor"]) for entry in audit] == [("create", "importer")]
    assert await count_rows(db_engine, "platform_events", "workspace_id = :ws AND topic = 'ticket.created' "
                            "AND data->>'source' = 'import'", ws=a) == 3
    execution = (await V1(api, "viewer", workspace=a).get(f"/workflow-executions/{done['executionId']}")).json()
    assert (execution["jobId"], execution["type"], execution["status"]) == (job["id"], "import", "succeeded")
    records_path = execution["inputRef"].removeprefix("/api/v1")
    stored = await data.get(records_path)
    assert stored.status_code == 200 and [r["title"] for r in stored.json()] == [r["title"] for r in records]
    for role in ("viewer", "ops_engineer"):  # an import's records hold any kind of record: data roles only
        refused = await V1(api, role, workspace=a).get(records_path)
        assert (refused.status_code, refused.json()["error"]) == (403, "forbidden_role"), role


async def test_a_bad_record_is_named_and_no_job_is_made(api, worker, workspaces, db_engine):
    a, _ = workspaces
    data = V1(api, "data_admin", workspace=a)
    refused = await data.post("/imports", json={"resource": "clients", "records": [
        {"name": "Fine"}, {"name": ""}, {"name": "Also fine", "colour": "red"}]})
    assert refused.status_code == 400 and refused.json()["error"] == "validation_error"
    fields = [f["field"] for f in refused.json()["fields"]]
    assert "body.records[1].name" in fields and "body.records[2].colour" in fields
    for body in ({"resource": "clients", "records": []}, {"resource": "spaceships", "records": [{"name": "x"}]},
                 {"resource": "clients", "records": [{"name": "x"}], "extra": 1},
                 {"resource": "clients", "records": [{"name": "x"}] * 5001}, {"resource": "clients", "records": [7]}):
        answer = await data.post("/imports", json=body)
        assert answer.status_code in (400, 413), (body, answer.text)
    assert await count_rows(db_engine, "platform_executions", "workspace_id = :ws", ws=a) == 0
    assert await count_rows(db_engine, "platform_resources", "workspace_id = :ws", ws=a) == 0


async def test_a_broken_reference_fails_the_job_and_writes_nothing(api, worker, workspaces, db_engine):
    a, b = workspaces
    data = V1(api, "data_admin", workspace=a)
    mine = await created(data, "clients", {"name": "Mine"})
    theirs = await created(V1(api, "data_admin", workspace=b), "clients", {"name": "Theirs"})
    records = [{"clientId": mine["id"], "name": "Laptop", "type": "laptop"},
               {"clientId": theirs["id"], "name": "Server", "type": "server"}]
    job = (await data.post("/imports", json={"resource": "assets", "records": records})).json()
    done = await job_settled(data, job["id"])
    assert (done["status"], done["errorCode"], done["result"]) == ("failed", "invalid_reference", None)
    assert "records[1].clientId" in done["errorMessage"]
    assert await count_rows(db_engine, "platform_resources", "workspace_id = :ws AND kind = 'assets'", ws=a) == 0
    assert (await data.get("/assets")).json()["page"]["total"] == 0
