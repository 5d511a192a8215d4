"""Every /api/v1 list: the envelope, limit and offset, sortBy/sortOrder from a whitelist with a stable
order, `q` (websearch syntax over the record's words and numbers), and equality filters."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from models.platform_v1.catalog import BY_NAME, RESOURCES
from models.platform_v1.resource_spec import ResourceSpec, SortType
from tests.e2e.platform_v1.records import Records, properties, required_fields, spec_id
from tests.e2e.platform_v1.support import V1, new_workspace
from tests.support import assert_error

ENVELOPE = {"data", "page", "sort", "filters"}
ALWAYS_SORTABLE = {"createdAt", "updatedAt"}


@pytest.fixture
def admin(api, workspaces) -> V1:
    return V1(api, "msp_admin", workspace=workspaces[0])


@pytest.fixture
async def lists(admin: V1) -> dict[str, tuple[str, set[str]]]:
    """Every kind of list, each with a record or two in it: name → (path, the fields it sorts by)."""
    records = Records(admin)
    ticket = await records.create("tickets")
    for path in ("/platform/secrets/smtp-password", "/workspace/secrets/psa-token"):
        assert (await admin.post(path, json={"value": "s3cret-value"})).status_code == 201
    paths = {spec.name: (f"/{spec.name}", ALWAYS_SORTABLE | set(spec.sorts)) for spec in RESOURCES}
    return {**paths,
            "audit": (f"/tickets/{ticket['id']}/audit", {"at", "version"}),
            "workspaces": ("/workspaces", {"createdAt", "name"}),
            "platform-secrets": ("/platform/secrets", {"key", "createdAt", "updatedAt"}),
            "workspace-secrets": ("/workspace/secrets", {"key", "createdAt", "updatedAt"}),
            "audit-credentials": ("/audit-credentials", {"at", "key"})}


LISTS = [spec.name for spec in RESOURCES] + ["audit", "workspaces", "platform-secrets", "workspace-secrets",
                                             "audit-credentials"]


def assert_envelope(answer, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert set(page) == ENVELOPE
    assert page["page"]["limit"] == limit and page["page"]["offset"] == offset
    assert page["page"]["returned"] == len(page["data"]) <= limit
    assert page["page"]["total"] >= offset + len(page["data"])
    assert set(page["sort"]) == {"by", "order"} and page["sort"]["order"] in ("asc", "desc")
    assert isinstance(page["filters"], dict)
    return page


@pytest.mark.parametrize("name", LISTS)
async def test_every_list_answers_the_envelope_and_refuses_bad_paging_and_sorting(name, admin, lists):
    path, sortable = lists[name]
    whole = assert_envelope(await admin.get(path))
    assert whole["filters"] == {}
    total = whole["page"]["total"]
    assert assert_envelope(await admin.get(path, params={"limit": 500}), limit=500)["data"] == whole["data"]
    first = assert_envelope(await admin.get(path, params={"limit": 1}), limit=1)
    assert first["data"] == whole["data"][:1] and first["page"]["total"] == total
    beyond = assert_envelope(await admin.get(path, params={"offset": total}), offset=total)
    assert beyond["data"] == [] and beyond["page"]["total"] == total

    for limit in ("0", "501", "-1", "x", "", "1.5"):
        refused = assert_error(await admin.get(path, params={"limit": limit}), 400, "validation_error")
        assert refused["fields"][0]["field"] == "query.limit", refused
    for offset in ("-1", "x", "99999999999"):
        refused = assert_error(await admin.get(path, params={"offset": offset}), 400, "validation_error")
        assert refused["fields"][0]["field"] == "query.offset", refused

    for field in sortable:
        for order in ("asc", "desc"):
            sorted_page = assert_envelope(await admin.get(path, params={"sortBy": field, "sortOrder": order}))
            assert sorted_page["sort"] == {"by": field, "order": order}
            assert sorted_page["page"]["total"] == total
    unknown = assert_error(await admin.get(path, params={"sortBy": "password"}), 400, "invalid_sort")
    assert all(field in unknown["detail"] for field in sortable), unknown["detail"]
    assert_error(await admin.get(path, params={"sortBy": ""}), 400, "invalid_sort")
    for order in ("up", "ASC", ""):
        assert_error(await admin.get(path, params={"sortOrder": order}), 400, "invalid_sort")

    misspelt = assert_error(await admin.get(path, params={"sortby": "createdAt", "limt": 1}), 400,
                            "unknown_parameter")
    assert [f["field"] for f in misspelt["fields"]] == ["query.limt", "query.sortby"]
    assert "sortBy" in misspelt["detail"] and "limit" in misspelt["detail"], misspelt["detail"]


# --- sorting every resource by every field of its whitelist -----------------------------------------

WORDS = ["delta", "alpha", "charlie", "bravo", "alpha"]
DATES = ["2026-03-01", "2026-01-15", "2026-12-31", "2026-01-15", "2025-07-04"]
# In UTC: 10:00, 09:30, 10:00:00.5, 09:30 (the same instant as the second), 04:00.
MOMENTS = ["2026-05-13T10:00:00Z", "2026-05-13T11:30:00+02:00", "2026-05-13T10:00:00.500000Z",
           "2026-05-13T09:30:00Z", "2026-05-12T23:00:00-05:00"]
NUMBERS = [3, 1.5, 20, 1.5, 100]  # 100 < 20 < 3 as text
PICKS = [2, 0, 1, 0, 3]


def sort_value(schema: dict[str, Any], i: int) -> Any:
    if "enum" in schema:
        return schema["enum"][PICKS[i] % len(schema["enum"])]
    if schema.get("format") == "date":
        return DATES[i]
    if schema.get("format") == "date-time":
        return MOMENTS[i]
    if schema.get("type") == "number":
        return NUMBERS[i]
    return WORDS[i]


def varied_bodies(spec: ResourceSpec) -> list[dict[str, Any]]:
    """Five bodies whose sortable fields differ, with ties, and (optional fields) one without a value."""
    fields, required = properties(spec), set(required_fields(spec))
    bodies = []
    for i in range(5):
        body = {}
        for name in spec.sorts:
            body[name] = None if (i == 2 and name not in required) else sort_value(fields[name], i)
        bodies.append(body)
    return bodies


def order_key(spec: ResourceSpec, field: str, record: dict[str, Any]) -> tuple:
    """How a field compares: missing values last (ascending), then by id."""
    value = record.get(field)
    if value is None:
        return (1, 0, record["id"])
    key = spec.sorts.get(field)
    if field in ALWAYS_SORTABLE or (key and key.type == SortType.TEXT and properties(spec)[field].get("format")
                                    == "date-time"):
        compared: Any = datetime.fromisoformat(value)
    elif key and key.type == SortType.RANK:
        compared = key.rank.index(value)
    elif key and key.type == SortType.NUMBER:
        compared = float(value)
    else:
        compared = value
    return (0, compared, record["id"])


async def walk(v1: V1, path: str, params: dict[str, Any], limit: int) -> list[str]:
    ids, offset = [], 0
    while True:
        page = assert_envelope(await v1.get(path, params={**params, "limit": limit, "offset": offset}),
                               limit=limit, offset=offset)
        ids += [record["id"] for record in page["data"]]
        offset += limit
        if offset >= page["page"]["total"]:
            return ids


@pytest.mark.parametrize("spec", RESOURCES, ids=spec_id)
async def test_each_sortable_field_orders_the_list_both_ways_with_ties_broken_by_id(spec, admin):
    records = Records(admin)
    created = [await records.create(spec.name, **body) for body in varied_bodies(spec)]
    others = [record["id"] for record in created]

    default = assert_envelope(await admin.get(f"/{spec.name}"))
    assert default["sort"] == {"by": "createdAt", "order": "desc"}
    assert [record["id"] for record in default["data"]] == others[::-1]

    for field in sorted(ALWAYS_SORTABLE | set(spec.sorts)):
        expected = [record["id"] for record in sorted(created, key=lambda r: order_key(spec, field, r))]
        for order, ids in (("asc", expected), ("desc", expected[::-1])):
            page = assert_envelope(await admin.get(f"/{spec.name}", params={"sortBy": field, "sortOrder": order}))
            assert page["sort"] == {"by": field, "order": order}
            assert [record["id"] for record in page["data"]] == ids, (field, order, [
                record.get(field) for record in page["data"]])
            assert await walk(admin, f"/{spec.name}", {"sortBy": field, "sortOrder": order}, limit=2) == ids


async def test_times_are_answered_in_utc_whatever_zone_they_were_sent_in(admin):
    records = Records(admin)
    sent = await records.create("tickets", dueAt="2026-05-13T11:30:00+02:00")
    assert sent["dueAt"] == "2026-05-13T09:30:00.000000Z"
    later = await records.create("tickets", dueAt="2026-05-13T09:30:00.250Z")
    assert later["dueAt"] == "2026-05-13T09:30:00.250000Z"
    page = assert_envelope(await admin.get("/tickets", params={"sortBy": "dueAt", "sortOrder": "asc"}))
    assert [t["id"] for t in page["data"]] == [sent["id"], later["id"]]
    assert_error(await admin.post("/tickets", json=await records.body("tickets", dueAt="2026-05-13T09:30:00")),
                 400, "validation_error")


async def test_priority_sorts_by_rank_not_by_name(admin):
    records = Records(admin)
    for priority in ("high", "low", "critical", "medium"):
        await records.create("tickets", priority=priority, title=f"A {priority} one")
    asc = assert_envelope(await admin.get("/tickets", params={"sortBy": "priority", "sortOrder": "asc"}))
    assert [t["priority"] for t in asc["data"]] == ["low", "medium", "high", "critical"]
    desc = assert_envelope(await admin.get("/tickets", params={"sortBy": "priority", "sortOrder": "desc"}))
    assert [t["priority"] for t in desc["data"]] == ["critical", "high", "medium", "low"]
    default_order = assert_envelope(await admin.get("/tickets", params={"sortBy": "priority"}))
    assert default_order["sort"] == {"by": "priority", "order": "desc"}


# --- q ---------------------------------------------------------------------------------------------

@pytest.fixture
async def tickets(admin) -> dict[str, str]:
    records = Records(admin)
    made = {
        "fire": await records.create("tickets", title="Printer on fire", description="third floor kitchen"),
        "toner": await records.create("tickets", title="Printer toner low", assignee="bob", description=None),
        "mail": await records.create("tickets", title="Mail server down", description="error 554 on send"),
        "vpn": await records.create("tickets", title="VPN drops every hour", priority="critical",
                                    description="Überprüfung der Leitung, 日本語 ok"),
    }
    return {name: record["id"] for name, record in made.items()}


async def found(v1: V1, q: str, path: str = "/tickets") -> set[str]:
    page = assert_envelope(await v1.get(path, params={"q": q}))
    assert page["filters"] == ({"q": q.strip()} if q.strip() else {})
    return {record["id"] for record in page["data"]}


async def test_q_matches_words_phrases_and_exclusions(admin, tickets):
    t = tickets
    assert await found(admin, "printer") == {t["fire"], t["toner"]}
    assert await found(admin, "PRINTER") == {t["fire"], t["toner"]}
    assert await found(admin, "fire printer") == {t["fire"]}
    assert await found(admin, "kitchen") == {t["fire"]}          # a word of another field
    assert await found(admin, "bob") == {t["toner"]}
    assert await found(admin, "critical") == {t["vpn"]}          # an enum's value is a word too
    assert await found(admin, '"printer on fire"') == {t["fire"]}
    assert await found(admin, '"fire on printer"') == set()
    assert await found(admin, "printer -toner") == {t["fire"]}
    assert await found(admin, "printer --toner") == {t["toner"]}  # not not toner
    assert await found(admin, "printer - - -toner") == {t["fire"]}
    assert await found(admin, "printer or mail") == {t["fire"], t["toner"], t["mail"]}
    assert await found(admin, "554") == {t["mail"]}
    assert await found(admin, "nothing-like-this") == set()
    assert await found(admin, "  ") == set(t.values())           # blank is no search


async def test_q_finds_numbers_of_the_record(admin):
    records = Records(admin)
    small = await records.create("invoices", number="INV-2001", amount=1250.75)
    large = await records.create("invoices", number="INV-2002", amount=98000)
    assert await found(admin, "98000", "/invoices") == {large["id"]}
    assert await found(admin, "1250.75", "/invoices") == {small["id"]}
    assert await found(admin, "INV-2001", "/invoices") == {small["id"]}


ODD_QUERIES = ['"', '""', "'", "-", "--", "!", "&", "|", "&|!", "(", ")", "():*", "a:*", "\\", "or", "or or",
               "-printer", '"unclosed phrase', "a & b | !c", "<->", "printer <-> fire", "%", "_", "*", "?",
               "$$", "'; drop table platform_resources; --", "über", "日本語", "🔥", "\u202e", "x" * 200,
               '"' * 200, "-" * 200, "ü" * 200, "a b " * 50]


async def test_q_never_fails_on_odd_input(admin, tickets):
    for q in ODD_QUERIES:
        answer = await admin.get("/tickets", params={"q": q})
        assert answer.status_code == 200, (q, answer.text)
    too_long = assert_error(await admin.get("/tickets", params={"q": "x" * 201}), 400, "validation_error")
    assert too_long["fields"][0]["field"] == "query.q"
    assert_error(await admin.get("/tickets?q=a%00b"), 400)


# --- filters ---------------------------------------------------------------------------------------

async def test_filters_narrow_the_list_and_are_echoed(admin):
    records = Records(admin)
    globex, initech = (await records.create("clients", name="Globex"))["id"], \
        (await records.create("clients", name="Initech"))["id"]
    wanted = await records.create("tickets", clientId=globex, status="open", priority="high")
    await records.create("tickets", clientId=globex, status="open", priority="low")
    await records.create("tickets", clientId=initech, status="open", priority="high")
    await records.create("tickets", clientId=globex, status="closed", priority="high")

    filters = {"status": "open", "priority": "high", "clientId": globex}
    page = assert_envelope(await admin.get("/tickets", params=filters))
    assert [t["id"] for t in page["data"]] == [wanted["id"]] and page["page"]["total"] == 1
    assert page["filters"] == filters
    both = assert_envelope(await admin.get("/tickets", params={"priority": "high", "q": "printer"}))
    assert both["filters"] == {"priority": "high", "q": "printer"} and both["page"]["total"] == 3
    assert assert_envelope(await admin.get("/tickets", params={"clientId": initech}))["page"]["total"] == 1

    for bad in ({"priority": "urgent"}, {"status": "OPEN"}, {"priority": ""}):
        refused = assert_error(await admin.get("/tickets", params=bad), 400, "validation_error")
        field = next(iter(bad))
        assert refused["fields"][0]["field"] == f"query.{field}"
        assert all(value in refused["detail"] for value in properties(BY_NAME["tickets"])[field]["enum"])
    assert_error(await admin.get("/tickets", params={"clientId": "c" * 201}), 400, "validation_error")


async def test_a_misspelt_filter_is_400_instead_of_an_unfiltered_list(admin):
    records = Records(admin)
    await records.create("tickets")
    refused = assert_error(await admin.get("/tickets", params={"stauts": "open"}), 400, "unknown_parameter")
    assert refused["fields"] == [{"field": "query.stauts", "message": "not a parameter of this route",
                                  "type": "unknown_parameter"}]
    assert "status" in refused["detail"] and "clientId" in refused["detail"], refused["detail"]
    assert assert_envelope(await admin.get("/tickets", params={"status": "open"}))["filters"] == {"status": "open"}


async def test_every_resource_filters_on_its_declared_fields(admin):
    """A filter of each resource takes a value a record has and returns exactly the records with it."""
    records = Records(admin)
    for spec in RESOURCES:
        fields = properties(spec)
        record = await records.create(spec.name)
        await records.create(spec.name)
        for name in spec.filters:
            value = record.get(name)
            if value is None:
                value = fields[name]["enum"][0] if "enum" in fields[name] else "absent"
            page = assert_envelope(await admin.get(f"/{spec.name}", params={name: value}))
            expected = 2 if record.get(name) is not None else 0
            assert page["page"]["total"] == expected, (spec.name, name, value, page)
            assert page["filters"] == {name: value}


async def test_workspaces_sort_by_name_with_ties_by_id_and_q_finds_part_of_the_name(api, workspaces):
    admin = V1(api, "platform_admin")
    for name in ("Zeta MSP", "Alpha MSP", "Alpha MSP"):
        await new_workspace(api, name)
    asc = assert_envelope(await admin.get("/workspaces", params={"sortBy": "name", "sortOrder": "asc"}))["data"]
    assert [(w["name"], w["id"]) for w in asc] == sorted((w["name"], w["id"]) for w in asc)
    assert [w["name"] for w in asc] == ["Alpha MSP", "Alpha MSP", "Workspace A", "Workspace B", "Zeta MSP"]
    desc = assert_envelope(await admin.get("/workspaces", params={"sortBy": "name", "sortOrder": "desc"}))["data"]
    assert desc == asc[::-1]
    newest = assert_envelope(await admin.get("/workspaces"))
    assert newest["sort"] == {"by": "createdAt", "order": "desc"} and newest["data"][-1]["id"] == workspaces[0]

    alpha = assert_envelope(await admin.get("/workspaces", params={"q": "alpha"}))
    assert [w["name"] for w in alpha["data"]] == ["Alpha MSP", "Alpha MSP"] and alpha["filters"] == {"q": "alpha"}
    for literal in ("%", "_", "\\"):
        assert assert_envelope(await admin.get("/workspaces", params={"q": literal}))["data"] == []


async def test_the_unfiltered_total_follows_concurrent_creates_and_deletes(admin, workspaces, api):
    """An unfiltered list's total is kept by the writes themselves; it always equals the rows a filter counts."""
    client = (await admin.post("/clients", json={"name": "Counted"})).json()["id"]

    async def create(n: int) -> str:
        answer = await admin.post("/tickets", json={"clientId": client, "title": f"ticket {n}"})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    created = await asyncio.gather(*(create(n) for n in range(12)))
    deleted = await asyncio.gather(*(admin.delete(f"/tickets/{ticket}") for ticket in created[:5]))
    assert [answer.status_code for answer in deleted] == [204] * 5
    assert (await admin.delete(f"/tickets/{created[0]}")).status_code == 410  # counted once

    unfiltered = (await admin.get("/tickets")).json()["page"]["total"]
    counted = (await admin.get("/tickets", params={"clientId": client})).json()["page"]["total"]
    assert unfiltered == counted == 7
    other = V1(api, "msp_admin", workspace=workspaces[1])
    assert (await other.get("/tickets")).json()["page"]["total"] == 0
