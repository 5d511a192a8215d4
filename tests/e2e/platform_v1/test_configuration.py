"""Platform and workspace settings (ETag/If-Match), sealed secrets that no answer ever shows, and the
audit of who set or rotated which secret."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import pytest
from sqlalchemy import text

from capstan.secrets import SecretBox
from capstan.settings import SecretsSettings, Settings
from tests.conftest import SESSION_SECRETS_KEY
from tests.e2e.platform_v1.support import V1, new_workspace
from tests.support import assert_error

SMTP_PASSWORD = "smtp-Pa55word-never-shown"
ROTATED_PASSWORD = "smtp-R0tated-never-shown"
PSA_TOKEN = "psa-t0ken-never-shown"
VALUES = (SMTP_PASSWORD, ROTATED_PASSWORD, PSA_TOKEN)


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


class Seen:
    """Every answer a test got, to check that no secret value is in any of them."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, answer):
        self.texts.append(answer.text + " " + " ".join(f"{k}: {v}" for k, v in answer.headers.items()))
        return answer

    def assert_no_value(self) -> None:
        assert self.texts
        for seen in self.texts:
            assert not any(value in seen for value in VALUES), seen


# --- settings --------------------------------------------------------------------------------------

async def test_platform_settings_are_replaced_whole_under_if_match(api, workspaces):
    admin = V1(api, "platform_admin", sub="pat@platform.example")
    empty = await admin.get("/platform/settings")
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"scope": "platform", "workspaceId": None, "settings": {}, "version": 0,
                            "updatedAt": None, "updatedBy": None}
    assert empty.headers["etag"] == '"0"'

    first = {"maintenanceWindow": "sun 02:00", "limits": {"agents": 10}, "features": ["portal"]}
    put = await admin.put("/platform/settings", json={"settings": first}, headers={"If-Match": '"0"'})
    assert put.status_code == 200 and put.headers["etag"] == '"1"', put.text
    assert put.json()["settings"] == first and put.json()["updatedBy"] == "pat@platform.example"
    read = await admin.get("/platform/settings")
    assert read.json() == put.json() and read.headers["etag"] == '"1"'

    stale = await admin.put("/platform/settings", json={"settings": {"other": True}}, headers={"If-Match": '"0"'})
    assert_error(stale, 412, "precondition_failed")
    assert (await admin.get("/platform/settings")).json()["settings"] == first

    same = await admin.put("/platform/settings", json={"settings": first}, headers={"If-Match": '"1"'})
    assert same.status_code == 200 and same.json()["version"] == 1 and same.headers["etag"] == '"1"'
    second = {"maintenanceWindow": "sat 23:00"}
    replaced = await admin.put("/platform/settings", json={"settings": second}, headers={"If-Match": "*"})
    assert replaced.status_code == 200 and replaced.json()["version"] == 2, replaced.text
    assert (await admin.get("/platform/settings")).json()["settings"] == second  # replaced whole, not merged
    unconditional = await admin.put("/platform/settings", json={"settings": {}})
    assert unconditional.status_code == 200 and unconditional.json()["version"] == 3
    one_of = await admin.put("/platform/settings", json={"settings": {"b": 1}}, headers={"If-Match": '"9", "3"'})
    assert one_of.status_code == 200 and one_of.json()["version"] == 4, one_of.text

    for bad in ({}, {"settings": [1, 2]}, {"settings": "x"}, {"settings": {}, "extra": 1}, [1]):
        assert_error(await admin.put("/platform/settings", json=bad), 400, "validation_error")
    nul = await admin.put("/platform/settings", content='{"settings": {"a": "x\\u0000y"}}',
                          headers={"content-type": "application/json"})
    assert_error(nul, 400, "nul_byte")
    assert (await admin.get("/platform/settings")).json()["version"] == 4

    tenant = V1(api, "ops_engineer", workspace=workspaces[0])
    assert_error(await tenant.get("/platform/settings"), 403)


async def test_workspace_settings_belong_to_their_workspace(api, workspaces):
    a, b = workspaces
    in_a, in_b = V1(api, "msp_admin", workspace=a, sub="ann"), V1(api, "msp_admin", workspace=b, sub="ben")
    put = await in_a.put("/workspace/settings", json={"settings": {"timezone": "Europe/Berlin"}},
                         headers={"If-Match": '"0"'})
    assert put.status_code == 200, put.text
    assert put.json() == {"scope": "workspace", "workspaceId": a, "settings": {"timezone": "Europe/Berlin"},
                          "version": 1, "updatedAt": put.json()["updatedAt"], "updatedBy": "ann"}

    from_b = await in_b.get("/workspace/settings")
    assert from_b.json()["settings"] == {} and from_b.json()["workspaceId"] == b and from_b.headers["etag"] == '"0"'
    assert (await in_b.put("/workspace/settings", json={"settings": {"timezone": "UTC"}})).status_code == 200
    assert (await in_a.get("/workspace/settings")).json()["settings"] == {"timezone": "Europe/Berlin"}
    assert (await V1(api, "platform_admin").get("/platform/settings")).json()["settings"] == {}

    assert_error(await in_a.put("/workspace/settings", json={"settings": {}}, headers={"If-Match": '"5"'}), 412)
    viewer = V1(api, "viewer", workspace=a)
    assert (await viewer.get("/workspace/settings")).json()["settings"] == {"timezone": "Europe/Berlin"}
    assert_error(await V1(api, "viewer", workspace=b, workspaces=[a]).get("/workspace/settings"), 404)


# --- secrets ---------------------------------------------------------------------------------------

async def sealed_values(db_engine) -> dict[tuple[str, str], str]:
    async with db_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT scope, key, sealed_value FROM platform_secrets"))).all()
    return {(scope, key): sealed for scope, key, sealed in rows}


async def test_a_platform_secret_is_set_then_rotated_and_never_shown(api, db_engine, caplog):
    caplog.set_level(logging.DEBUG)
    seen = Seen()
    setter, rotator = V1(api, "platform_admin", sub="pat"), V1(api, "msp_admin", sub="max")

    created = seen(await setter.post("/platform/secrets/smtp-password", json={"value": SMTP_PASSWORD}))
    assert created.status_code == 201, created.text
    first = created.json()
    assert first["action"] == "set" and first["key"] == "smtp-password" and first["scope"] == "platform"
    assert first["createdBy"] == first["updatedBy"] == "pat" and first["createdAt"] == first["updatedAt"]

    key = {"Idempotency-Key": "rotate-smtp-1"}
    rotated = seen(await rotator.post("/platform/secrets/smtp-password", json={"value": ROTATED_PASSWORD},
                                      headers=key))
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["action"] == "rotated" and second["createdBy"] == "pat" and second["updatedBy"] == "max"
    assert second["createdAt"] == first["createdAt"] and moment(second["updatedAt"]) > moment(first["updatedAt"])
    replayed = seen(await rotator.post("/platform/secrets/smtp-password", json={"value": ROTATED_PASSWORD},
                                       headers=key))
    assert replayed.status_code == 200 and replayed.headers["idempotent-replayed"] == "true"

    listed = seen(await setter.get("/platform/secrets"))
    assert listed.status_code == 200, listed.text
    assert [(s["key"], s["createdBy"], s["updatedBy"]) for s in listed.json()["data"]] == [
        ("smtp-password", "pat", "max")]
    assert listed.json()["data"][0]["updatedAt"] == second["updatedAt"]
    seen(await setter.get("/audit-credentials"))
    seen.assert_no_value()
    assert not any(value in caplog.text for value in VALUES)

    sealed = (await sealed_values(db_engine))[("platform", "smtp-password")]
    assert sealed.startswith("fernet:v1:") and ROTATED_PASSWORD not in sealed
    assert SecretBox(SESSION_SECRETS_KEY).open_value(sealed) == ROTATED_PASSWORD
    async with db_engine.connect() as conn:
        stored = (await conn.execute(text("SELECT coalesce(string_agg(response_body, ' '), '') "
                                          "FROM platform_idempotency_keys"))).scalar_one()
    assert "smtp-password" in stored and not any(value in stored for value in VALUES)


async def test_workspace_secrets_are_listed_only_in_their_workspace(api, workspaces, db_engine):
    a, b = workspaces
    seen = Seen()
    in_a, in_b = V1(api, "integration_admin", workspace=a, sub="ivy"), V1(api, "msp_admin", workspace=b)
    set_a = seen(await in_a.post("/workspace/secrets/psa-token", json={"value": PSA_TOKEN}))
    assert set_a.status_code == 201 and set_a.json()["workspaceId"] == a, set_a.text
    again = seen(await in_a.post("/workspace/secrets/psa-token", json={"value": PSA_TOKEN + "2"}))
    assert again.status_code == 200 and again.json()["action"] == "rotated"
    assert seen(await in_b.post("/workspace/secrets/other.key_1", json={"value": SMTP_PASSWORD})).status_code == 201

    listed_a = seen(await in_a.get("/workspace/secrets")).json()
    assert [(s["key"], s["workspaceId"], s["createdBy"]) for s in listed_a["data"]] == [("psa-token", a, "ivy")]
    assert listed_a["data"][0]["updatedAt"] and listed_a["data"][0]["createdAt"]
    listed_b = seen(await in_b.get("/workspace/secrets")).json()
    assert [s["key"] for s in listed_b["data"]] == ["other.key_1"]
    assert seen(await V1(api, "platform_admin").get("/platform/secrets")).json()["data"] == []
    seen.assert_no_value()

    sealed = await sealed_values(db_engine)
    assert set(sealed) == {(f"workspace:{a}", "psa-token"), (f"workspace:{b}", "other.key_1")}
    assert not any(value in stored for stored in sealed.values() for value in VALUES)
    assert SecretBox(SESSION_SECRETS_KEY).open_value(sealed[(f"workspace:{a}", "psa-token")]) == PSA_TOKEN + "2"


@pytest.mark.parametrize("scope", ["platform", "workspace"])
async def test_bad_secret_keys_and_values_are_refused(api, workspaces, db_engine, scope):
    v1 = V1(api, "msp_admin", workspace=workspaces[0])
    for key in ("-leading-dash", ".hidden", "k" * 129, "has%20space", "%C3%BC", "semi;colon", "star*"):
        refused = assert_error(await v1.post(f"/{scope}/secrets/{key}", json={"value": "v"}), 400, "validation_error")
        assert refused["fields"][0]["field"] == "path.key"
    assert_error(await v1.post(f"/{scope}/secrets/a/b", json={"value": "v"}), 404)
    for body in ({}, {"value": ""}, {"value": 42}, {"value": "v" * 8193}, {"value": "v", "note": "x"}, ["v"]):
        assert_error(await v1.post(f"/{scope}/secrets/good-key", json=body), 400, "validation_error")
    longest = await v1.post(f"/{scope}/secrets/{'k' * 128}", json={"value": "v" * 8192})
    assert longest.status_code == 201, longest.text
    assert [s["key"] for s in (await v1.get(f"/{scope}/secrets")).json()["data"]] == ["k" * 128]


async def test_without_a_secrets_key_secrets_are_refused_not_stored_in_clear(settings, api_factory, db_engine):
    unsealed = Settings(**{**vars(settings), "secrets": SecretsSettings()})
    async with api_factory(unsealed) as api:
        workspace = await new_workspace(api)
        v1 = V1(api, "msp_admin", workspace=workspace)
        for path in ("/platform/secrets/smtp-password", "/workspace/secrets/psa-token"):
            refused = assert_error(await v1.post(path, json={"value": SMTP_PASSWORD}), 503, "secrets_key_missing")
            assert "CAPSTAN_SECRETS_KEY" in refused["detail"]
        assert (await v1.get("/platform/secrets")).json()["data"] == []
        assert (await v1.get("/workspace/secrets")).json()["data"] == []
        assert (await v1.get("/audit-credentials")).json()["data"] == []
        settings_still_work = await v1.put("/workspace/settings", json={"settings": {"a": 1}})
        assert settings_still_work.status_code == 200, settings_still_work.text
    assert await sealed_values(db_engine) == {}


# --- audit-credentials -----------------------------------------------------------------------------

async def test_audit_credentials_says_who_set_or_rotated_which_secret_and_when(api, workspaces):
    a, b = workspaces
    seen = Seen()
    pat, ivy = V1(api, "platform_admin", sub="pat"), V1(api, "integration_admin", workspace=a, sub="ivy")
    steps = [(pat, "/platform/secrets/smtp-password", SMTP_PASSWORD, "corr-p1"),
             (ivy, "/workspace/secrets/psa-token", PSA_TOKEN, "corr-a1"),
             (ivy, "/workspace/secrets/psa-token", PSA_TOKEN + "2", "corr-a2"),
             (V1(api, "msp_admin", workspace=b, sub="max"), "/workspace/secrets/psa-token", ROTATED_PASSWORD,
              "corr-b1")]
    for v1, path, value, correlation in steps:
        answer = seen(await v1.post(path, json={"value": value}, headers={"x-correlation-id": correlation}))
        assert answer.status_code in (200, 201), answer.text

    everything = seen(await pat.get("/audit-credentials"))
    assert everything.status_code == 200, everything.text
    events = everything.json()["data"]
    assert [(e["key"], e["scope"], e["workspaceId"], e["action"], e["actor"], e["correlationId"]) for e in events] == [
        ("psa-token", "workspace", b, "set", "max", "corr-b1"),
        ("psa-token", "workspace", a, "rotated", "ivy", "corr-a2"),
        ("psa-token", "workspace", a, "set", "ivy", "corr-a1"),
        ("smtp-password", "platform", None, "set", "pat", "corr-p1")]
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    assert everything.json()["sort"] == {"by": "at", "order": "desc"} and everything.json()["filters"] == {}

    async def correlations(**params) -> tuple[list[str], dict]:
        page = seen(await pat.get("/audit-credentials", params=params))
        assert page.status_code == 200, page.text
        return [e["correlationId"] for e in page.json()["data"]], page.json()["filters"]

    assert await correlations(workspaceId=a) == (["corr-a2", "corr-a1"], {"workspaceId": a})
    assert await correlations(platform="true") == (["corr-p1"], {"platform": True})
    assert await correlations(key="psa-token") == (["corr-b1", "corr-a2", "corr-a1"], {"key": "psa-token"})
    assert await correlations(key="psa-token", workspaceId=b) == (["corr-b1"], {"workspaceId": b,
                                                                               "key": "psa-token"})
    assert await correlations(workspaceId="ws_unknown") == ([], {"workspaceId": "ws_unknown"})
    assert await correlations(sortBy="key", sortOrder="asc") == (["corr-a1", "corr-a2", "corr-b1", "corr-p1"], {})
    assert_error(await pat.get("/audit-credentials", params={"platform": "maybe"}), 400, "validation_error")
    assert_error(await pat.get("/audit-credentials", params={"platform": "true", "workspaceId": a}), 400)
    assert_error(await ivy.get("/audit-credentials"), 403)

    # integration_admin, who manages its workspace's secrets, reads who set them: its workspace's only.
    own = seen(await ivy.get("/workspace/audit-credentials"))
    assert own.status_code == 200, own.text
    assert [(e["key"], e["workspaceId"], e["action"], e["correlationId"]) for e in own.json()["data"]] == [
        ("psa-token", a, "rotated", "corr-a2"), ("psa-token", a, "set", "corr-a1")]
    assert own.json()["filters"] == {} and own.json()["page"]["total"] == 2
    keyed = seen(await ivy.get("/workspace/audit-credentials", params={"key": "smtp-password"})).json()
    assert keyed["data"] == [] and keyed["filters"] == {"key": "smtp-password"}
    assert_error(await V1(api, "integration_admin", workspace=b, workspaces=[a], sub="ivy").get(
        "/workspace/audit-credentials"), 404, "workspace_not_found")
    assert_error(await V1(api, "ops_engineer", workspace=a).get("/workspace/audit-credentials"), 403)
    seen.assert_no_value()


# --- concurrent first writes -----------------------------------------------------------------------

async def test_two_first_sets_of_one_secret_at_once_are_a_set_and_a_rotation(api, workspaces):
    v1 = V1(api, "msp_admin", workspace=workspaces[0])
    for path in ("/platform/secrets/race-key", "/workspace/secrets/race-key"):
        answers = await asyncio.gather(v1.post(path, json={"value": "one"}), v1.post(path, json={"value": "two"}))
        assert sorted((a.status_code, a.json()["action"]) for a in answers) == [(200, "rotated"), (201, "set")], \
            [a.text for a in answers]
    events = (await v1.get("/audit-credentials", params={"key": "race-key"})).json()["data"]
    assert sorted(e["action"] for e in events) == ["rotated", "rotated", "set", "set"]


async def test_two_first_writes_of_settings_at_once_are_two_versions(api, workspaces):
    v1 = V1(api, "msp_admin", workspace=workspaces[0])
    for path in ("/platform/settings", "/workspace/settings"):
        answers = await asyncio.gather(v1.put(path, json={"settings": {"a": 1}}),
                                       v1.put(path, json={"settings": {"a": 2}}))
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        assert sorted(a.json()["version"] for a in answers) == [1, 2]
        final = await v1.get(path)
        assert final.json()["version"] == 2 and final.headers["etag"] == '"2"'
