"""Idempotency-Key on the mutating /api/v1 routes (the IETF draft): required, replayed, refused when reused
for another request, 409 while the first request is in flight, released by an error, expiring.

To hold a request in flight without sleeping, a test locks what the request writes in Postgres (the
resources table, or the row a PATCH changes) from its own transaction: the request blocks inside its
write, after its key is reserved, until the test lets go."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform_v1.services.idempotency_keys import canonical_json, fingerprint
from capstan.devstack.ports import free_port
from capstan.settings import Settings
from models.platform_v1.settings import PlatformSettings
from tests.e2e.platform_v1.locks import await_blocked, locked
from tests.e2e.platform_v1.support import JWT_SECRET, V1, token
from tests.e2e.tasks.support import LiveApi


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def new_key() -> str:
    return str(uuid.uuid4())


async def total(v1: V1, resource: str = "clients") -> int:
    listed = await v1.get(f"/{resource}")
    assert listed.status_code == 200, listed.text
    return listed.json()["page"]["total"]


async def key_rows(db_engine: AsyncEngine, key: str) -> list[dict[str, Any]]:
    async with db_engine.connect() as conn:
        rows = await conn.execute(text("SELECT *, xmin::text AS xmin FROM platform_idempotency_keys WHERE key = :key"),
                                  {"key": key})
        return [dict(row._mapping) for row in rows]


def hold_resource_writes(db_engine: AsyncEngine):
    """No row of platform_resources can be inserted or changed while this is held (reads still work)."""
    return locked(db_engine, "LOCK TABLE platform_resources IN EXCLUSIVE MODE")


async def await_writers_done(db_engine: AsyncEngine) -> None:
    """Until every transaction that has written platform_resources has ended (SHARE waits for them)."""
    async with locked(db_engine, "LOCK TABLE platform_resources IN SHARE MODE"):
        pass


async def reserve_without_answer(db_engine: AsyncEngine, workspace: str, key: str, body: bytes) -> None:
    """A reservation of ``key`` for ``POST /api/v1/clients`` with ``body``, made just now by a request that has
    not answered (yet, or ever)."""
    async with db_engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO platform_idempotency_keys (scope, principal, route, key, fingerprint, created_at, expires_at) "
            "VALUES (:scope, 'tester', 'POST /api/v1/clients', :key, :print, now(), now() + interval '1 day')"),
            {"scope": workspace, "key": key, "print": fingerprint("POST", "/api/v1/clients", body)})


def bytes_fingerprint(method: str, path: str, body: bytes) -> str:
    """A key's fingerprint as it was stored before fingerprints were canonical: sha256 of the length-prefixed
    method, path and body bytes."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def with_platform(settings: Settings, **platform: Any) -> Settings:
    return Settings(**{**vars(settings), "platform": PlatformSettings(jwt_secret=JWT_SECRET, **platform)})


# --- a key is required ---------------------------------------------------------------------------------------

async def test_a_mutation_without_a_key_is_400_and_changes_nothing(api, workspaces):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    client = (await ops.post("/clients", json={"name": "Globex"})).json()
    bare = {"Authorization": f"Bearer {ops.token}", "x-workspace-id": a}
    one = f"/api/v1/clients/{client['id']}"
    for method, path, body in [("POST", "/api/v1/clients", {"name": "Initech"}),
                               ("PUT", one, {"name": "Initech"}),
                               ("PATCH", one, {"name": "Initech"}),
                               ("DELETE", one, None)]:
        for headers in (bare, {**bare, "Idempotency-Key": "   "}):
            response = await api.request(method, path, headers=headers, json=body)
            assert response.status_code == 400, f"{method}: {response.text}"
            assert response.json()["error"] == "idempotency_key_required"
            assert "Idempotency-Key" in response.json()["detail"]
    assert await total(ops) == 1
    unchanged = await ops.get(f"/clients/{client['id']}")
    assert unchanged.json()["name"] == "Globex" and unchanged.json()["version"] == 1
    admin = V1(api, "platform_admin")
    before = (await admin.get("/workspaces")).json()["page"]["total"]
    refused = await api.post("/api/v1/workspaces", json={"name": "No key"},
                             headers={"Authorization": f"Bearer {admin.token}"})
    assert refused.status_code == 400 and refused.json()["error"] == "idempotency_key_required"
    assert (await admin.get("/workspaces")).json()["page"]["total"] == before


async def test_the_access_check_answers_before_the_key_is_looked_at(api, workspaces):
    a, _ = workspaces
    viewer = await api.post("/api/v1/clients", json={"name": "Globex"},
                            headers={"Authorization": f"Bearer {token('viewer', workspaces=[a])}", "x-workspace-id": a})
    assert viewer.status_code == 403, viewer.text
    no_workspace = await api.post("/api/v1/clients", json={"name": "Globex"},
                                  headers={"Authorization": f"Bearer {token('ops_engineer', workspaces=[a])}"})
    assert no_workspace.status_code == 400 and no_workspace.json()["error"] == "workspace_required"


@pytest.mark.parametrize("key, why", [("k" * 256, "256 characters"), ("clé".encode(), "not ASCII"),
                                      ("tab\tinside", "a control character"), ("del\x7f", "DEL")])
async def test_a_malformed_key_is_400_and_creates_nothing(api, workspaces, key, why):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    response = await ops.post("/clients", json={"name": "Globex"}, headers={"Idempotency-Key": key})
    assert response.status_code == 400, f"{why}: {response.text}"
    assert response.json()["error"] == "invalid_idempotency_key"
    assert await total(ops) == 0


async def test_a_key_of_255_printable_characters_is_accepted(api, workspaces, db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key = "~ A-z0-9!" + "k" * 246
    assert len(key) == 255
    first = await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
    assert first.status_code == 201, first.text
    again = await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
    assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert [row["key"] for row in await key_rows(db_engine, key)] == [key]


# --- replay, and a changed request ---------------------------------------------------------------------------

async def test_the_same_key_and_body_replays_the_stored_response(api, workspaces):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key = new_key()
    first = await ops.post("/clients", json={"name": "Globex", "tags": ["vip"]}, headers=keyed(key))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await ops.post("/clients", json={"name": "Globex", "tags": ["vip"]}, headers=keyed(key))
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    for header in ("etag", "location", "content-type"):
        assert again.headers[header] == first.headers[header], header
    assert await total(ops) == 1
    audit = await ops.get(f"/clients/{first.json()['id']}/audit")
    assert [entry["action"] for entry in audit.json()["data"]] == ["create"]
    # the stored response, not the record as it is now
    changed = await ops.patch(f"/clients/{first.json()['id']}", json={"name": "Globex Corp"})
    assert changed.status_code == 200, changed.text
    later = await ops.post("/clients", json={"name": "Globex", "tags": ["vip"]}, headers=keyed(key))
    assert later.headers["idempotent-replayed"] == "true" and later.json() == first.json()


async def test_a_replayed_patch_and_delete_change_nothing_more(api, workspaces):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    client = (await ops.post("/clients", json={"name": "Globex"})).json()
    path = f"/clients/{client['id']}"
    patch_key = new_key()
    patched = await ops.patch(path, json={"industry": "Chemicals"}, headers=keyed(patch_key))
    assert patched.status_code == 200 and patched.json()["version"] == 2, patched.text
    again = await ops.patch(path, json={"industry": "Chemicals"}, headers=keyed(patch_key))
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == patched.json() and again.headers["etag"] == patched.headers["etag"] == '"2"'
    assert (await ops.get(path)).json()["version"] == 2
    delete_key = new_key()
    deleted = await ops.delete(path, headers=keyed(delete_key))
    assert deleted.status_code == 204, deleted.text
    replayed = await ops.delete(path, headers=keyed(delete_key))
    assert replayed.status_code == 204 and replayed.headers["idempotent-replayed"] == "true"
    assert replayed.content == b""
    assert (await ops.delete(path)).status_code == 410, "a new key is a new delete: the record is gone"
    audit = await ops.get(f"{path}/audit")
    assert [entry["action"] for entry in audit.json()["data"]] == ["delete", "patch", "create"]


async def test_the_same_key_with_another_body_or_path_is_422(api, workspaces):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key = new_key()
    first = await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
    assert first.status_code == 201, first.text
    reused = await ops.post("/clients", json={"name": "Initech"}, headers=keyed(key))
    assert reused.status_code == 422, reused.text
    assert reused.json()["error"] == "idempotency_key_reused"
    assert await total(ops) == 1
    assert (await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))).json() == first.json()
    # one route template, two records: two operations
    second = (await ops.post("/clients", json={"name": "Initech"})).json()
    patch_key = new_key()
    assert (await ops.patch(f"/clients/{first.json()['id']}", json={"notes": "x"},
                            headers=keyed(patch_key))).status_code == 200
    other = await ops.patch(f"/clients/{second['id']}", json={"notes": "x"}, headers=keyed(patch_key))
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert "notes" not in (await ops.get(f"/clients/{second['id']}")).json()


async def test_the_same_body_in_another_key_order_or_spacing_replays(api, workspaces):
    """The fingerprint compares the body's canonical JSON: a client that re-serialises its retry (another key
    order, other whitespace, an escaped letter) gets the stored answer, not a 422; another body still 422."""
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key = new_key()
    headers = {**keyed(key), "content-type": "application/json"}
    first = await ops.post("/clients", content=b'{"name": "Globex", "tags": ["vip", "msp"], "industry": "Chemicals"}',
                           headers=headers)
    assert first.status_code == 201, first.text
    for same in (b'{"industry":"Chemicals","tags":["vip","msp"],"name":"Globex"}',
                 b'{\n  "tags" : [ "vip", "msp" ],\n  "name" : "Globex",\n  "industry" : "Chemicals"\n}\n',
                 b'{"name": "\\u0047lobex", "industry": "Chemicals", "tags": ["vip", "msp"]}'):
        again = await ops.post("/clients", content=same, headers=headers)
        assert again.status_code == 201, f"{same!r}: {again.text}"
        assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json(), same
    for other in (b'{"name": "Globex", "tags": ["msp", "vip"], "industry": "Chemicals"}',
                  b'{"name": "Globex", "tags": ["vip", "msp"]}'):
        reused = await ops.post("/clients", content=other, headers=headers)
        assert reused.status_code == 422 and reused.json()["error"] == "idempotency_key_reused", other
    assert await total(ops) == 1


async def test_a_key_stored_before_fingerprints_were_canonical_replays_its_identical_retry(api, workspaces,
                                                                                        db_engine):
    """A key stored with the fingerprint of the body's bytes (as every key was before) keeps its meaning: the
    identical retry replays, another body is 422."""
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key, body = new_key(), b'{"tags": ["vip"], "name": "Globex"}'
    headers = {**keyed(key), "content-type": "application/json"}
    first = await ops.post("/clients", content=body, headers=headers)
    assert first.status_code == 201, first.text
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE platform_idempotency_keys SET fingerprint = :print WHERE key = :key"),
                           {"key": key, "print": bytes_fingerprint("POST", "/api/v1/clients", body)})
    again = await ops.post("/clients", content=body, headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true", again.text
    assert again.json() == first.json()
    other = await ops.post("/clients", content=b'{"name": "Initech"}', headers=headers)
    assert other.status_code == 422, other.text
    assert await total(ops) == 1


async def test_a_key_stored_before_the_query_counted_replays_its_identical_retry(api, workspaces, db_engine):
    """A key stored with the fingerprint of method, path and canonical body only (as every key was before the
    query string counted) keeps its meaning: the identical retry replays, another body is 422."""
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key, body = new_key(), b'{"tags": ["vip"], "name": "Globex"}'
    headers = {**keyed(key), "content-type": "application/json"}
    first = await ops.post("/clients", content=body, headers=headers)
    assert first.status_code == 201, first.text
    path_only = bytes_fingerprint("POST", "/api/v1/clients", canonical_json(body))
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE platform_idempotency_keys SET fingerprint = :print WHERE key = :key"),
                           {"key": key, "print": path_only})
    again = await ops.post("/clients", content=b'{"name":"Globex","tags":["vip"]}', headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true", again.text
    assert again.json() == first.json()
    other = await ops.post("/clients", content=b'{"name": "Initech"}', headers=headers)
    assert other.status_code == 422, other.text
    assert await total(ops) == 1


async def test_the_response_is_stored_in_the_transaction_of_the_write(api, workspaces, db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key = new_key()
    created = await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
    assert created.status_code == 201
    [row] = await key_rows(db_engine, key)
    assert row["status_code"] == 201 and row["completed_at"] is not None
    assert json.loads(row["response_body"]) == created.json()
    assert row["response_headers"]["etag"] == created.headers["etag"]
    assert row["response_headers"]["location"] == created.headers["location"]
    assert row["scope"] == a and row["principal"] == "tester" and row["route"] == "POST /api/v1/clients"
    async with db_engine.connect() as conn:
        record_xmin = (await conn.execute(text("SELECT xmin::text FROM platform_resources WHERE id = :id"),
                                          {"id": created.json()["id"]})).scalar_one()
        audit_xmin = (await conn.execute(text("SELECT xmin::text FROM platform_audit WHERE resource_id = :id"),
                                         {"id": created.json()["id"]})).scalar_one()
    assert row["xmin"] == record_xmin == audit_xmin, "the record, its audit and its response: one transaction"
    workspace_key = new_key()
    workspace = await V1(api, "platform_admin").post("/workspaces", json={"name": "C"}, headers=keyed(workspace_key))
    [ws_row] = await key_rows(db_engine, workspace_key)
    async with db_engine.connect() as conn:
        ws_xmin = (await conn.execute(text("SELECT xmin::text FROM platform_workspaces WHERE id = :id"),
                                      {"id": workspace.json()["id"]})).scalar_one()
    assert ws_row["scope"] == "platform" and ws_row["status_code"] == 201 and ws_row["xmin"] == ws_xmin


# --- in flight -----------------------------------------------------------------------------------------------

async def test_the_same_key_while_the_first_request_is_in_flight_is_409(api, workspaces, db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key = new_key()
    async with hold_resource_writes(db_engine):
        first = asyncio.create_task(ops.post("/clients", json={"name": "Globex"}, headers=keyed(key)))
        await await_blocked(db_engine, "INSERT INTO platform_resources")
        [reservation] = await key_rows(db_engine, key)
        assert reservation["status_code"] is None, "reserved, no response yet"
        second = await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
        assert second.status_code == 409, second.text
        assert second.json()["error"] == "idempotency_key_in_flight"
        assert second.headers["retry-after"] == "1"
        changed = await ops.post("/clients", json={"name": "Initech"}, headers=keyed(key))
        assert changed.status_code == 422, "another body is another request, in flight or not"
        assert not first.done()
    answered = await first
    assert answered.status_code == 201, answered.text
    third = await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
    assert third.headers["idempotent-replayed"] == "true" and third.json() == answered.json()
    assert await total(ops) == 1


async def test_a_patch_in_flight_is_409_and_changes_the_record_once(api, workspaces, db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    client = (await ops.post("/clients", json={"name": "Globex"})).json()
    key = new_key()
    async with locked(db_engine, "SELECT id FROM platform_resources WHERE id = :id FOR UPDATE", id=client["id"]):
        first = asyncio.create_task(ops.patch(f"/clients/{client['id']}", json={"name": "Globex Corp"},
                                              headers=keyed(key)))
        await await_blocked(db_engine, "SELECT platform_resources")
        second = await ops.patch(f"/clients/{client['id']}", json={"name": "Globex Corp"}, headers=keyed(key))
        assert second.status_code == 409, second.text
        assert second.json()["error"] == "idempotency_key_in_flight"
    answered = await first
    assert answered.status_code == 200 and answered.json()["version"] == 2, answered.text
    audit = (await ops.get(f"/clients/{client['id']}/audit")).json()["data"]
    assert [entry["action"] for entry in audit] == ["patch", "create"]


async def test_concurrent_requests_with_one_key_create_one_record(api, workspaces):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key = new_key()
    answers = await asyncio.gather(*(ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
                                     for _ in range(8)))
    statuses = sorted(response.status_code for response in answers)
    assert set(statuses) <= {201, 409}, [response.text for response in answers]
    processed = [r for r in answers if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(processed) == 1, statuses
    for response in answers:
        if response.status_code == 409:
            assert response.json()["error"] == "idempotency_key_in_flight"
        else:
            assert response.json()["id"] == processed[0].json()["id"]
    assert await total(ops) == 1


async def test_a_create_retried_after_a_client_timeout_creates_one_record(settings, temporal_client, workspaces,
                                                                          db_engine):
    """The client gives up while the server is still writing; the server finishes; the client sends the
    request again with its key and gets the first answer, not a second record."""
    a, _ = workspaces
    async with LiveApi(settings, temporal_client, free_port()) as http:
        ops = V1(http, "ops_engineer", workspace=a)
        key = new_key()
        async with hold_resource_writes(db_engine):
            with pytest.raises(httpx.TimeoutException):
                await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key), timeout=0.5)
            await await_blocked(db_engine, "INSERT INTO platform_resources")
        await await_writers_done(db_engine)
        retried = await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
        assert retried.status_code == 201, retried.text
        assert retried.headers["idempotent-replayed"] == "true"
        listed = (await ops.get("/clients")).json()
        assert listed["page"]["total"] == 1
        assert listed["data"][0]["id"] == retried.json()["id"]


async def test_an_abandoned_reservation_is_taken_over(api, workspaces, db_engine):
    """A reservation whose request never answered (its process died before it wrote) blocks its key for
    IN_FLIGHT_SECONDS, then the next request with the key runs."""
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key, body = new_key(), b'{"name":"Globex"}'
    await reserve_without_answer(db_engine, a, key, body)
    headers = {"Idempotency-Key": key, "content-type": "application/json"}
    recent = await ops.post("/clients", content=body, headers=headers)
    assert recent.status_code == 409, recent.text
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE platform_idempotency_keys SET created_at = now() - interval '10 minutes' "
                                "WHERE key = :key"), {"key": key})
    taken_over = await ops.post("/clients", content=body, headers=headers)
    assert taken_over.status_code == 201, taken_over.text
    assert "idempotent-replayed" not in taken_over.headers
    assert (await ops.post("/clients", content=body, headers=headers)).headers["idempotent-replayed"] == "true"
    assert await total(ops) == 1


async def test_a_key_released_while_a_duplicate_reads_it_is_reserved_again(api, workspaces, db_engine):
    """The first request's error releases (deletes) its reservation while a duplicate waits on it in the
    reserving statement: the duplicate reserves the key itself, it does not fail."""
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key, body = new_key(), b'{"name":"Globex"}'
    await reserve_without_answer(db_engine, a, key, body)
    async with locked(db_engine, "SELECT id FROM platform_idempotency_keys WHERE key = :key FOR UPDATE",
                      key=key) as first:
        duplicate = asyncio.create_task(ops.post("/clients", content=body,
                                                 headers={"Idempotency-Key": key, "content-type": "application/json"}))
        await await_blocked(db_engine, "INSERT INTO platform_idempotency_keys")
        await first.execute(text("DELETE FROM platform_idempotency_keys WHERE key = :key"), {"key": key})
    answered = await duplicate
    assert answered.status_code == 201, answered.text
    assert await total(ops) == 1


# --- errors release the key ----------------------------------------------------------------------------------

async def test_an_error_releases_the_key_for_the_corrected_request(api, workspaces, db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key = new_key()
    invalid = await ops.post("/clients", json={"status": "active"}, headers=keyed(key))
    assert invalid.status_code == 400 and invalid.json()["error"] == "validation_error", invalid.text
    assert await key_rows(db_engine, key) == [], "nothing is kept of a request that changed nothing"
    corrected = await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
    assert corrected.status_code == 201, "not 422: the failed request was not stored"
    assert "idempotent-replayed" not in corrected.headers
    client = corrected.json()

    missing_key = new_key()
    missing = await ops.patch("/clients/cli_none", json={"name": "Initech"}, headers=keyed(missing_key))
    assert missing.status_code == 404, missing.text
    found = await ops.patch(f"/clients/{client['id']}", json={"name": "Initech"}, headers=keyed(missing_key))
    assert found.status_code == 200 and found.json()["name"] == "Initech"

    stale_key = new_key()
    stale = await ops.patch(f"/clients/{client['id']}", json={"notes": "called"},
                            headers={**keyed(stale_key), "If-Match": '"1"'})
    assert stale.status_code == 412, stale.text
    fresh = await ops.patch(f"/clients/{client['id']}", json={"notes": "called"},
                            headers={**keyed(stale_key), "If-Match": found.headers["etag"]})
    assert fresh.status_code == 200, "the same request with a fresh If-Match runs: the 412 was not stored"
    assert fresh.json()["notes"] == "called"

    admin = V1(api, "platform_admin")
    workspace_key = new_key()
    unnamed = await admin.post("/workspaces", json={"name": ""}, headers=keyed(workspace_key))
    assert unnamed.status_code in (400, 422), unnamed.text
    named = await admin.post("/workspaces", json={"name": "Named"}, headers=keyed(workspace_key))
    assert named.status_code == 201 and "idempotent-replayed" not in named.headers, named.text


# --- scope and expiry ----------------------------------------------------------------------------------------

async def test_keys_are_per_principal_per_workspace_and_per_route(api, workspaces):
    a, b = workspaces
    key = new_key()
    alice = V1(api, "ops_engineer", workspace=a, workspaces=[a, b], sub="alice")
    bob = V1(api, "ops_engineer", workspace=a, sub="bob")
    alice_in_b = V1(api, "ops_engineer", workspace=b, workspaces=[a, b], sub="alice")
    made = {}
    for who, v1 in (("alice", alice), ("bob", bob), ("alice in b", alice_in_b)):
        response = await v1.post("/clients", json={"name": "Globex"}, headers=keyed(key))
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers, (who, response.text)
        made[who] = response.json()["id"]
    assert len(set(made.values())) == 3
    assert await total(alice) == 2 and await total(alice_in_b) == 1
    other_route = await alice.post("/contacts", json={"clientId": made["alice"], "firstName": "Ada",
                                                      "lastName": "Lovelace"}, headers=keyed(key))
    assert other_route.status_code == 201 and "idempotent-replayed" not in other_route.headers, other_route.text
    admin = V1(api, "platform_admin", sub="alice")
    workspace = await admin.post("/workspaces", json={"name": "Globex"}, headers=keyed(key))
    assert workspace.status_code == 201 and "idempotent-replayed" not in workspace.headers, workspace.text
    assert (await admin.post("/workspaces", json={"name": "Globex"}, headers=keyed(key))).json() == workspace.json()


async def test_a_key_never_replays_to_a_caller_the_route_refuses(api, workspaces):
    """The stored answer of workspace B is not replayed to the same subject once its token no longer
    names B, nor once its roles no longer allow the route."""
    a, b = workspaces
    key = new_key()
    in_b = V1(api, "ops_engineer", workspace=b, sub="carol")
    created = await in_b.post("/clients", json={"name": "Secret of B"}, headers=keyed(key))
    assert created.status_code == 201
    only_a = V1(api, "ops_engineer", workspace=b, workspaces=[a], sub="carol")
    outside = await only_a.post("/clients", json={"name": "Secret of B"}, headers=keyed(key))
    assert outside.status_code == 404 and outside.json()["error"] == "workspace_not_found", outside.text
    assert "Secret of B" not in outside.text
    viewer = V1(api, "viewer", workspace=b, sub="carol")
    demoted = await viewer.post("/clients", json={"name": "Secret of B"}, headers=keyed(key))
    assert demoted.status_code == 403 and "Secret of B" not in demoted.text, demoted.text


async def test_an_expired_key_can_be_used_again(api, workspaces, db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    key = new_key()
    first = await ops.post("/clients", json={"name": "Globex"}, headers=keyed(key))
    assert first.status_code == 201
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE platform_idempotency_keys SET expires_at = now() - interval '1 second' "
                                "WHERE key = :key"), {"key": key})
    again = await ops.post("/clients", json={"name": "Initech"}, headers=keyed(key))
    assert again.status_code == 201, "not 422: the key expired with its stored response"
    assert "idempotent-replayed" not in again.headers and again.json()["id"] != first.json()["id"]
    assert await total(ops) == 2
    assert [row["fingerprint"] for row in await key_rows(db_engine, key)] == \
        [fingerprint("POST", "/api/v1/clients", again.request.content)]


async def test_keys_expire_after_the_configured_ttl(api_factory, settings, workspaces, db_engine):
    a, _ = workspaces
    async with api_factory(with_platform(settings, idempotency_ttl_hours=2)) as api:
        key = new_key()
        created = await V1(api, "ops_engineer", workspace=a).post("/clients", json={"name": "Globex"},
                                                                 headers=keyed(key))
        assert created.status_code == 201
    [row] = await key_rows(db_engine, key)
    assert (row["expires_at"] - row["created_at"]).total_seconds() == pytest.approx(2 * 3600, abs=1)
