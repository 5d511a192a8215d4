"""The edge agent: its policy (defaults under the workspace's edgeAgent setting, versioned, 304 while
current), its enrollment token (shown only by the rotation that issued it, stored hashed, the previous one
valid through its grace period), the roles of each route and the workspace each acts in."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import ApiError
from api.platform_v1.services.enrollment import enrollment_token_valid, require_enrollment_token
from models.platform_v1.roles import Role
from tests.e2e.platform_v1.support import V1
from tests.support import assert_error

POLICY, ENROLLMENT, ROTATE = "/edge-agent/policy", "/edge-agent/enrollment", "/edge-agent/enrollment/rotate"
DEFAULTS = {"heartbeatSeconds": 60, "telemetryIntervalSeconds": 300,
            "collectors": ["cpu", "memory", "disk", "services"],
            "maxBatchEvents": 500, "ingestPath": "/api/v1/events/ingest", "enrollmentRequired": True}


async def token_valid(db_engine, workspace: str, token: str | None) -> bool:
    async with AsyncSession(db_engine) as db:
        return await enrollment_token_valid(db, workspace, token)


async def test_the_policy_is_the_defaults_under_the_edge_agent_setting_with_its_version(api, workspaces):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    first = await ops.get(POLICY)
    assert first.status_code == 200, first.text
    assert first.json() == {"workspaceId": a, "version": 0, **DEFAULTS} and first.headers["etag"] == '"0"'
    unchanged = await ops.get(POLICY, headers={"If-None-Match": '"0"'})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == '"0"'
    assert (await ops.get(POLICY, headers={"If-None-Match": 'W/"0", "7"'})).status_code == 304

    admin = V1(api, "msp_admin", workspace=a)
    assert (await admin.patch("/workspace/settings", json={"settings": {"edgeAgent": {
        "heartbeatSeconds": 30, "collectors": ["cpu", "patches"]}}})).status_code == 200
    changed = await ops.get(POLICY, headers={"If-None-Match": '"0"'})
    assert changed.status_code == 200 and changed.headers["etag"] == '"1"'
    assert changed.json() == {"workspaceId": a, "version": 1, **DEFAULTS, "heartbeatSeconds": 30,
                              "collectors": ["cpu", "patches"]}
    assert (await ops.get(POLICY, headers={"If-None-Match": '"1"'})).status_code == 304
    assert (await admin.patch("/workspace/settings", json={"settings": {"other": 1}})).status_code == 200
    assert (await ops.get(POLICY, headers={"If-None-Match": '"1"'})).status_code == 200  # any settings change


async def test_a_workspace_without_a_token_has_none_and_accepts_none(api, workspaces, db_engine):
    a, _ = workspaces
    answer = await V1(api, "endpoint_agent", workspace=a).get(ENROLLMENT)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"workspaceId": a, "status": "none", "tokenId": None, "tokenHint": None,
                             "issuedAt": None, "issuedBy": None, "previousTokenValidUntil": None}
    for token in ("", None, "x" * 43, "x" * 10_000):
        assert not await token_valid(db_engine, a, token)
    async with AsyncSession(db_engine) as db:
        with pytest.raises(ApiError) as refused:
            await require_enrollment_token(db, a, "x" * 43)
    assert (refused.value.status_code, refused.value.code) == (403, "enrollment_invalid")


async def test_a_rotation_shows_the_token_once_and_stores_only_its_hash(api, workspaces, db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a, sub="olga@msp.example")
    key = {"Idempotency-Key": "rotate-1"}
    issued = await ops.post(ROTATE, headers=key)
    assert issued.status_code == 201, issued.text
    body = issued.json()
    token = body["token"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token)  # 32 random bytes or more, base64url
    assert re.fullmatch(r"enr_[0-9a-f]{32}", body["tokenId"]) and body["tokenHint"] == token[-4:]
    assert body["status"] == "active" and body["issuedBy"] == "olga@msp.example"
    assert body["previousTokenValidUntil"] is None
    assert await token_valid(db_engine, a, token)

    read = await ops.get(ENROLLMENT)
    assert read.json() == {k: v for k, v in body.items() if k != "token"} and token not in read.text
    replayed = await ops.post(ROTATE, headers=key)
    assert replayed.status_code == 201 and replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == {**body, "token": None} and token not in replayed.text
    async with db_engine.connect() as conn:
        for table in ("platform_enrollment_tokens", "platform_idempotency_keys", "platform_audit",
                      "platform_settings", "platform_events"):
            rows = (await conn.execute(text(f"SELECT t::text FROM {table} t"))).scalars().all()
            assert not [row for row in rows if token in row], table
    assert not await token_valid(db_engine, a, token[:-1]) and not await token_valid(db_engine, a, token + "A")


async def test_the_replaced_token_is_valid_through_its_grace_period_only(api, workspaces, db_engine):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    first = (await admin.post(ROTATE, json={})).json()["token"]
    before = datetime.now(UTC)
    second = await admin.post(ROTATE, json={"graceSeconds": 3600})
    assert second.status_code == 201, second.text
    until = datetime.fromisoformat(second.json()["previousTokenValidUntil"])
    assert before + timedelta(seconds=3600) <= until <= datetime.now(UTC) + timedelta(seconds=3600)
    assert (await admin.get(ENROLLMENT)).json()["previousTokenValidUntil"] == second.json()["previousTokenValidUntil"]
    assert await token_valid(db_engine, a, first) and await token_valid(db_engine, a, second.json()["token"])

    # The grace period ends (moved into the past here rather than waited for): the old token is refused.
    async with db_engine.begin() as conn:
        await conn.execute(text("UPDATE platform_enrollment_tokens SET valid_until = now() - interval '1 second' "
                                "WHERE valid_until IS NOT NULL AND workspace_id = :ws"), {"ws": a})
    assert not await token_valid(db_engine, a, first) and await token_valid(db_engine, a, second.json()["token"])
    assert (await admin.get(ENROLLMENT)).json()["previousTokenValidUntil"] is None

    third = await admin.post(ROTATE, json={"graceSeconds": 600})
    fourth = await admin.post(ROTATE)  # no body: no grace; the one in its grace period stops too
    assert third.status_code == fourth.status_code == 201 and fourth.json()["previousTokenValidUntil"] is None
    for old in (first, second.json()["token"], third.json()["token"]):
        assert not await token_valid(db_engine, a, old)
    assert await token_valid(db_engine, a, fourth.json()["token"])


@pytest.mark.parametrize("body", [
    {"graceSeconds": -1}, {"graceSeconds": 604801}, {"graceSeconds": "60"}, {"graceSeconds": 1.5},
    {"graceSeconds": True}, {"grace": 60}, [60], {"graceSeconds": 2**70},
])
async def test_a_bad_rotation_body_is_400_and_issues_nothing(api, workspaces, body):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    assert_error(await admin.post(ROTATE, json=body), 400)
    nul = await admin.post(ROTATE, content=b'{"graceSeconds": 60, "x\\u0000": 1}',
                           headers={"content-type": "application/json"})
    assert_error(nul, 400)
    assert (await admin.get(ENROLLMENT)).json()["status"] == "none"


async def test_tokens_belong_to_their_workspace(api, workspaces, db_engine):
    a, b = workspaces
    token_a = (await V1(api, "msp_admin", workspace=a).post(ROTATE)).json()["token"]
    assert (await V1(api, "msp_admin", workspace=b).get(ENROLLMENT)).json()["status"] == "none"
    assert not await token_valid(db_engine, b, token_a)
    token_b = (await V1(api, "msp_admin", workspace=b).post(ROTATE)).json()["token"]
    assert await token_valid(db_engine, a, token_a) and await token_valid(db_engine, b, token_b)
    assert not await token_valid(db_engine, a, token_b)
    outsider = V1(api, "ops_engineer", workspace=b, workspaces=[a])
    for method, path in (("GET", POLICY), ("GET", ENROLLMENT), ("POST", ROTATE)):
        assert_error(await outsider.request(method, path), 404, "workspace_not_found")
    assert await token_valid(db_engine, b, token_b)  # the refused rotation changed nothing


async def test_two_rotations_at_once_leave_one_current_token(api, workspaces, db_engine):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    answers = await asyncio.gather(*(admin.post(ROTATE, json={"graceSeconds": 60}) for _ in range(3)))
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    tokens = [answer.json()["token"] for answer in answers]
    valid = [await token_valid(db_engine, a, token) for token in tokens]
    assert sum(valid) == 2  # the last one issued, and the one it replaced (in its grace period)
    current = (await admin.get(ENROLLMENT)).json()["tokenId"]
    assert current in {answer.json()["tokenId"] for answer in answers}


EDGE = {Role.MSP_ADMIN, Role.OPS_ENGINEER, Role.ENDPOINT_AGENT}
ROTATORS = {Role.MSP_ADMIN, Role.OPS_ENGINEER}


@pytest.mark.parametrize("role", list(Role))
async def test_each_route_answers_its_roles_only(api, workspaces, role):
    a, _ = workspaces
    caller = V1(api, role.value, workspace=a)
    expected = [200 if role in EDGE else 403, 200 if role in EDGE else 403, 201 if role in ROTATORS else 403]
    answers = [(await caller.get(POLICY)).status_code, (await caller.get(ENROLLMENT)).status_code,
               (await caller.post(ROTATE)).status_code]
    assert answers == expected, (role, answers)


async def test_an_enrolled_agent_ingests_with_its_token_and_the_replaced_one_within_grace(api, workspaces, db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    agent = V1(api, "endpoint_agent", workspace=a, sub="edge-42")

    def batch(n: int) -> dict:
        return {"source": "edge-42", "events": [{"id": f"hb-{n}", "type": "telemetry", "data": {"cpu": n}}]}

    assert (await ops.get("/edge-agent/ingest-status")).json()["enrolled"] is False
    first = (await ops.post(ROTATE)).json()["token"]
    assert (await ops.get("/edge-agent/ingest-status")).json()["enrolled"] is True
    sent = await agent.post("/events/ingest", json=batch(1), headers={"x-enrollment-token": first})
    assert sent.status_code == 202, sent.text
    second = (await ops.post(ROTATE, json={"graceSeconds": 600})).json()["token"]
    for n, token in enumerate((first, second), start=2):
        answer = await agent.post("/events/ingest", json=batch(n), headers={"x-enrollment-token": token})
        assert answer.status_code == 202, answer.text
    await ops.post(ROTATE)  # no grace: both earlier tokens stop
    for token in (first, second, "", first + "x"):
        refused = await agent.post("/events/ingest", json=batch(9), headers={"x-enrollment-token": token})
        assert_error(refused, 403, "enrollment_invalid")
