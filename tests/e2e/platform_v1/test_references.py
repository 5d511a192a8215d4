"""References hold like foreign keys: a record live records name cannot be deleted (409 ``referenced``,
nothing changes), and a delete racing a write that names the record never leaves that write pointing at a
deleted record, whichever of the two reaches Postgres first."""

from __future__ import annotations

import asyncio

import pytest

from api.platform_v1.services.resources import REFERENCING_IDS_SHOWN
from models.platform_v1.catalog import REFERENCED_BY, RESOURCES
from models.platform_v1.resource_spec import ResourceSpec
from tests.e2e.platform_v1.locks import await_blocked, locked
from tests.e2e.platform_v1.records import Records
from tests.e2e.platform_v1.support import V1
from tests.support import assert_error

REFERENCES = [(source, field, source.references[field]) for source in RESOURCES for field in source.references]


@pytest.fixture
def admin(api, workspaces) -> V1:
    return V1(api, "msp_admin", workspace=workspaces[0])


def reference_id(reference: tuple[ResourceSpec, str, str]) -> str:
    source, field, target = reference
    return f"{source.name}.{field}->{target}"


def test_every_reference_is_known_to_the_record_it_names():
    assert sorted((s.name, f) for s, f, t in REFERENCES) == sorted(
        (s.name, f) for target in RESOURCES for s, f in REFERENCED_BY[target.name])
    assert {s.name for s, _ in REFERENCED_BY["clients"]} >= {"tickets", "contacts", "invoices"}


@pytest.mark.parametrize("reference", REFERENCES, ids=reference_id)
async def test_a_referenced_record_is_409_to_delete_until_nothing_live_names_it(reference, admin):
    source, field, target = reference
    records = Records(admin)
    named = await records.create(target)
    referencing = await records.create(source.name, **{field: named["id"]})
    one = f"/{target}/{named['id']}"

    refused = assert_error(await admin.delete(one), 409, "referenced")
    assert refused["references"] == [{"resource": source.name, "field": field, "count": 1,
                                      "ids": [referencing["id"]]}]
    assert f"by 1 {source.singular} ({field})" in refused["detail"], refused["detail"]
    assert (await admin.get(one)).json() == named, "the refused delete changed nothing"
    assert [e["action"] for e in (await admin.get(f"{one}/audit")).json()["data"]] == ["create"]
    assert named["id"] in [r["id"] for r in (await admin.get(f"/{target}", params={"limit": 500})).json()["data"]]

    assert (await admin.delete(f"/{source.name}/{referencing['id']}")).status_code == 204
    assert (await admin.delete(one)).status_code == 204, "a deleted record references nothing"


async def test_the_refusal_counts_every_kind_of_live_reference_and_names_them(admin):
    records = Records(admin)
    client = await records.create("clients")
    tickets = [(await records.create("tickets", clientId=client["id"]))["id"] for _ in range(2)]
    contact = (await records.create("contacts", clientId=client["id"]))["id"]
    refused = assert_error(await admin.delete(f"/clients/{client['id']}"), 409, "referenced")
    assert sorted((r["resource"], r["count"], r["ids"]) for r in refused["references"]) == [
        ("contacts", 1, [contact]), ("tickets", 2, sorted(tickets))]
    for counted in ("2 tickets (clientId)", "1 contact (clientId)"):
        assert counted in refused["detail"], refused["detail"]


async def test_the_refusal_names_at_most_ten_records_of_a_kind_and_counts_them_all(admin):
    records = Records(admin)
    client = await records.create("clients")
    made = {(await records.create("contacts", clientId=client["id"]))["id"] for _ in range(REFERENCING_IDS_SHOWN + 2)}
    await admin.delete(f"/contacts/{sorted(made)[0]}")
    live = made - {sorted(made)[0]}
    [contacts] = assert_error(await admin.delete(f"/clients/{client['id']}"), 409, "referenced")["references"]
    assert contacts["count"] == len(live) == REFERENCING_IDS_SHOWN + 1
    assert len(contacts["ids"]) == REFERENCING_IDS_SHOWN and set(contacts["ids"]) <= live
    assert contacts["ids"] == sorted(contacts["ids"])


async def test_a_reference_in_another_workspace_does_not_hold_a_record(api, workspaces, admin):
    """Ids are unique across workspaces, so this only checks the probe stays in the caller's workspace."""
    client = await Records(admin).create("clients")
    other = V1(api, "msp_admin", workspace=workspaces[1])
    assert_error(await other.post("/tickets", json=await Records(other).body("tickets", clientId=client["id"])),
                 400, "invalid_reference")
    assert (await admin.delete(f"/clients/{client['id']}")).status_code == 204


async def test_a_write_naming_a_record_that_commits_first_makes_the_racing_delete_409(admin, workspaces,
                                                                                    db_engine):
    """The ticket's create has checked its client and written the ticket, and waits (on its count) before
    it commits; the client's delete waits for it and then sees the ticket."""
    records = Records(admin)
    client = await records.create("clients")
    await records.create("tickets")  # the workspace's ticket count exists, so it can be held
    async with locked(db_engine, "SELECT live FROM platform_resource_counts WHERE workspace_id = :ws "
                                 "AND kind = 'tickets' FOR UPDATE", ws=workspaces[0]):
        create = asyncio.create_task(admin.post("/tickets", json=await records.body("tickets",
                                                                                    clientId=client["id"])))
        await await_blocked(db_engine, "INSERT INTO platform_resource_counts")
        delete = asyncio.create_task(admin.delete(f"/clients/{client['id']}"))
        await await_blocked(db_engine, "SELECT platform_resources")
    assert (await create).status_code == 201
    assert_error(await delete, 409, "referenced")
    assert (await admin.get(f"/clients/{client['id']}")).status_code == 200


async def test_a_delete_that_commits_first_makes_the_racing_write_400(admin, workspaces, db_engine):
    """The client's delete has found no reference and marked it deleted, and waits (on its count) before it
    commits; the ticket's create waits for it and then finds no client."""
    records = Records(admin)
    client = await records.create("clients")
    body = await records.body("tickets", clientId=client["id"])
    async with locked(db_engine, "SELECT live FROM platform_resource_counts WHERE workspace_id = :ws "
                                 "AND kind = 'clients' FOR UPDATE", ws=workspaces[0]):
        delete = asyncio.create_task(admin.delete(f"/clients/{client['id']}"))
        await await_blocked(db_engine, "INSERT INTO platform_resource_counts")
        create = asyncio.create_task(admin.post("/tickets", json=body))
        await await_blocked(db_engine, "SELECT platform_resources")
    assert (await delete).status_code == 204
    assert_error(await create, 400, "invalid_reference")
    tickets = (await admin.get("/tickets", params={"clientId": client["id"]})).json()
    assert tickets["page"]["total"] == 0, "no live ticket names the deleted client"
