"""The OpenAPI document tells the truth: who may call each operation, every error it can answer, and what
content it returns (issue 7, row 11). The schemathesis suite (tests/e2e/common/test_fuzz_openapi.py) checks the
running API against it; these tests check what it says."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter

from api.app import create_app
from api.common.deps import ReaderDep, TemporalDep
from api.protocols.deps import RunDep
from capstan.settings import ApiSettings, Settings
from models.maintenance.settings import PatchSettings
from models.platform_v1.settings import PlatformSettings
from models.protocols.settings import WebhookSettings
from models.tasks.settings import TasksSettings

OPEN = {"/health", "/healthz", "/metrics", "/api/v1/health", "/api/v1/openapi", "/.well-known/engine-status"}
WEBHOOKS = {"/webhooks/github": "githubSignature", "/webhooks/gitlab": "gitlabToken"}
#: The coding-tasks surface: open sign-in and ops routes, two signed intake routes, the rest need a session.
TASKS_OPEN = {"/api/auth/github", "/api/auth/github/callback", "/api/auth/github/installed", "/api/auth/logout",
              "/api/startup/check", "/api/rate-limit"}
TASKS_SIGNED = {"/api/webhooks/github": "tasksGithubSignature", "/api/callbacks/complete": "tasksCallbackToken"}
#: The platform API's signed webhooks: their signature, no JWT.
PLATFORM_SIGNED = {"/api/v1/webhooks/workflow-completed": "agentfieldSignature",
                   "/api/v1/integrations/github/webhook": "platformGithubSignature"}
ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
#: Error statuses whose body the route documents itself: a maintenance retry or replay whose dispatch failed
#: answers 502 with the same dispatch record a 202 carries (docs/api/maintenance.md).
OWN_ERROR_BODIES = {("POST", f"/flow-events/{{event_id}}/{action}", "502") for action in ("retry", "replay")}


def document(**settings: Any) -> dict[str, Any]:
    return create_app(Settings(**settings)).openapi()


def operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return document(api=ApiSettings(api_token="t0ken"), webhooks=WebhookSettings(token="s3cret"),
                    patch=PatchSettings(admin_token="adm1n"), tasks=TasksSettings(webhook_secret="h00k"),
                    platform=PlatformSettings(agentfield_webhook_secret="agentf1eld"))


def test_security_schemes_are_declared(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "description": schemes["bearerAuth"][
        "description"]}
    headers = {name: (scheme["type"], scheme["in"], scheme["name"]) for name, scheme in schemes.items()
               if scheme["type"] == "apiKey"}
    assert headers["projectToken"] == ("apiKey", "header", "X-Project-Token")
    assert headers["githubSignature"] == ("apiKey", "header", "X-Hub-Signature-256")
    assert headers["gitlabToken"] == ("apiKey", "header", "X-Gitlab-Token")


def test_each_credential_is_declared_by_the_surface_that_reads_it(spec):
    """``api/common`` names only the app's bearer token; every other scheme, and the setting that switches it
    on, comes from its surface's ``ApiSurface.security_schemes``."""
    from api.common.openapi import BEARER_SCHEME
    from api.surfaces import API_SURFACES

    owners = {scheme.name: surface.name for surface in API_SURFACES for scheme in surface.security_schemes}
    assert set(spec["components"]["securitySchemes"]) == {BEARER_SCHEME.name, *owners}
    assert {owners[name] for name in ("projectToken", "githubSignature", "gitlabToken")} == {"protocols"}
    assert (owners["patchAdminToken"], owners["tasksSession"], owners["platformJwt"]) == (
        "maintenance", "tasks", "platform_v1")


MAINTENANCE = ("/flow-events", "/maintenance-attempts", "/workspace-", "/flow-dispatches", "/feed-sources")


def test_every_operation_says_who_may_call_it(spec):
    for path, method, operation in operations(spec):
        security = operation["security"]
        if path in OPEN or path in TASKS_OPEN:
            assert security == [], path
        elif path in TASKS_SIGNED:
            assert security == [{TASKS_SIGNED[path]: []}], path
        elif path in PLATFORM_SIGNED:
            assert security == [{PLATFORM_SIGNED[path]: []}], path
        elif path.startswith("/api/v1/"):
            assert security == [{"platformJwt": []}], (method, path)
        elif path.startswith("/api/"):
            assert security == [{"tasksSession": []}], (method, path)
        elif path in WEBHOOKS:
            assert {WEBHOOKS[path]: []} in security and {} not in security, path
        elif path.startswith(MAINTENANCE):
            assert security == [{"patchAdminBearer": []}, {"patchAdminToken": []}], (method, path)
        else:
            assert security and all("bearerAuth" in requirement for requirement in security), (method, path)
    project_routes = [op for path, _, op in operations(spec)
                      if "{" in path and not path.startswith((*MAINTENANCE, "/api/"))]
    assert all({"bearerAuth": [], "projectToken": []} in op["security"] for op in project_routes)


def test_an_open_deployment_documents_its_credentials_as_optional():
    spec = document()
    for path, method, operation in operations(spec):
        if path in OPEN or path in TASKS_OPEN:
            continue
        if path.startswith("/api/") and path != "/api/webhooks/github":  # a session, a callback token or a JWT
            assert {} not in operation["security"], (method, path)
        else:
            assert {} in operation["security"], (method, path)


def test_every_error_an_operation_can_answer_is_documented_in_the_error_shape(spec):
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        codes = set(responses)
        assert "400" in codes, (method, path)
        # FastAPI's validation 422 is Capstan's 400; a 422 is only the platform API's reused Idempotency-Key.
        if "422" in codes:
            assert path.startswith("/api/v1/") and method in {"POST", "PUT", "PATCH", "DELETE"}, (method, path)
            assert "idempotency_key_reused" in responses["422"]["description"], (method, path)
        if path not in OPEN and path not in WEBHOOKS and path not in TASKS_OPEN:
            assert "401" in codes, (method, path)
        if method == "POST":
            assert "413" in codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        if "/actions/" in path:
            assert {"409", "503"} <= codes, (method, path)
        for code, response in responses.items():
            if code[0] in "45" and (method, path, code) not in OWN_ERROR_BODIES:
                assert response["content"] == ERROR_REF, (method, path, code)
            assert response["headers"]["X-Request-ID"]["required"] is True


@pytest.mark.parametrize("operation", [
    "POST /projects", "POST /projects/{project_id}/protocols", "POST /protocols/{protocol_run_id}/steps",
    "POST /projects/{project_id}/codemachine/import", "GET /queues", "GET /queues/jobs", "POST /webhooks/github",
    "POST /webhooks/gitlab", "POST /protocols/{protocol_run_id}/actions/start", "POST /steps/{step_id}/actions/run"])
def test_operations_that_talk_to_temporal_document_503(spec, operation):
    method, path = operation.split()
    assert "503" in spec["paths"][path][method.lower()]["responses"]


def test_metrics_and_liveness_are_plain_text(spec):
    for path in ("/metrics", "/healthz"):
        assert set(spec["paths"][path]["get"]["responses"]["200"]["content"]) == {"text/plain"}, path


def test_webhooks_document_the_payload_they_read(spec):
    for path in WEBHOOKS:
        body = spec["paths"][path]["post"]["requestBody"]
        assert body["required"] and set(body["content"]) == {"application/json", "application/x-www-form-urlencoded"}


def test_a_new_route_is_documented_by_the_dependencies_it_uses():
    app = create_app(Settings(api=ApiSettings(api_token="t0ken")))
    router = APIRouter()

    @router.post("/protocols/{protocol_run_id}/novelty", summary="A route added later")
    async def novelty(run: RunDep, temporal: TemporalDep, _: ReaderDep) -> dict:
        return {}

    app.include_router(router)
    operation = app.openapi()["paths"]["/protocols/{protocol_run_id}/novelty"]["post"]
    assert {"400", "401", "404", "413", "503"} <= set(operation["responses"])
    assert operation["security"] == [{"bearerAuth": [], "projectToken": []}, {"bearerAuth": []}]


async def test_the_document_viewers_load_nothing_from_another_host():
    """``/docs`` and ``/redoc`` work offline: every script, style, font and icon they reference is the app's
    own and answers (no CDN, no Google Fonts)."""
    import re

    import httpx

    app = create_app(Settings(api=ApiSettings(api_token="t0ken")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://capstan.test") as client:
        for page in ("/docs", "/redoc"):
            response = await client.get(page)  # open, like the document itself
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
            html = response.text
            assert "://" not in html.replace("http://www.w3.org", ""), (page, re.findall(r"\S*://\S*", html))
            assert "fonts.googleapis" not in html and "cdn." not in html
            assets = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert assets, page
            for asset in assets:
                assert asset.startswith("/"), (page, asset)
                fetched = await client.get(asset)
                assert fetched.status_code == 200 and fetched.content, (page, asset)
        assert "'/openapi.json'" in (await client.get("/docs")).text
        assert (await client.get("/docs/oauth2-redirect")).status_code == 200
