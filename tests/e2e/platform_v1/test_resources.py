"""The resource engine, on every resource of the catalog: create, read, replace, merge-patch and soft
delete; ETag and If-Match; the audit trail; and bodies it refuses without creating or changing anything."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from models.platform_v1.catalog import BY_NAME, RESOURCES
from models.platform_v1.resource_spec import ResourceSpec
from tests.e2e.platform_v1.records import (
    EDITS,
    OPTIONAL,
    Records,
    bounded_string,
    enum_fields,
    missing_id,
    properties,
    required_fields,
    spec_id,
)
from tests.e2e.platform_v1.support import V1
from tests.support import assert_error

pytestmark = pytest.mark.parametrize("spec", RESOURCES, ids=spec_id)

META = {"id", "workspaceId", "version", "createdAt", "updatedAt", "createdBy", "updatedBy"}
ACTOR = "ada@msp.example"


def body_of(view: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in view.items() if key not in META}


def moment(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


@pytest.fixture
def writer(api, workspaces) -> V1:
    """``data_admin`` writes every resource, operational and financial, in workspace A only."""
    return V1(api, "data_admin", workspace=workspaces[0], sub=ACTOR)


async def current(v1: V1, spec: ResourceSpec, resource_id: str) -> dict[str, Any]:
    got = await v1.get(f"/{spec.name}/{resource_id}")
    assert got.status_code == 200, got.text
    assert got.headers["etag"] == f'"{got.json()["version"]}"'
    return got.json()


async def audit_of(v1: V1, spec: ResourceSpec, resource_id: str) -> list[dict[str, Any]]:
    trail = await v1.get(f"/{spec.name}/{resource_id}/audit")
    assert trail.status_code == 200, trail.text
    return trail.json()["data"]


async def listed_ids(v1: V1, spec: ResourceSpec) -> list[str]:
    listed = await v1.get(f"/{spec.name}")
    assert listed.status_code == 200, listed.text
    return [record["id"] for record in listed.json()["data"]]


async def test_create_read_replace_patch_and_delete(spec, writer, workspaces):
    records = Records(writer)
    body = await records.body(spec.name)
    created = await writer.post(f"/{spec.name}", json=body)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["id"].startswith(f"{spec.prefix}_")
    assert created.headers["location"] == f"/api/v1/{spec.name}/{record['id']}"
    assert created.headers["etag"] == '"1"'
    assert record["workspaceId"] == workspaces[0] and record["version"] == 1
    assert record["createdBy"] == record["updatedBy"] == ACTOR
    assert moment(record["createdAt"]) == moment(record["updatedAt"])
    assert {key: record[key] for key in body} == body

    read = await writer.get(created.headers["location"].removeprefix("/api/v1"))
    assert read.status_code == 200 and read.json() == record and read.headers["etag"] == '"1"'

    field, value = EDITS[spec.name]
    replaced = await writer.put(f"/{spec.name}/{record['id']}", json={**body, field: value})
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] == '"2"'
    after_put = replaced.json()
    assert after_put["version"] == 2 and after_put[field] == value and after_put["createdAt"] == record["createdAt"]
    assert moment(after_put["updatedAt"]) > moment(record["updatedAt"])
    assert await current(writer, spec, record["id"]) == after_put

    optional = OPTIONAL[spec.name]
    patched = await writer.patch(f"/{spec.name}/{record['id']}", json={field: body[field], optional: None})
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"3"'
    after_patch = patched.json()
    assert after_patch["version"] == 3 and after_patch[field] == body[field] and optional not in after_patch
    untouched = {key: value for key, value in body_of(after_put).items() if key not in (field, optional)}
    assert {key: after_patch[key] for key in untouched} == untouched
    assert await current(writer, spec, record["id"]) == after_patch

    required = required_fields(spec)[0]
    refused = await writer.patch(f"/{spec.name}/{record['id']}", json={required: None})
    assert_error(refused, 400, "validation_error")
    assert f"body.{required}" in [item["field"] for item in refused.json()["fields"]]
    assert await current(writer, spec, record["id"]) == after_patch

    deleted = await writer.delete(f"/{spec.name}/{record['id']}")
    assert deleted.status_code == 204, deleted.text
    assert record["id"] not in await listed_ids(writer, spec)
    assert_error(await writer.get(f"/{spec.name}/{record['id']}"), 410, "gone")
    assert_error(await writer.delete(f"/{spec.name}/{record['id']}"), 410, "gone")
    assert_error(await writer.put(f"/{spec.name}/{record['id']}", json=body), 410, "gone")
    assert_error(await writer.patch(f"/{spec.name}/{record['id']}", json={field: value}), 410, "gone")
    assert_error(await writer.get(f"/{spec.name}/{missing_id(spec)}"), 404, "not_found")


async def test_if_match_refuses_a_stale_version_and_changes_nothing(spec, writer):
    records = Records(writer)
    body = await records.body(spec.name)
    record = await records.create(spec.name)
    one = f"/{spec.name}/{record['id']}"
    field, value = EDITS[spec.name]
    stale = {"If-Match": '"7"'}

    assert_error(await writer.put(one, json={**body, field: value}, headers=stale), 412, "precondition_failed")
    assert_error(await writer.patch(one, json={field: value}, headers=stale), 412, "precondition_failed")
    assert_error(await writer.delete(one, headers=stale), 412, "precondition_failed")
    assert await current(writer, spec, record["id"]) == record
    assert len(await audit_of(writer, spec, record["id"])) == 1

    replaced = await writer.put(one, json={**body, field: value}, headers={"If-Match": '"1"'})
    assert replaced.status_code == 200 and replaced.headers["etag"] == '"2"', replaced.text
    patched = await writer.patch(one, json={field: body[field]}, headers={"If-Match": "*"})
    assert patched.status_code == 200 and patched.headers["etag"] == '"3"', patched.text
    assert_error(await writer.patch(one, json={field: value}, headers={"If-Match": '"2"'}), 412)
    assert (await current(writer, spec, record["id"]))[field] == body[field]
    assert_error(await writer.patch(one, json={field: value}, headers={"If-Match": 'W/"3"'}), 412)
    listed_etags = await writer.patch(one, json={field: value}, headers={"If-Match": '"1", "3"'})
    assert listed_etags.status_code == 200 and listed_etags.headers["etag"] == '"4"', listed_etags.text
    assert (await writer.delete(one, headers={"If-Match": '"4"'})).status_code == 204


async def test_every_change_is_in_the_audit_trail_with_its_actor_and_correlation_id(spec, writer):
    records = Records(writer)
    body = await records.body(spec.name)
    created = await writer.post(f"/{spec.name}", json=body, headers={"x-correlation-id": "corr-create"})
    assert created.status_code == 201 and created.headers["x-correlation-id"] == "corr-create", created.text
    record = created.json()
    one = f"/{spec.name}/{record['id']}"
    field, value = EDITS[spec.name]
    optional = OPTIONAL[spec.name]
    assert (await writer.put(one, json={**body, field: value}, headers={"x-correlation-id": "corr-put"})
            ).status_code == 200
    assert (await writer.patch(one, json={optional: None}, headers={"x-correlation-id": "corr-patch"})
            ).status_code == 200
    assert (await writer.delete(one, headers={"x-correlation-id": "corr-delete"})).status_code == 204

    trail = await audit_of(writer, spec, record["id"])  # newest first; readable after the delete
    assert [(entry["action"], entry["version"], entry["correlationId"]) for entry in trail] == [
        ("delete", 4, "corr-delete"), ("patch", 3, "corr-patch"), ("update", 2, "corr-put"),
        ("create", 1, "corr-create")]
    assert {entry["actor"] for entry in trail} == {ACTOR}
    assert all(moment(entry["at"]) for entry in trail)
    delete, patch, update, create = trail
    assert create["changes"] == {key: {"from": None, "to": value} for key, value in body_of(record).items()}
    assert update["changes"] == {field: {"from": body[field], "to": value}}
    assert patch["changes"] == {optional: {"from": body[optional], "to": None}}
    assert_error(await writer.get(f"/{spec.name}/{missing_id(spec)}/audit"), 404, "not_found")


async def test_a_change_that_changes_nothing_keeps_the_version_and_writes_no_audit(spec, writer):
    records = Records(writer)
    body = await records.body(spec.name)
    record = await records.create(spec.name)
    one = f"/{spec.name}/{record['id']}"
    field, _ = EDITS[spec.name]
    # The same body, the stored one (with its defaults), a patch to the same value, an empty patch.
    for change in (writer.put(one, json=body), writer.put(one, json=body_of(record)),
                   writer.patch(one, json={field: body[field]}), writer.patch(one, json={})):
        answer = await change
        assert answer.status_code == 200, answer.text
        assert answer.json() == record and answer.headers["etag"] == '"1"'
    assert [entry["action"] for entry in await audit_of(writer, spec, record["id"])] == ["create"]


def invalid_changes(spec: ResourceSpec, body: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(what is wrong, the fields a merge patch sets, the field the 400 names)."""
    field, _ = EDITS[spec.name]
    text, max_length = bounded_string(spec)
    required = required_fields(spec)[0]
    cases = [
        ("a list where a value belongs", {field: ["not", "a", "value"]}, f"body.{field}"),
        ("an object where a value belongs", {field: {"nested": True}}, f"body.{field}"),
        ("an unknown field", {"colour": "red"}, "body.colour"),
        ("an over-long string", {text: "x" * (max_length + 1)}, f"body.{text}"),
        ("a blank string", {text: "   "}, f"body.{text}"),
        ("no required field", {required: None}, f"body.{required}"),
    ]
    for name, values in list(enum_fields(spec).items())[:2]:
        cases.append((f"a {name} that is none of {values}", {name: "bogus"}, f"body.{name}"))
    # JSON's types, not what a lax reader would make of another: no "1500" or true for a number, …
    for name, schema in properties(spec).items():
        kind = schema.get("format") or schema.get("type")
        for wrong in {"number": ["1500", True], "boolean": ["yes", 1], "date": ["2026-01-01T00:00:00Z", 20260101],
                      "date-time": [1700000000, "2026-05-13T10:00:00"]}.get(kind, []):
            cases.append((f"{wrong!r} for the {kind} {name}", {name: wrong}, f"body.{name}"))
    return cases


def with_changes(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = {**body, **changes}
    return {key: value for key, value in merged.items() if value is not None}


async def references_to_refuse(records: Records, other: Records, spec: ResourceSpec
                               ) -> list[tuple[str, dict[str, Any], str]]:
    """For each reference field: a missing record, a deleted one, another workspace's, another kind's."""
    cases = []
    for field, target in spec.references.items():
        target_spec = BY_NAME[target]
        gone = await records.create(target)
        assert (await records.v1.delete(f"/{target}/{gone['id']}")).status_code == 204
        elsewhere = await other.create(target)
        wrong_kind = next(name for name in ("runbooks", "knowledge-base") if name != target)
        another_kind = await records.create(wrong_kind)
        cases += [(f"a {field} naming no record", {field: missing_id(target_spec)}, f"body.{field}"),
                  (f"a {field} naming a deleted record", {field: gone["id"]}, f"body.{field}"),
                  (f"a {field} of another workspace", {field: elsewhere["id"]}, f"body.{field}"),
                  (f"a {field} naming a {wrong_kind} record", {field: another_kind["id"]}, f"body.{field}")]
    return cases


def raw_with_nul(body: dict[str, Any], field: str) -> str:
    return json.dumps({**body, field: "before\u0000after"})


async def test_invalid_bodies_are_400_naming_the_field_and_create_nothing(spec, writer, api, workspaces):
    records = Records(writer)
    other = Records(V1(api, "data_admin", workspace=workspaces[1]))
    body = await records.body(spec.name)
    references = await references_to_refuse(records, other, spec)
    for what, changes, named in invalid_changes(spec, body) + references:
        refused = await writer.post(f"/{spec.name}", json=with_changes(body, changes))
        code = "invalid_reference" if (what, changes, named) in references else "validation_error"
        assert_error(refused, 400, code)
        assert named in [item["field"] for item in refused.json()["fields"]], (what, refused.text)
        assert named in refused.json()["detail"] or code == "invalid_reference", refused.text

    text, max_length = bounded_string(spec)
    nul = await writer.post(f"/{spec.name}", content=raw_with_nul(body, text),
                            headers={"content-type": "application/json"})
    assert_error(nul, 400, "nul_byte")
    assert nul.json()["fields"][0]["field"] == f"$.{text}"
    for not_an_object in ([body], "a string", 42, None):
        assert_error(await writer.post(f"/{spec.name}", json=not_an_object), 400, "validation_error")
    assert await listed_ids(writer, spec) == []

    longest = await writer.post(f"/{spec.name}", json={**body, text: "x" * max_length})
    assert longest.status_code == 201 and longest.json()[text] == "x" * max_length, longest.text


async def test_invalid_changes_are_400_and_change_nothing(spec, writer, api, workspaces):
    records = Records(writer)
    other = Records(V1(api, "data_admin", workspace=workspaces[1]))
    body = await records.body(spec.name)
    record = await records.create(spec.name)
    one = f"/{spec.name}/{record['id']}"
    references = await references_to_refuse(records, other, spec)
    for what, changes, named in invalid_changes(spec, body) + references:
        code = "invalid_reference" if (what, changes, named) in references else "validation_error"
        for refused in (await writer.put(one, json=with_changes(body, changes)),
                        await writer.patch(one, json=changes)):
            assert_error(refused, 400, code)
            assert named in [item["field"] for item in refused.json()["fields"]], (what, refused.text)

    text, _ = bounded_string(spec)
    for method in ("PUT", "PATCH"):
        nul = await writer.request(method, one, content=raw_with_nul(body, text),
                                   headers={"content-type": "application/json"})
        assert_error(nul, 400, "nul_byte")
    for not_an_object in ([body], "a string", 42):
        assert_error(await writer.put(one, json=not_an_object), 400, "validation_error")
        assert_error(await writer.patch(one, json=not_an_object), 400, "validation_error")

    assert await current(writer, spec, record["id"]) == record
    assert [entry["action"] for entry in await audit_of(writer, spec, record["id"])] == ["create"]
