"""x-correlation-id on /api/v1: accepted or generated, echoed on every answer, refused when it could not
be logged safely, stored on the records a request makes, and in every log line of the request."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import text

from capstan.logs import RequestIdFilter
from tests.e2e.platform_v1.support import V1, token

GENERATED = re.compile(r"^[0-9a-f]{32}$")


def correlated(correlation_id: str) -> dict[str, str]:
    return {"x-correlation-id": correlation_id}


async def test_a_correlation_id_is_echoed_on_success_and_on_every_error(api, workspaces):
    a, b = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    answers = {
        "list": await ops.get("/clients", headers=correlated("corr-list")),
        "create": await ops.post("/clients", json={"name": "Globex"}, headers=correlated("corr-create")),
        "no token": await api.get("/api/v1/clients", headers={"x-workspace-id": a, **correlated("corr-no-token")}),
        "role": await V1(api, "viewer", workspace=a).post("/clients", json={"name": "x"},
                                                          headers=correlated("corr-role")),
        "workspace": await ops.get("/clients", headers={"x-workspace-id": b, **correlated("corr-workspace")}),
        "missing": await ops.get("/clients/cli_none", headers=correlated("corr-missing")),
        "invalid": await ops.post("/clients", json={"status": "nope"}, headers=correlated("corr-invalid")),
        "no key": await api.post("/api/v1/clients", json={"name": "x"}, headers={
            "Authorization": f"Bearer {ops.token}", "x-workspace-id": a, **correlated("corr-no-key")}),
        "bad sort": await ops.get("/clients?sortBy=password", headers=correlated("corr-bad-sort")),
    }
    expected = {"list": 200, "create": 201, "no token": 401, "role": 403, "workspace": 404, "missing": 404,
                "invalid": 400, "no key": 400, "bad sort": 400}
    for name, response in answers.items():
        assert response.status_code == expected[name], f"{name}: {response.status_code} {response.text}"
        sent = response.request.headers["x-correlation-id"]
        assert response.headers["x-correlation-id"] == sent, name
        if response.status_code >= 400:
            assert response.json()["request_id"] == sent, name


async def test_a_correlation_id_is_generated_when_none_is_sent(api, workspaces):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    first, second = await ops.get("/clients"), await ops.get("/clients")
    refused = await api.get("/api/v1/clients", headers={"x-workspace-id": a})
    for response in (first, second, refused):
        assert GENERATED.match(response.headers["x-correlation-id"]), response.headers
    assert first.headers["x-correlation-id"] != second.headers["x-correlation-id"]
    assert refused.status_code == 401 and refused.json()["request_id"] == refused.headers["x-correlation-id"]


async def test_the_correlation_id_wins_over_a_request_id_a_proxy_added(api, workspaces):
    """A gateway in front (nginx, Envoy) adds its own X-Request-ID: the client's correlation id is still
    the one echoed, logged and stored."""
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    response = await ops.post("/clients", json={"name": "Globex"},
                              headers={"X-Request-ID": "envoy-7f3a", **correlated("order-4711")})
    assert response.status_code == 201, response.text
    assert response.headers["x-correlation-id"] == "order-4711"
    audit = await ops.get(f"/clients/{response.json()['id']}/audit")
    assert audit.json()["data"][0]["correlationId"] == "order-4711"


async def test_a_valid_correlation_id_may_use_every_printable_character_up_to_128(api, workspaces):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    for value in ("x" * 128, "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "0"):
        response = await ops.get("/clients", headers=correlated(value))
        assert response.status_code == 200, (value, response.text)
        assert response.headers["x-correlation-id"] == value


@pytest.mark.parametrize("value, why", [("has space", "a space"), ("tab\there", "a tab"), ("x" * 129, "129 characters"),
                                        ("café".encode("latin-1"), "not ASCII"), ("bell\x07", "a control character")])
async def test_an_invalid_correlation_id_is_400_on_api_v1(api, workspaces, value, why):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    response = await ops.post("/clients", json={"name": "Globex"}, headers=correlated(value))
    assert response.status_code == 400, f"{why}: {response.text}"
    assert response.json()["error"] == "invalid_correlation_id"
    assert GENERATED.match(response.headers["x-correlation-id"]), "the refused id is not echoed: a new one is"
    assert (await ops.get("/clients")).json()["page"]["total"] == 0
    # refused before the token is looked at, and only on /api/v1
    assert (await api.get("/api/v1/clients", headers=correlated(value))).status_code == 400
    elsewhere = await api.get("/healthz", headers=correlated(value))
    assert elsewhere.status_code == 200 and GENERATED.match(elsewhere.headers["x-correlation-id"])


async def test_the_correlation_id_is_stored_on_the_records_a_request_makes(api, db_engine):
    admin = V1(api, "platform_admin")
    workspace = await admin.post("/workspaces", json={"name": "Acme"}, headers=correlated("corr-workspace-1"))
    assert workspace.status_code == 201
    a = workspace.json()["id"]
    ops = V1(api, "ops_engineer", workspace=a)
    client = await ops.post("/clients", json={"name": "Globex"}, headers=correlated("corr-create-1"))
    client_id = client.json()["id"]
    patched = await ops.patch(f"/clients/{client_id}", json={"name": "Globex Corp"}, headers=correlated("corr-patch-1"))
    assert patched.status_code == 200
    secret = await V1(api, "integration_admin", workspace=a).post(
        "/workspace/secrets/psa-token", json={"value": "s3cret"}, headers=correlated("corr-secret-1"))
    assert secret.status_code == 201, secret.text
    async with db_engine.connect() as conn:
        async def one(sql: str, **params: str) -> list:
            return [row[0] for row in await conn.execute(text(sql), params)]

        assert await one("SELECT correlation_id FROM platform_workspaces WHERE id = :id", id=a) == ["corr-workspace-1"]
        assert await one("SELECT correlation_id FROM platform_resources WHERE id = :id", id=client_id) == \
            ["corr-create-1"], "the record keeps the id of the request that created it"
        assert await one("SELECT correlation_id FROM platform_audit WHERE resource_id = :id ORDER BY seq",
                         id=client_id) == ["corr-create-1", "corr-patch-1"]
        assert await one("SELECT correlation_id FROM platform_secret_events WHERE key = 'psa-token'") == \
            ["corr-secret-1"]
    audit = (await ops.get(f"/clients/{client_id}/audit")).json()["data"]
    assert [entry["correlationId"] for entry in audit] == ["corr-patch-1", "corr-create-1"]


async def test_the_correlation_id_is_in_every_log_line_of_the_request(api, workspaces, caplog):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    caplog.handler.addFilter(RequestIdFilter())  # what capstan.logs.configure_logging puts on its handler
    with caplog.at_level(logging.INFO):
        created = await ops.post("/clients", json={"name": "Globex"}, headers=correlated("corr-log-1"))
        refused = await api.get("/api/v1/clients", headers={"Authorization": f"Bearer {token('viewer')}",
                                                            "x-workspace-id": a, **correlated("corr-log-2")})
    assert created.status_code == 201 and refused.status_code == 404
    lines = {}
    for record in caplog.records:
        if record.name.startswith(("capstan", "api")):
            lines.setdefault(record.request_id, []).append(record.getMessage())
    assert any("POST /api/v1/clients -> 201" in line for line in lines.get("corr-log-1", [])), lines
    assert any("GET /api/v1/clients -> 404" in line for line in lines.get("corr-log-2", [])), lines
    stray = [line for request_id, found in lines.items() if request_id not in ("corr-log-1", "corr-log-2")
             for line in found if "/api/v1/clients" in line]
    assert not stray, f"lines of these requests without their id: {stray}"
