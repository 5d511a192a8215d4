"""Health (database, Temporal, workers polling), the workflow engine's status and the v1 OpenAPI
document: each answers without credentials, and says which task queue no worker polls."""

from __future__ import annotations

import pytest

from capstan.settings import ApiSettings, Settings
from capstan.temporal import surface_task_queues
from models.platform_v1.settings import PlatformSettings
from tests.e2e.platform_v1.support import JWT_SECRET, V1
from tests.e2e.protocols.test_queues import eventually

HEALTHS = ["/health", "/api/v1/health"]


def refs(node) -> list[str]:
    """The schema names ``node`` refers to."""
    if isinstance(node, dict):
        return [name for key, value in node.items() for name in (
            [value.removeprefix("#/components/schemas/")] if key == "$ref" else refs(value))]
    if isinstance(node, list):
        return [name for value in node for name in refs(value)]
    return []


def health_reader(api, path: str):
    async def read() -> dict:
        answer = await api.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()
    return read


@pytest.mark.parametrize("path", HEALTHS)
async def test_health_is_ok_with_a_worker_polling_every_queue(api, worker, settings, path):
    health = await eventually(health_reader(api, path), lambda body: body["status"] == "ok")
    components = health["components"]
    assert {"database", "temporal", "workers"} <= set(components)
    assert components["database"]["status"] == components["temporal"]["status"] == "ok"
    queues = surface_task_queues(settings.temporal)
    assert components["workers"]["status"] == "ok"
    assert f"on {len(queues)} queues" in components["workers"]["detail"]


@pytest.mark.parametrize("path", HEALTHS)
async def test_health_without_a_worker_is_degraded_and_names_the_idle_queues(api, settings, path):
    answer = await api.get(path)
    assert answer.status_code == 200, answer.text
    health = answer.json()
    assert health["status"] == "degraded"
    assert health["components"]["database"]["status"] == health["components"]["temporal"]["status"] == "ok"
    workers = health["components"]["workers"]
    assert workers["status"] == "degraded" and workers["detail"].startswith("no worker polls")
    for queue in surface_task_queues(settings.temporal):
        assert queue in workers["detail"]


async def test_engine_status_names_the_namespace_the_server_and_every_queue(api, worker, settings):
    queues = set(surface_task_queues(settings.temporal))

    async def read() -> dict:
        answer = await api.get("/.well-known/engine-status")
        assert answer.status_code == 200, answer.text
        return answer.json()

    status = await eventually(read, lambda body: all(q["workflow_pollers"] and q["activity_pollers"]
                                                     for q in body["taskQueues"]))
    assert status["engine"] == "temporal" and status["namespace"] == settings.temporal.namespace
    assert status["serverVersion"] and status["serverVersion"][0].isdigit()
    assert {queue["name"] for queue in status["taskQueues"]} == queues
    for queue in status["taskQueues"]:
        assert "pollers" not in queue  # no worker's host or pid without credentials (tests/e2e/ops)
        assert queue["backlog"] in (0, None)


async def test_engine_status_without_a_worker_shows_queues_nobody_polls(api, settings):
    answer = await api.get("/.well-known/engine-status")
    assert answer.status_code == 200, answer.text
    assert {(q["name"], q["workflow_pollers"] + q["activity_pollers"]) for q in answer.json()["taskQueues"]} == {
        (name, 0) for name in surface_task_queues(settings.temporal)}


async def test_health_and_discovery_need_no_credentials(settings, api_factory):
    locked = Settings(**{**vars(settings), "api": ApiSettings(api_token="t0ken"),
                         "platform": PlatformSettings(jwt_secret=JWT_SECRET)})
    async with api_factory(locked) as api:
        for path in ("/health", "/api/v1/health", "/.well-known/engine-status", "/api/v1/openapi"):
            assert (await api.get(path)).status_code == 200, path
            assert (await api.get(path, headers={"Authorization": "Bearer not-a-jwt"})).status_code == 200, path
        assert (await api.get("/api/v1/workspaces")).status_code == 401
        assert (await V1(api, "platform_admin").get("/workspaces")).status_code == 200
        for path in ("/health", "/api/v1/health", "/.well-known/engine-status", "/api/v1/openapi"):
            answer = await api.get(path)
            assert "t0ken" not in answer.text and JWT_SECRET not in answer.text


async def test_v1_openapi_is_the_v1_part_of_the_document_with_its_security(api):
    answer = await api.get("/api/v1/openapi")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    whole = (await api.get("/openapi.json")).json()
    assert document["openapi"] == whole["openapi"] and "v1" in document["info"]["title"]
    assert document["paths"] and all(path.startswith("/api/v1/") for path in document["paths"])
    assert {path for path in whole["paths"] if path.startswith("/api/v1/")} == set(document["paths"])
    for path in ("/api/v1/tickets", "/api/v1/tickets/{resource_id}", "/api/v1/knowledge-base",
                 "/api/v1/workspaces", "/api/v1/platform/settings", "/api/v1/workspace/secrets/{key}",
                 "/api/v1/audit-credentials", "/api/v1/health", "/api/v1/openapi"):
        assert path in document["paths"], path
    assert "/projects" in whole["paths"] and "/health" not in document["paths"]

    schemes = document["components"]["securitySchemes"]
    assert schemes["platformJwt"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                      "description": schemes["platformJwt"]["description"]}
    create = document["paths"]["/api/v1/tickets"]["post"]
    assert {"platformJwt": []} in create["security"]
    used = {name for item in document["paths"].values() for op in item.values() for req in op.get("security", [])
            for name in req}
    assert set(schemes) == used  # the other surfaces' credentials are not in it

    schemas = document["components"]["schemas"]
    assert {"Ticket", "ErrorResponse"} <= set(schemas) and "Project" not in schemas
    used_schemas = set(refs(document["paths"])) | set(refs(schemas))
    assert used_schemas == set(schemas), "every schema of the document is used, and every one used is there"
    assert {tag["name"] for tag in document["tags"]} <= {"resources", "workspaces", "settings", "health",
                                                         "executions", "agents", "jobs"}
