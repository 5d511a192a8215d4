"""``POST /exports``: a bad filter is refused up front; the job writes the file as an artifact (JSON: the records
as ``GET`` shows them, oldest first; CSV: ``id``, the kind's fields in schema order, ``createdAt``,
``updatedAt``, ``version``, lists joined with ``;``), readable only by msp_admin and data_admin, as an
attachment."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import text

from tests.e2e.platform_v1.engine_world import count_rows
from tests.e2e.platform_v1.job_world import created, job_settled
from tests.e2e.platform_v1.support import V1


async def _exported(api, client: V1, body: dict) -> tuple[dict, bytes, dict]:
    answer = await client.post("/exports", json=body)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/api/v1/jobs/{answer.json()['id']}"
    done = await job_settled(client, answer.json()["id"])
    assert done["status"] == "succeeded", done
    file = await client.get(done["artifactUrl"].removeprefix("/api/v1"))
    assert file.status_code == 200, file.text
    return done, file.content, dict(file.headers)


async def test_a_json_export_is_the_records_as_get_shows_them_oldest_first(api, worker, workspaces):
    a, b = workspaces
    data = V1(api, "data_admin", workspace=a)
    first = await created(data, "clients", {"name": "Alpha", "tags": ["gold", "eu"]})
    second = await created(data, "clients", {"name": "Beta", "status": "inactive"})
    third = await created(data, "clients", {"name": "Gamma"})
    await created(V1(api, "data_admin", workspace=b), "clients", {"name": "Elsewhere"})
    done, content, headers = await _exported(api, data, {"resource": "clients"})
    assert done["result"] == {"exported": 3}
    assert done["params"] == {"resource": "clients", "format": "json", "filters": {}, "q": None}
    shown = [(await data.get(f"/clients/{c['id']}")).json() for c in (first, second, third)]
    assert json.loads(content) == shown
    assert headers["content-type"].startswith("application/json")
    assert headers["content-disposition"].startswith("attachment")
    filtered, content, _ = await _exported(api, data, {"resource": "clients", "filters": {"status": "active"},
                                                       "q": "gamma"})
    assert filtered["result"] == {"exported": 1} and [r["id"] for r in json.loads(content)] == [third["id"]]


async def test_a_csv_export_has_the_kinds_columns_and_joins_lists(api, worker, workspaces):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    alpha = await created(admin, "clients", {"name": "Alpha, Inc.", "tags": ["gold", "eu"]})
    done, content, headers = await _exported(api, admin, {"resource": "clients", "format": "csv"})
    assert headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(content.decode())))
    assert rows[0] == ["id", "name", "status", "industry", "website", "email", "phone", "notes", "tags", "createdAt",
                       "updatedAt", "version"]
    assert rows[1][0] == alpha["id"] and rows[1][1] == "Alpha, Inc." and rows[1][8] == "gold;eu"
    assert rows[1][9:] == [alpha["createdAt"], alpha["updatedAt"], "1"] and len(rows) == 2


async def test_export_files_are_for_msp_admin_and_data_admin_only(api, worker, workspaces):
    a, b = workspaces
    data = V1(api, "data_admin", workspace=a)
    await created(data, "clients", {"name": "Alpha"})
    done, _, _ = await _exported(api, data, {"resource": "clients"})
    path = done["artifactUrl"].removeprefix("/api/v1")
    for role in ("ops_engineer", "viewer", "automation_operator"):
        refused = await V1(api, role, workspace=a).get(path)
        assert (refused.status_code, refused.json()["error"]) == (403, "forbidden_role"), role
    assert (await V1(api, "msp_admin", workspace=a).get(path)).status_code == 200
    assert (await V1(api, "msp_admin", workspace=b).get(path)).status_code == 404


async def test_a_bad_filter_is_refused_up_front(api, worker, workspaces, db_engine):
    a, _ = workspaces
    data = V1(api, "data_admin", workspace=a)
    for body in ({"resource": "clients", "filters": {"colour": "red"}}, {"resource": "clients", "format": "xml"},
                 {"resource": "clients", "filters": {"status": ""}}, {"resource": "nothing"},
                 {"resource": "clients", "filters": {"status": 3}}, {"resource": "clients", "q": "a\u0000b"}):
        refused = await data.post("/exports", json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["error"] in ("validation_error", "nul_byte"), refused.text
    assert await count_rows(db_engine, "platform_executions", "workspace_id = :ws", ws=a) == 0


async def test_more_than_100000_records_fail_the_export_too_large(api, worker, workspaces, db_engine):
    a, _ = workspaces
    data = V1(api, "data_admin", workspace=a)
    async with db_engine.begin() as conn:  # 100,001 runbooks, written as the resource engine stores them
        await conn.execute(text(
            "INSERT INTO platform_resources (id, workspace_id, kind, data, version, created_at, updated_at) "
            "SELECT 'rbk_' || md5(:ws || n::text), :ws, 'runbooks', "
            "jsonb_build_object('title', 'Runbook ' || n, 'steps', jsonb_build_array('look')), 1, now(), now() "
            "FROM generate_series(1, 100001) AS n"), {"ws": a})
    answer = await data.post("/exports", json={"resource": "runbooks"})
    assert answer.status_code == 202, answer.text
    done = await job_settled(data, answer.json()["id"], timeout=120)
    assert (done["status"], done["errorCode"], done["artifactUrl"], done["result"]) == \
        ("failed", "export_too_large", None, None)
    assert "100000" in done["errorMessage"]
