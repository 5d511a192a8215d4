"""Hostile input (issue 7, rows 2-6, 9, 10): every one is a 4xx in the one error shape, checked in the
right order (credentials before the body), and leaves the API and the run it aimed at usable."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import text

from api.app import create_app
from api.common.gates import BearerToken, Public, SignedWebhook
from api.common.openapi import api_routes
from api.common.pagination import MAX_OFFSET
from capstan.settings import ApiSettings, Settings
from models.maintenance.settings import PatchSettings
from models.platform_v1.settings import PlatformSettings
from models.protocols.workflow_io import project_setup_workflow_id
from models.tasks.settings import TasksSettings
from tests.e2e.protocols.support import add_step, create_project, create_run
from tests.e2e.protocols.test_queues import eventually
from tests.support import assert_error, workflow_result

DEEP = b'{"name": "x", "git_url": "/r", "default_models": ' + b"[" * 400 + b"]" * 400 + b"}"
JSON = {"content-type": "application/json"}


async def count_rows(db_engine, table: str) -> int:
    async with db_engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


def with_api_token(settings: Settings, token: str) -> Settings:
    return Settings(**{**vars(settings), "api": ApiSettings(api_token=token)})


def concrete(path: str, ids: dict[str, int]) -> str:
    return path.format(**ids)


# --- row 3: deep nesting, and the token before the body ---------------------------------------------

async def test_deep_nesting_is_400_with_the_path(api, db_engine):
    error = assert_error(await api.post("/projects", content=DEEP, headers=JSON), 400, "json_too_deep")
    assert error["fields"][0]["field"].startswith("$.default_models[0][0]")
    assert await count_rows(db_engine, "projects") == 0


async def test_credentials_are_checked_before_the_body_on_every_route_but_signed_ones(settings, api_factory):
    app = create_app(settings)
    posts = [route.path_format for route in api_routes(app.routes) if "POST" in route.methods]
    assert len(posts) > 10
    ids = {"project_id": 1, "protocol_run_id": 1, "step_id": 1, "event_id": "e", "attempt_id": "a", "source_id": "s",
           "task_id": "acme%2Fwidgets%231", "workspace_id": "ws_x", "resource_id": "cli_x", "key": "k",
           "execution_id": "wex_x", "artifact_id": "art_x", "agent_id": "a", "target": "a.b", "job_id": "job_x"}
    guarded = with_api_token(settings, "t0ken")
    guarded.patch = PatchSettings(admin_token="adm1n")  # the maintenance routes' own token
    guarded.tasks = TasksSettings(webhook_secret="h00k")  # the coding-tasks webhook's signature key
    guarded.platform = PlatformSettings(agentfield_webhook_secret="f1eld")  # the workflow-completed webhook's
    guarded.platform.github_webhook_enabled = True  # GitHub's webhook, on and signed: 401 before the body too
    guarded.platform.github_webhook_secret = SecretStr("g1thub")
    gates = app.state.gates
    async with api_factory(guarded) as api:
        for path in posts:
            response = await api.post(concrete(path, ids), content=DEEP, headers=JSON)
            gate = gates.gate_for(path)
            if isinstance(gate, SignedWebhook | Public):  # the signature covers the body, which is read first
                assert_error(response, 400, "json_too_deep")
            elif path in ("/api/webhooks/github", "/api/v1/webhooks/workflow-completed",
                          "/api/v1/integrations/github/webhook"):
                assert_error(response, 401, "invalid_signature")  # the gate checks the raw body, before JSON
            else:
                assert_error(response, 401, "unauthorized")
        authorized = {**JSON, "Authorization": "Bearer t0ken"}
        assert_error(await api.post("/projects", content=DEEP, headers=authorized), 400, "json_too_deep")


def test_every_route_is_gated_as_its_dependencies_expect():
    """The gate table and the routes agree: a route behind the bearer gate checks the principal's scopes;
    a route behind another gate never asks for a principal it would not get."""
    app = create_app(Settings())
    gates = app.state.gates
    for route in api_routes(app.routes):
        calls = {getattr(call, "__name__", "") for call in _calls(route.dependant)}
        behind_bearer = isinstance(gates.gate_for(route.path), BearerToken)
        assert ("_principal" in calls) == behind_bearer, route.path
    assert not isinstance(gates.gate_for("/healthz"), BearerToken)
    assert isinstance(gates.gate_for("/healthzz"), BearerToken)
    assert isinstance(gates.gate_for("/webhooks/bitbucket"), BearerToken)


def _calls(dependant):
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


# --- row 5: NaN, Infinity, out-of-range numbers ------------------------------------------------------

@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "123456789012345678901234567890"])
async def test_non_finite_and_out_of_range_numbers_in_free_form_fields_are_400(api, tmp_path, db_engine, literal):
    _, project = await create_project(api, tmp_path)
    body = f'{{"protocol_name": "x", "template_config": {{"limits": [1, {literal}]}}}}'.encode()
    error = assert_error(await api.post(f"/projects/{project['id']}/protocols", content=body, headers=JSON), 400,
                         "invalid_number")
    assert error["fields"][0]["field"] == "$.template_config.limits[1]"
    assert await count_rows(db_engine, "protocol_runs") == 1  # the setup run only
    body = f'{{"name": "x", "git_url": "/r", "default_models": {{"t": {literal}}}}}'.encode()
    assert_error(await api.post("/projects", content=body, headers=JSON), 400, "invalid_number")
    assert await count_rows(db_engine, "projects") == 1


@pytest.mark.parametrize("content_type", [None, "application/json", "Application/JSON; charset=utf-8",
                                          "application/merge-patch+json", "text/plain", "application/x-json"])
async def test_whatever_the_content_type_a_refused_number_never_reaches_a_route(api, db_engine, content_type):
    body = b'{"name": "x", "git_url": "/r", "default_models": {"t": NaN}}'
    headers = {"content-type": content_type} if content_type else {}
    response = await api.post("/projects", content=body, headers=headers)
    assert_error(response, 400)
    assert await count_rows(db_engine, "projects") == 0


# --- row 6: lone surrogates, invalid UTF-8 -------------------------------------------------------------

async def test_a_lone_surrogate_in_a_string_or_key_is_400(api, db_engine):
    for body in (b'{"name": "bad\\udc00", "git_url": "/r"}',
                 b'{"name": "ok", "git_url": "/r", "default_models": {"\\ud800": 1}}'):
        assert_error(await api.post("/projects", content=body, headers=JSON), 400, "invalid_unicode")
    assert await count_rows(db_engine, "projects") == 0


async def test_webhook_payloads_with_lone_surrogates_or_nan_are_400_and_record_nothing(api, db_engine):
    gitlab = b'{"object_kind": "pipeline", "object_attributes": {"status": "success", "ref": "x\\udc00"}}'
    error = assert_error(await api.post("/webhooks/gitlab", content=gitlab,
                                        headers={**JSON, "X-Gitlab-Event": "Pipeline Hook"}), 400, "invalid_unicode")
    assert error["fields"][0]["field"] == "$.object_attributes.ref"
    github = b'{"action": "completed", "workflow_run": {"id": NaN}}'
    assert_error(await api.post("/webhooks/github", content=github,
                                headers={**JSON, "X-GitHub-Event": "workflow_run"}), 400, "invalid_number")
    # GitHub's form option carries the JSON in a field the request guard does not parse: the route does.
    form = urlencode({"payload": '{"ref": "\\udc00"}'})
    response = await api.post("/webhooks/github", content=form.encode(), headers={
        "content-type": "application/x-www-form-urlencoded", "X-GitHub-Event": "push"})
    assert_error(response, 400, "invalid_unicode")
    assert await count_rows(db_engine, "webhook_deliveries") == 0


@pytest.mark.parametrize("url", ["/events?project_id=%ED%B3%80", "/projects?x=%FF", "/projects/%C0%AF"])
async def test_percent_encoded_invalid_utf8_in_the_url_is_400(api, url):
    assert_error(await api.get(url), 400, "invalid_unicode")


# --- rows 2 and 4: integers bounded to their columns, pages bounded ------------------------------------

async def test_a_step_index_beyond_its_column_is_400_and_the_run_stays_usable(api, worker, tmp_path):
    _, project = await create_project(api, tmp_path)
    run = await create_run(api, project["id"])
    for index, code, field in [(2**31, "validation_error", "body.step_index"),
                               (-1, "validation_error", "body.step_index"),
                               (2**63, "invalid_number", "$.step_index")]:  # beyond any column: the JSON reader
        response = await asyncio.wait_for(api.post(f"/protocols/{run['id']}/steps",
                                                   json={"step_index": index, "step_name": "big"}), 30)
        error = assert_error(response, 400, code)
        assert [f["field"] for f in error["fields"]] == [field]
    policy = {"type": "loop", "step_back": 2**31, "max_iterations": 1}
    response = await api.post(f"/protocols/{run['id']}/steps", json={"step_index": 0, "step_name": "s",
                                                                     "policy": policy})
    assert_error(response, 400, "validation_error")
    step = await asyncio.wait_for(add_step(api, run["id"], 2**31 - 1, "last"), 30)
    assert step["step_index"] == 2**31 - 1
    listed = (await api.get(f"/protocols/{run['id']}/steps")).json()
    assert [s["step_index"] for s in listed] == [2**31 - 1]


async def test_ids_beyond_their_column_name_nothing(api):
    for url in (f"/projects/{2**63}", f"/protocols/{2**31}/steps", f"/steps/{2**64}", f"/events?project_id={2**63}"):
        assert_error(await api.get(url), 404)


@pytest.fixture
async def list_ids(api, worker, tmp_path: Path) -> dict[str, int]:
    _, project = await create_project(api, tmp_path)
    run = await create_run(api, project["id"])
    step = await add_step(api, run["id"], 0)
    return {"project_id": project["id"], "protocol_run_id": run["id"], "step_id": step["id"]}


async def test_limit_and_offset_are_bounded_on_every_list_route(api, list_ids):
    spec = (await api.get("/openapi.json")).json()
    lists = {path: {p["name"]: p for p in operation.get("parameters", [])}
             for path, item in spec["paths"].items() if (operation := item.get("get")) and _returns_a_list(operation)}
    assert set(lists) >= {"/projects", "/projects/{project_id}/protocols", "/protocols/{protocol_run_id}/events",
                          "/protocols/{protocol_run_id}/steps", "/steps/{step_id}/artifacts", "/events",
                          "/queues/jobs"}
    for path, parameters in lists.items():
        if path == "/queues":  # one entry per configured task queue: bounded by configuration
            continue
        if path.startswith("/api/"):  # the coding-tasks lists need a GitHub session: tests/e2e/tasks checks them
            continue
        assert {"limit", "offset"} <= set(parameters), path
        url = concrete(path, list_ids)
        for offset in (2**63, 2**31, MAX_OFFSET + 1, -1, "x"):
            error = assert_error(await api.get(url, params={"offset": offset}), 400, "validation_error")
            assert error["fields"][0]["field"] == "query.offset", (path, offset)
        response = await api.get(url, params={"offset": MAX_OFFSET, "limit": 1})
        assert response.status_code == 200 and response.json() == [], (path, response.text)
        clamped = "clamped" in parameters["limit"].get("description", "")
        for limit in (0, 10**6, 2**63, -1):
            response = await api.get(url, params={"limit": limit})
            if clamped:  # the seed's rule for events: any integer limit is clamped to 1–500
                assert response.status_code == 200, (path, limit, response.text)
            else:
                error = assert_error(response, 400, "validation_error")
                assert error["fields"][0]["field"] == "query.limit", (path, limit)
    assert {p for p, params in lists.items() if "clamped" in params.get("limit", {}).get("description", "")} == {
        "/events", "/protocols/{protocol_run_id}/events"}


def _returns_a_list(operation: dict) -> bool:
    content = operation["responses"].get("200", {}).get("content", {})
    return content.get("application/json", {}).get("schema", {}).get("type") == "array"


# --- row 9: a 500 ----------------------------------------------------------------------------------------

async def test_a_500_carries_its_request_id_is_logged_once_and_keeps_the_connection(settings, temporal_client,
                                                                                     caplog):
    app = create_app(settings, temporal_client=temporal_client)

    @app.get("/test-only/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    listener = socket.create_server(("127.0.0.1", 0))  # listening before the server runs: no wait for it
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    caplog.set_level(logging.INFO)
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=1)) as client:
            failed = await client.get("/test-only/boom", headers={"X-Request-ID": "boom-1"})
            error = assert_error(failed, 500, "internal_error")
            assert failed.headers["x-request-id"] == error["request_id"] == "boom-1"
            assert "kaboom" not in failed.text
            after = await client.get("/healthz")
            assert after.status_code == 200
            first, second = (r.extensions["network_stream"].get_extra_info("client_addr") for r in (failed, after))
            assert first == second, "the connection was dropped after the 500"
    finally:
        server.should_exit = True
        await serving
        listener.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    [record] = errors
    assert record.exc_info and "kaboom" in str(record.exc_info[1])
    assert record.request_id == "boom-1"


# --- row 10: the project token on lists across projects --------------------------------------------------

async def test_lists_across_projects_leave_out_guarded_projects_without_their_token(api, worker, temporal_client,
                                                                                     tmp_path):
    _, guarded = await create_project(api, tmp_path / "g", name="guarded-secret-name",
                                      secrets={"api_token": "tok", "deploy_key": "k"})
    _, open_project = await create_project(api, tmp_path / "o", name="open")
    for project in (guarded, open_project):
        await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))
    token = {"X-Project-Token": "tok"}

    listed = await api.get("/projects")
    assert [p["id"] for p in listed.json()] == [open_project["id"]]
    assert "guarded-secret-name" not in listed.text and "deploy_key" not in listed.text
    assert [p["id"] for p in (await api.get("/projects", headers={"X-Project-Token": "nope"})).json()] == [
        open_project["id"]]
    assert [p["id"] for p in (await api.get("/projects", headers=token)).json()] == [guarded["id"],
                                                                                     open_project["id"]]
    assert {e["project_id"] for e in (await api.get("/events", headers=token)).json()} == {
        guarded["id"], open_project["id"]}

    async def setup_jobs(headers: dict[str, str]) -> dict[int, dict]:
        async def read() -> dict[int, dict]:
            return {j["metadata"]["project_id"]: j for j in (await api.get("/queues/jobs", headers=headers)).json()}
        return await eventually(read, lambda jobs: {guarded["id"], open_project["id"]} <= set(jobs))

    without = await setup_jobs({})
    assert without[guarded["id"]]["payload"] is None
    assert without[open_project["id"]]["payload"]["project_id"] == open_project["id"]
    assert str(tmp_path / "g") not in json.dumps(list(without.values()))
    opened = await setup_jobs(token)
    assert opened[guarded["id"]]["payload"]["project_id"] == guarded["id"]
