"""Every route, every bad input of issue 7: a 4xx in the one error shape, never a 5xx, never a hang.

The routes come from ``app.routes`` (a new route is walked the day it exists); their bodies and parameters
from the app's OpenAPI document. Path ids name a seeded project, protocol run and step, so a request reaches
the route's real work unless the bad input stops it first. Each test walks everything and reports every
failing request at once.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from api.app import create_app
from api.common.openapi import api_routes
from capstan.settings import ApiSettings, Settings
from models.platform_v1.settings import PlatformSettings
from models.protocols.settings import ForgeSettings
from models.tasks.settings import TasksSettings
from tests.e2e.platform_v1.engine_world import WEBHOOK as AGENTFIELD_WEBHOOK
from tests.e2e.platform_v1.engine_world import WEBHOOK_SECRET as AGENTFIELD_SECRET
from tests.e2e.platform_v1.engine_world import signature as agentfield_signature
from tests.e2e.platform_v1.github_world import SECRET as GITHUB_SECRET
from tests.e2e.platform_v1.github_world import WEBHOOK as GITHUB_WEBHOOK
from tests.e2e.platform_v1.github_world import sign as github_signature
from tests.e2e.platform_v1.support import JWT_SECRET, V1, new_workspace, token
from tests.e2e.protocols.support import add_step, create_project, create_run
from tests.e2e.tasks.support import WEBHOOK_SECRET, github_world, signature

TOKEN = "hostile-t0ken"
#: A request that has not answered by then hangs: the jam of issue 7, row 2.
ANSWER_WITHIN = 30.0
#: Literals the strict JSON reader refuses wherever they stand (issue 7, rows 5 and 6, and NUL bytes).
HOSTILE_JSON = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity", "1e400": "1e400",
                "lone surrogate": '"\\udc00"', "lone surrogate key": '{"\\ud800": 1}', "NUL": '"a\\u0000b"'}
DEPTH = 1000
HUGE_INTEGERS = (2**31, 2**63, 2**64, -(2**31) - 1, -(2**63) - 1)
HOLE = "__hostile__"


@dataclass
class Walk:
    api: httpx.AsyncClient
    spec: dict[str, Any]
    routes: list[APIRoute]
    ids: dict[str, int]
    v1_token: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def v1_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.v1_token}", "x-workspace-id": str(self.ids["workspace_id"]),
                "Idempotency-Key": uuid.uuid4().hex}

    def operation(self, route: APIRoute, method: str) -> dict[str, Any]:
        return self.spec["paths"].get(route.path_format, {}).get(method.lower(), {})

    def path(self, route: APIRoute, **bad: Any) -> str:
        missing = set(route.param_convertors) - set(self.ids) - set(bad)
        assert not missing, f"{route.path_format}: seed a record for {missing} in the `walk` fixture"
        return route.path_format.format(**{**self.ids, **{k: str(v) for k, v in bad.items()}})

    async def send(self, what: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        if url == AGENTFIELD_WEBHOOK:  # signed, with a delivery id, so the bad input reaches the JSON reader
            body = kwargs.pop("content", None) or json.dumps(kwargs.pop("json", None)).encode()
            kwargs["content"] = body
            kwargs["headers"] = {**kwargs.get("headers", {}), "content-type": "application/json",
                                 "x-agentfield-delivery": uuid.uuid4().hex,
                                 "x-agentfield-signature": agentfield_signature(body)}
        elif url.startswith(GITHUB_WEBHOOK):  # signed as GitHub signs, to a workspace: bad input reaches the reader
            body = kwargs.pop("content", None) or json.dumps(kwargs.pop("json", None)).encode()
            kwargs["content"] = body
            kwargs["headers"] = {**kwargs.get("headers", {}), "content-type": "application/json",
                                 "x-github-delivery": uuid.uuid4().hex, "x-github-event": "workflow_run",
                                 "x-hub-signature-256": github_signature(body, GITHUB_SECRET)}
            if "?" not in url:
                kwargs["params"] = kwargs.get("params") or {"workspaceId": self.ids["workspace_id"]}
        elif url.startswith("/api/v1/"):  # the platform API's JWT, workspace and idempotency key
            kwargs["headers"] = {**kwargs.get("headers", {}), **self.v1_headers}
        if url == "/api/webhooks/github":  # signed as GitHub signs, so the bad input reaches the JSON reader
            body = kwargs.pop("content", None) or json.dumps(kwargs.pop("json", None)).encode()
            kwargs["content"] = body
            kwargs["headers"] = {**kwargs.get("headers", {}), "content-type": "application/json",
                                 "X-GitHub-Event": "issue_comment", "X-Hub-Signature-256": signature(body)}
        try:
            return await asyncio.wait_for(self.api.request(method, url, **kwargs), ANSWER_WITHIN)
        except TimeoutError:
            self.failures.append(f"{what}: {method} {url} did not answer within {ANSWER_WITHIN:.0f}s")
            return None

    def expect_refusal(self, what: str, response: httpx.Response | None, statuses: set[int] | None = None) -> dict:
        """``response`` is a 4xx (one of ``statuses`` when given) in the one error shape."""
        if response is None:
            return {}
        request = f"{what}: {response.request.method} {response.request.url}"
        allowed = statuses or set(range(400, 500))
        if response.status_code not in allowed:
            self.failures.append(f"{request} -> {response.status_code} (wanted {sorted(allowed)[:3]}…): "
                                 f"{response.text[:200]}")
            return {}
        return self.expect_error_shape(request, response)

    def expect_no_server_error(self, what: str, response: httpx.Response | None) -> None:
        if response is None:
            return
        request = f"{what}: {response.request.method} {response.request.url}"
        if response.status_code >= 500:
            self.failures.append(f"{request} -> {response.status_code}: {response.text[:200]}")
        elif response.status_code >= 400:
            self.expect_error_shape(request, response)

    def expect_error_shape(self, request: str, response: httpx.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not {"error", "detail", "request_id"} <= set(body):
            self.failures.append(f"{request} -> {response.status_code} not in the error shape: {response.text[:200]}")
            return {}
        if body["request_id"] != response.headers.get("x-request-id"):
            self.failures.append(f"{request}: request_id {body['request_id']!r} is not the X-Request-ID header")
        return body

    def report(self) -> None:
        assert not self.failures, f"{len(self.failures)} bad answers:\n" + "\n".join(self.failures)


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def integer_schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    """``schema``, or the branch of it, that takes integers (with their bounds); ``None`` if none does."""
    schema = resolve(spec, schema)
    branches = [schema, *(resolve(spec, branch) for branch in schema.get("anyOf", []))]
    return next((branch for branch in branches if branch.get("type") == "integer"), None)


def minimal(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The smallest value ``schema`` accepts, as far as the document says."""
    schema = resolve(spec, schema)
    if "anyOf" in schema:
        return minimal(spec, next(s for s in schema["anyOf"] if resolve(spec, s).get("type") != "null"))
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: minimal(spec, sub) for name, sub in schema.get("properties", {}).items()
                if name in schema.get("required", [])}
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    return {"array": [], "boolean": False}.get(kind)


def json_body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    return operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")


def with_hole(base: dict[str, Any], name: str, literal: str) -> bytes:
    """``base`` with ``literal`` (raw JSON text) as the value of ``name``."""
    return json.dumps({**base, name: HOLE}).replace(json.dumps(HOLE), literal).encode()


def body_routes(walk: Walk) -> list[tuple[APIRoute, str, dict[str, Any], dict[str, Any]]]:
    """Every (route, method) that reads a JSON body: its base body and its top-level fields."""
    found = []
    for route in walk.routes:
        for method in route.methods:
            schema = json_body_schema(walk.operation(route, method))
            if schema is not None:
                base = minimal(walk.spec, schema)
                fields = resolve(walk.spec, schema).get("properties") or {"hostile": {}}
                found.append((route, method, base, fields))
    return found


@pytest.fixture
async def walk(settings, worker, api_factory, fake_github, tmp_path):
    secured = Settings(**{**vars(settings), "api": ApiSettings(api_token=TOKEN)})
    secured.tasks = TasksSettings(webhook_secret=WEBHOOK_SECRET)
    secured.github_app = fake_github.github_app_settings()
    secured.forge = ForgeSettings(github_api_url=fake_github.url)
    secured.platform = PlatformSettings(jwt_secret=JWT_SECRET, agentfield_webhook_secret=AGENTFIELD_SECRET,
                                        github_webhook_enabled=True, github_webhook_secret=GITHUB_SECRET)
    app = create_app(secured)
    async with api_factory(secured) as api:
        api.headers["Authorization"] = f"Bearer {TOKEN}"
        await github_world(api, fake_github, tmp_path)  # a GitHub session for the coding-tasks routes
        _, project = await create_project(api, tmp_path)
        run = await create_run(api, project["id"])
        step = await add_step(api, run["id"], 0)
        workspace = await new_workspace(api)
        client = await V1(api, "msp_admin", workspace=workspace).post("/clients", json={"name": "Hostile Inc"})
        yield Walk(api=api, spec=(await api.get("/openapi.json")).json(), routes=list(api_routes(app.routes)),
                   ids={"project_id": project["id"], "protocol_run_id": run["id"], "step_id": step["id"],
                        # Maintenance ids name no record here (404 past every check): test_fuzz_openapi seeds them.
                        "event_id": "patch:src:entry:upstream.release", "attempt_id": "patch:src:entry:x:dispatch",
                        "run_id": "patch-stack-rebase-0", "source_id": "src",
                        # Coding tasks: a task of the signed-in user's repository (none recorded) and its issue.
                        "task_id": "acme%2Fwidgets%2311", "owner": "acme", "repo": "widgets", "number": 11,
                        # Platform API v1: a workspace and a client of it, and a secret's key.
                        "workspace_id": workspace, "resource_id": client.json()["id"], "key": "hostile-key",
                        # The engine: no execution, artifact or agent of these (404 past every check).
                        "execution_id": "wex_" + "0" * 32, "artifact_id": "art_" + "0" * 32,
                        "agent_id": "hostile-agent", "target": "hostile-agent.echo", "job_id": "job_" + "0" * 32},
                   v1_token=token("msp_admin"))


async def test_the_walk_covers_every_route_and_every_body(walk):
    documented = {(path, method.upper()) for path, item in walk.spec["paths"].items() for method in item}
    walked = {(route.path_format, method) for route in walk.routes for method in route.methods}
    assert documented <= walked and len(walked) >= 30
    assert {route.path_format for route, *_ in body_routes(walk)} >= {
        "/projects", "/projects/{project_id}/protocols", "/protocols/{protocol_run_id}/steps",
        "/projects/{project_id}/codemachine/import", "/webhooks/github", "/webhooks/gitlab"}


async def test_non_finite_numbers_surrogates_and_nul_in_every_body_field_are_400_naming_it(walk):
    for route, method, base, fields in body_routes(walk):
        url = walk.path(route)
        response = await walk.send("base body", method, url, json=base)
        walk.expect_no_server_error("base body", response)
        for name in fields:
            for label, literal in HOSTILE_JSON.items():
                what = f"{label} in {name}"
                response = await walk.send(what, method, url, content=with_hole(base, name, literal),
                                           headers={"content-type": "application/json"})
                error = walk.expect_refusal(what, response, {400})
                located = [f.get("field", "") for f in error.get("fields") or []]
                if error and label != "NUL" and not any(name in path for path in located):
                    walk.failures.append(f"{what}: {method} {url}: the error does not name {name}: {located}")
    walk.report()


async def test_nesting_a_thousand_levels_deep_in_every_body_is_400(walk):
    deep = {"arrays": "[" * DEPTH + "]" * DEPTH, "objects": '{"a": ' * DEPTH + "1" + "}" * DEPTH}
    for route, method, base, fields in body_routes(walk):
        for label, literal in deep.items():
            for body in (literal.encode(), with_hole(base, next(iter(fields)), literal)):
                response = await walk.send(f"{DEPTH} nested {label}", method, walk.path(route), content=body,
                                           headers={"content-type": "application/json"})
                walk.expect_refusal(f"{DEPTH} nested {label}", response, {400})
    walk.report()


async def test_integers_beyond_their_column_in_every_body_field_are_400(walk):
    for route, method, base, fields in body_routes(walk):
        for name, schema in fields.items():
            if integer_schema(walk.spec, schema) is None:
                continue
            for value in HUGE_INTEGERS:  # every integer field is a Postgres integer column
                response = await walk.send(f"{name}={value}", method, walk.path(route), json={**base, name: value})
                walk.expect_refusal(f"{name}={value}", response, {400})
    walk.report()


async def test_huge_negative_and_nul_path_ids_are_4xx_on_every_route(walk):
    for route in walk.routes:
        for method in route.methods:
            for name in route.param_convertors:
                for value in (*HUGE_INTEGERS, -1, 0, "1%00", "%00"):
                    response = await walk.send(f"{name}={value}", method, walk.path(route, **{name: value}))
                    walk.expect_refusal(f"{name}={value}", response)
    walk.report()


async def test_huge_negative_and_nul_query_parameters_never_5xx_on_every_route(walk):
    for route in walk.routes:
        for method in route.methods:
            url = walk.path(route)
            parameters = [p for p in walk.operation(route, method).get("parameters", []) if p["in"] == "query"]
            for parameter in parameters:
                name, integers = parameter["name"], integer_schema(walk.spec, parameter["schema"])
                for value in (*HUGE_INTEGERS, -1) if integers is not None else ():
                    what = f"query {name}={value}"
                    response = await walk.send(what, method, url, params={name: value})
                    # Outside what the document promises: refused. Inside: anything but a server error.
                    if not integers.get("minimum", value) <= value <= integers.get("maximum", value):
                        walk.expect_refusal(what, response, {400})
                    else:
                        walk.expect_no_server_error(what, response)
            name = parameters[0]["name"] if parameters else "q"
            response = await walk.send(f"NUL in query {name}", method, f"{url}?{name}=1%00")
            walk.expect_refusal(f"NUL in query {name}", response, {400})
    walk.report()
