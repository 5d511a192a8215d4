"""``POST /api/v1/events/ingest``: each type's effect, duplicates applied once (decided by Postgres), all or
nothing, and every refusal writing nothing (the tables are read back directly)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime

import pytest
from sqlalchemy import text

from tests.e2e.platform_v1.ingest_support import (
    alert,
    heartbeat,
    pipeline_failure,
    state_change,
    telemetry,
    written,
)
from tests.e2e.platform_v1.locks import await_blocked
from tests.e2e.platform_v1.records import Records
from tests.e2e.platform_v1.support import V1
from tests.support import assert_error

INGEST = "/events/ingest"


@pytest.fixture
def ops(api, workspaces) -> V1:
    return V1(api, "ops_engineer", workspace=workspaces[0], sub="rmm-collector")


async def test_a_batch_of_every_type_takes_effect_and_answers_its_record(ops, db_engine, workspaces):
    a, _ = workspaces
    records = Records(ops)
    asset = await records.create("assets")
    sample, beat = telemetry(cpu=97.5, disks=[{"mount": "/", "free": 0.02}]), heartbeat()
    raised = alert("Disk full", "critical", assetId=asset["id"], details="/ is 98 % full")
    changed = state_change(asset["id"], "maintenance")
    failed = pipeline_failure("nightly", repository="acme/widgets", branch="main", sha="abc123",
                              url="https://ci.example/runs/7")
    response = await ops.post(INGEST, json={"source": "rmm-eu-1", "events": [sample, beat, raised, changed, failed]},
                              headers={"x-correlation-id": "ingest-corr-1"})
    assert response.status_code == 202, response.text
    batch = response.json()
    assert batch["id"].startswith("ibt_") and len(batch["id"]) == 36
    assert {k: batch[k] for k in ("workspaceId", "source", "received", "accepted", "duplicates", "createdBy",
                                  "correlationId")} == {
        "workspaceId": a, "source": "rmm-eu-1", "received": 5, "accepted": 5, "duplicates": 0,
        "createdBy": "rmm-collector", "correlationId": "ingest-corr-1"}
    assert batch["byType"] == {"telemetry": 1, "heartbeat": 1, "alert.triggered": 1, "asset.state_changed": 1,
                               "pipeline.failed": 1}

    [created] = (await ops.get("/alerts", params={"assetId": asset["id"]})).json()["data"]
    assert {k: created[k] for k in ("title", "severity", "status", "details", "createdBy")} == {
        "title": "Disk full", "severity": "critical", "status": "open", "details": "/ is 98 % full",
        "createdBy": "rmm-collector"}
    now = (await ops.get(f"/assets/{asset['id']}")).json()
    assert now["status"] == "maintenance" and now["version"] == asset["version"] + 1
    last = (await ops.get(f"/assets/{asset['id']}/audit")).json()["data"][0]
    assert (last["actor"], last["changes"], last["correlationId"]) == (
        "rmm-collector", {"status": {"from": "active", "to": "maintenance"}}, "ingest-corr-1")

    async with db_engine.connect() as conn:
        stored = (await conn.execute(text(
            "SELECT event_id, type, data FROM platform_ingest_events WHERE workspace_id = :ws ORDER BY type"),
            {"ws": a})).all()
        outbox = (await conn.execute(text(
            "SELECT topic, subject_type, subject_id, data, correlation_id, occurred_at FROM platform_events "
            "WHERE workspace_id = :ws AND topic = 'pipeline.failed'"), {"ws": a})).all()
    assert {(row.event_id, row.type): row.data for row in stored} == {
        (sample["id"], "telemetry"): sample["data"], (beat["id"], "heartbeat"): beat["data"],
        (raised["id"], "alert.triggered"): None, (changed["id"], "asset.state_changed"): None,
        (failed["id"], "pipeline.failed"): None}
    [event] = outbox
    assert (event.subject_type, event.subject_id, event.correlation_id) == (
        "pipeline", f"rmm-eu-1:{failed['id']}", "ingest-corr-1")
    assert event.data == {"provider": "ingest", "source": "rmm-eu-1", "eventId": failed["id"], "pipeline": "nightly",
                          "repository": "acme/widgets", "url": "https://ci.example/runs/7", "branch": "main",
                          "sha": "abc123"}


async def test_source_defaults_to_the_callers_sub_and_occurred_at_to_receipt(ops, db_engine, workspaces):
    sample = telemetry()
    batch = (await ops.post(INGEST, json={"events": [sample]})).json()
    assert batch["source"] == "rmm-collector"
    async with db_engine.connect() as conn:
        occurred = (await conn.execute(text("SELECT occurred_at FROM platform_ingest_events WHERE event_id = :id"),
                                       {"id": sample["id"]})).scalar_one()
    assert abs((occurred - datetime.fromisoformat(batch["createdAt"])).total_seconds()) < 1


async def test_a_retried_batch_counts_its_events_as_duplicates_and_applies_none_again(ops, db_engine, workspaces):
    a, _ = workspaces
    asset = await Records(ops).create("assets")
    events = [telemetry(), alert(assetId=asset["id"]), state_change(asset["id"], "lost"), pipeline_failure()]
    key = str(uuid.uuid4())
    first = await ops.post(INGEST, json={"events": events}, headers={"Idempotency-Key": key})
    assert first.status_code == 202 and first.json()["accepted"] == 4, first.text
    after_first = await written(db_engine, a)

    replayed = await ops.post(INGEST, json={"events": events}, headers={"Idempotency-Key": key})
    assert replayed.status_code == 202 and replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == first.json()

    retried = await ops.post(INGEST, json={"events": events})  # a new key: the agent sends the batch again
    assert retried.status_code == 202, retried.text
    assert {k: retried.json()[k] for k in ("received", "accepted", "duplicates", "byType")} == {
        "received": 4, "accepted": 0, "duplicates": 4,
        "byType": {"telemetry": 0, "alert.triggered": 0, "asset.state_changed": 0, "pipeline.failed": 0}}
    assert retried.json()["id"] != first.json()["id"]
    assert await written(db_engine, a) == {**after_first, "batches": after_first["batches"] + 1}, \
        "a retry wrote its batch's record and nothing else"

    fresh = telemetry()
    mixed = await ops.post(INGEST, json={"events": [events[0], fresh, events[1]]})
    assert {k: mixed.json()[k] for k in ("accepted", "duplicates", "byType")} == {
        "accepted": 1, "duplicates": 2, "byType": {"telemetry": 1, "alert.triggered": 0}}
    assert len((await ops.get("/alerts")).json()["data"]) == 1


async def test_the_third_event_naming_no_record_refuses_the_whole_batch(ops, api, db_engine, workspaces):
    a, b = workspaces
    asset = await Records(ops).create("assets")
    asset_of_b = await Records(V1(api, "ops_engineer", workspace=b)).create("assets")
    deleted = await Records(ops).create("assets")
    assert (await ops.delete(f"/assets/{deleted['id']}")).status_code == 204
    before = await written(db_engine, a)
    head = [telemetry(), alert(assetId=asset["id"])]
    for broken, field in ((alert(assetId=f"ast_{uuid.uuid4().hex}"), "assetId"),
                          (alert(clientId=asset_of_b["clientId"]), "clientId"),
                          (state_change(asset_of_b["id"], "retired"), "assetId"),
                          (state_change(f"ast_{uuid.uuid4().hex}", "retired"), "assetId"),
                          (state_change(deleted["id"], "retired"), "assetId"),
                          (alert(assetId=deleted["id"]), "assetId")):
        tail = [state_change(asset["id"], "maintenance"), pipeline_failure()]
        refused = assert_error(await ops.post(INGEST, json={"events": [*head, broken, *tail]}), 400,
                               "invalid_reference")
        assert [f["field"] for f in refused["fields"]] == [f"body.events[2].data.{field}"], refused
        assert await written(db_engine, a) == before, f"{broken['type']}: the refused batch wrote something"
    assert (await ops.get(f"/assets/{asset['id']}")).json()["status"] == "active"
    assert (await ops.get(f"/assets/{asset_of_b['id']}",
                          headers={"x-workspace-id": b})).status_code == 404  # not A's

    accepted = await ops.post(INGEST, json={"events": [*head, telemetry()]})
    assert accepted.json()["accepted"] == 3, "the refused batch recorded none of its ids"


def _events(n: int) -> list[dict]:
    return [telemetry() for _ in range(n)]


BAD_BATCHES = [
    ("bad severity", lambda: {"events": [*_events(3), alert(severity="urgent")]}, "body.events[3].data.severity"),
    ("alert without title", lambda: {"events": [{**alert(), "data": {"severity": "info"}}]},
     "body.events[0].data.title"),
    ("unknown type", lambda: {"events": [{**telemetry(), "type": "telemetry.v2"}]}, "body.events[0].type"),
    ("id not a string", lambda: {"events": [{**telemetry(), "id": 42}]}, "body.events[0].id"),
    ("empty id", lambda: {"events": [{**telemetry(), "id": ""}]}, "body.events[0].id"),
    ("id too long", lambda: {"events": [{**telemetry(), "id": "x" * 201}]}, "body.events[0].id"),
    ("data not an object", lambda: {"events": [{**telemetry(), "data": [1, 2]}]}, "body.events[0].data"),
    ("telemetry over 16 KiB", lambda: {"events": [telemetry(blob="x" * 16_400)]}, "body.events[0].data"),
    ("unknown event field", lambda: {"events": [{**telemetry(), "severity": "x"}]}, "body.events[0].severity"),
    ("unknown data field", lambda: {"events": [alert(colour="red")]}, "body.events[0].data.colour"),
    ("time without zone", lambda: {"events": [{**telemetry(), "occurredAt": "2026-05-13T08:00:00"}]},
     "body.events[0].occurredAt"),
    ("time as a number", lambda: {"events": [{**telemetry(), "occurredAt": 1700000000}]}, "body.events[0].occurredAt"),
    ("bad asset status", lambda: {"events": [state_change(f"ast_{uuid.uuid4().hex}", "exploded")]},
     "body.events[0].data.status"),
    ("bad pipeline url", lambda: {"events": [pipeline_failure(url="ftp://x")]}, "body.events[0].data.url"),
    ("no events", lambda: {"events": []}, "body.events"),
    ("501 events", lambda: {"events": _events(501)}, "body.events"),
    ("events not a list", lambda: {"events": {"0": telemetry()}}, "body.events"),
    ("no events field", lambda: {"source": "x"}, "body.events"),
    ("source too long", lambda: {"source": "s" * 201, "events": _events(1)}, "body.source"),
    ("empty source", lambda: {"source": "", "events": _events(1)}, "body.source"),
    ("unknown top field", lambda: {"events": _events(1), "agent": "x"}, "body.agent"),
]


@pytest.mark.parametrize("make, field", [(make, field) for _, make, field in BAD_BATCHES],
                         ids=[what for what, _, _ in BAD_BATCHES])
async def test_an_invalid_batch_is_400_naming_the_field_and_writes_nothing(make, field, ops, db_engine, workspaces):
    before = await written(db_engine, workspaces[0])
    refused = assert_error(await ops.post(INGEST, json=make()), 400, "validation_error")
    assert field in [f["field"] for f in refused["fields"]], refused
    assert await written(db_engine, workspaces[0]) == before


async def test_an_id_twice_in_a_batch_is_400_naming_the_second_and_writes_nothing(ops, db_engine, workspaces):
    before = await written(db_engine, workspaces[0])
    twice = telemetry()
    batch = {"events": [twice, heartbeat(), {**twice, "type": "heartbeat"}]}
    refused = assert_error(await ops.post(INGEST, json=batch), 400, "duplicate_event_id")
    assert [f["field"] for f in refused["fields"]] == ["body.events[2].id"]
    assert await written(db_engine, workspaces[0]) == before


@pytest.mark.parametrize("body", [b'{"events": [{"id": "a\\u0000b", "type": "telemetry", "data": {}}]}',
                                  b'{"events": [{"id": "a", "type": "telemetry", "data": {"k\\u0000": 1}}]}',
                                  b'{"events": [{"id": "a", "type": "telemetry", "data": {"v": "\\u0000"}}]}',
                                  b'{"events": [', b'[]', b'"events"', b''],
                         ids=["NUL in an id", "NUL in a key", "NUL in a value", "truncated", "a list", "a string",
                              "empty"])
async def test_nul_bytes_and_bodies_that_are_no_batch_are_400_and_write_nothing(body, ops, db_engine, workspaces):
    before = await written(db_engine, workspaces[0])
    response = await ops.post(INGEST, content=body, headers={"content-type": "application/json"})
    assert_error(response, 400)
    assert await written(db_engine, workspaces[0]) == before


async def test_500_events_are_one_batch(ops, db_engine, workspaces):
    batch = await ops.post(INGEST, json={"events": _events(499) + [heartbeat()]})
    assert batch.status_code == 202, batch.text
    assert batch.json()["byType"] == {"telemetry": 499, "heartbeat": 1}
    assert (await written(db_engine, workspaces[0]))["event ids"] == 500


@pytest.mark.parametrize("headers", [{}, {"x-enrollment-token": "not-a-token-of-this-workspace"}],
                         ids=["no token", "a wrong token"])
async def test_an_endpoint_agent_without_the_enrollment_token_is_403_and_writes_nothing(headers, api, db_engine,
                                                                                          workspaces):
    a, _ = workspaces
    agent = V1(api, "endpoint_agent", workspace=a, sub="edge-42")
    before = await written(db_engine, a)
    refused = assert_error(await agent.post(INGEST, json={"events": [alert()]}, headers=headers), 403,
                           "enrollment_invalid")
    assert "x-enrollment-token" in refused["detail"]
    assert await written(db_engine, a) == before
    # Refused before the body is read: an invalid batch is refused the same way.
    assert_error(await agent.post(INGEST, json={"events": []}, headers=headers), 403, "enrollment_invalid")


async def test_a_token_that_also_holds_a_trusted_role_needs_no_enrollment_token(api, workspaces):
    both = V1(api, "endpoint_agent", "integration_admin", workspace=workspaces[0])
    assert (await both.post(INGEST, json={"events": _events(1)})).status_code == 202


async def test_the_unique_key_decides_a_race_for_an_event_id(ops, db_engine, workspaces):
    """Another transaction holds the id, uncommitted: the batch waits for it in Postgres, then counts the id a
    duplicate once it commits (and would have applied it had it rolled back)."""
    a, _ = workspaces
    [raced, other] = [alert(title="Raced"), alert(title="Other")]
    async with db_engine.connect() as conn, conn.begin():
        await conn.execute(text(
            "INSERT INTO platform_ingest_batches (id, workspace_id, source, received, accepted, duplicates, by_type, "
            "created_at) VALUES (:batch, :ws, 'racer', 1, 1, 0, '{}', now())"), {"batch": "ibt_racer", "ws": a})
        await conn.execute(text(
            "INSERT INTO platform_ingest_events (workspace_id, event_id, batch_id, type, occurred_at) "
            "VALUES (:ws, :id, 'ibt_racer', 'alert.triggered', now())"), {"ws": a, "id": raced["id"]})
        pending = asyncio.create_task(ops.post(INGEST, json={"events": [other, raced]}))
        await await_blocked(db_engine, "INSERT INTO platform_ingest_events")
    answered = await pending
    assert {k: answered.json()[k] for k in ("accepted", "duplicates")} == {"accepted": 1, "duplicates": 1}
    assert [x["title"] for x in (await ops.get("/alerts")).json()["data"]] == ["Other"]


async def test_concurrent_batches_holding_the_same_ids_apply_each_once(ops, db_engine, workspaces):
    shared = [alert(title=f"Shared {n}") for n in range(10)] + _events(40)
    batches = [[*shared, telemetry()][::step] + [telemetry()] for step in (1, -1, 1, -1)]
    answers = await asyncio.gather(*(ops.post(INGEST, json={"events": events}) for events in batches))
    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    accepted = sum(a.json()["accepted"] for a in answers)
    assert accepted == len(shared) + 2 * len(batches), [a.json() for a in answers]  # and two of each batch's own
    titles = sorted(x["title"] for x in (await ops.get("/alerts", params={"limit": 100})).json()["data"])
    assert titles == sorted(f"Shared {n}" for n in range(10)), "each shared alert was created exactly once"
    assert (await written(db_engine, workspaces[0]))["event ids"] == accepted


async def test_the_ingest_needs_its_idempotency_key_and_writes_nothing_without(ops, db_engine, workspaces):
    before = await written(db_engine, workspaces[0])
    response = await ops.api.post("/api/v1/events/ingest", content=json.dumps({"events": _events(1)}),
                                  headers={"Authorization": f"Bearer {ops.token}", "x-workspace-id": ops.workspace,
                                           "content-type": "application/json"})
    assert_error(response, 400, "idempotency_key_required")
    assert await written(db_engine, workspaces[0]) == before


async def test_a_batch_of_another_workspace_names_nothing_of_it(ops, api, workspaces):
    """The same event ids in two workspaces are two events: an id is unique in its workspace."""
    a, b = workspaces
    events = _events(3)
    assert (await ops.post(INGEST, json={"events": events})).json()["accepted"] == 3
    in_b = await V1(api, "ops_engineer", workspace=b).post(INGEST, json={"events": events})
    assert in_b.json()["accepted"] == 3 and in_b.json()["workspaceId"] == b


async def test_concurrent_batches_changing_and_naming_one_asset_all_apply(ops, workspaces):
    """Each batch names the asset in alerts and changes its status: the records are locked before the first
    change, so the batches wait for each other rather than deadlock (which Postgres would end with a 503)."""
    records = Records(ops)
    asset, other = await records.create("assets"), await records.create("assets")
    batches = [[alert(assetId=asset["id"]), alert(assetId=other["id"]), state_change(other["id"], "maintenance"),
                alert(assetId=asset["id"]), state_change(asset["id"], status)][::step]
               for step in (1, -1) for status in ("maintenance", "active", "lost")]
    answers = await asyncio.gather(*(ops.post(INGEST, json={"events": events}) for events in batches))
    assert [a.status_code for a in answers] == [202] * len(batches), [a.text for a in answers]
    assert (await ops.get("/alerts", params={"limit": 100})).json()["page"]["total"] == 3 * len(batches)


async def test_a_caller_the_route_refuses_writes_nothing(api, db_engine, workspaces):
    """No role of the route, a workspace the token does not name, a body over the size limit: refused before
    anything of the batch is read into Postgres."""
    a, b = workspaces
    before = {a: await written(db_engine, a), b: await written(db_engine, b)}
    batch = {"events": [alert(), telemetry()]}
    assert_error(await V1(api, "viewer", workspace=a).post(INGEST, json=batch), 403, "forbidden_role")
    assert_error(await V1(api, "billing", "data_admin", workspace=a).post(INGEST, json=batch), 403, "forbidden_role")
    outsider = V1(api, "ops_engineer", workspace=a)
    assert_error(await outsider.post(INGEST, json=batch, headers={"x-workspace-id": b}), 404, "workspace_not_found")
    huge = {"events": [telemetry(blob="x" * 15_000) for _ in range(80)]}  # each event fits; the body does not
    assert_error(await outsider.post(INGEST, json=huge), 413)
    assert {a: await written(db_engine, a), b: await written(db_engine, b)} == before
