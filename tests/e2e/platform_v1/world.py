"""What the route-walking platform v1 tests share: a record of every resource in a workspace, the
``/api/v1`` routes the app serves (from ``app.routes``, so a new route is walked the day it exists), and
a valid request for each of them.

A route the tests do not know how to call fails with a message saying where to teach them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.app import create_app
from api.common.openapi import api_routes
from api.platform_v1.access import ROUTE_ACCESS, Access
from api.platform_v1.access import V1 as V1_PREFIX
from api.platform_v1.routing import MUTATING
from capstan.settings import Settings
from models.platform_v1.catalog import BY_NAME, RESOURCES
from tests.e2e.platform_v1.records import EDITS, OPTIONAL, TEMPLATES
from tests.e2e.platform_v1.support import V1

Ids = dict[str, str]
#: The public routes of /api/v1 (api.ops): no token, no role.
PUBLIC = {("GET", f"{V1_PREFIX}/health"), ("GET", f"{V1_PREFIX}/openapi")}
SECRET_KEY = "smtp-password"

#: A valid body of each mutating route that is not a resource's (the resource engine's come from BODIES).
OTHER_BODIES: dict[tuple[str, str], Callable[[str], dict[str, Any] | None]] = {
    ("POST", f"{V1_PREFIX}/workspaces"): lambda word: {"name": f"{word} workspace"},
    ("PUT", f"{V1_PREFIX}/platform/settings"): lambda word: {"settings": {"banner": f"{word} maintenance"}},
    ("POST", f"{V1_PREFIX}/platform/secrets/{{key}}"): lambda word: {"value": f"{word}-platform-secret"},
    ("PUT", f"{V1_PREFIX}/workspace/settings"): lambda word: {"settings": {"timezone": "Europe/London",
                                                                            "owner": word}},
    ("POST", f"{V1_PREFIX}/workspace/secrets/{{key}}"): lambda word: {"value": f"{word}-workspace-secret"},
    ("PATCH", f"{V1_PREFIX}/workspace/settings"): lambda word: {"settings": {"owner": f"{word} desk"}},
    ("POST", f"{V1_PREFIX}/edge-agent/enrollment/rotate"): lambda word: {"graceSeconds": 60},
    ("POST", f"{V1_PREFIX}/events/ingest"): lambda word: {"source": f"{word}-rmm", "events": [
        {"id": f"{word}-{uuid.uuid4().hex}", "type": "telemetry", "data": {"note": word}}]},
    ("POST", f"{V1_PREFIX}/agent-runtime/outbox-failures/{{event_id}}/retry"): lambda word: {},
    ("POST", f"{V1_PREFIX}/integrations/notifications/test"): lambda word: {"message": f"{word} says hello"},
    ("POST", f"{V1_PREFIX}/imports"): lambda word: {"resource": "runbooks", "records": [
        {"title": f"{word} imported runbook", "steps": ["look", "fix"]}]},
    ("POST", f"{V1_PREFIX}/exports"): lambda word: {"resource": "clients", "format": "csv", "q": word},
    ("POST", f"{V1_PREFIX}/integrations/accounting/sync"): lambda word: {},
    ("POST", f"{V1_PREFIX}/agent-runtime/job-failures/{{job_id}}/retry"): lambda word: {},
}
#: The success status of a mutating route that is not a resource's, where it is not 201 (POST) or 200.
OTHER_SUCCESS: dict[tuple[str, str], int] = {("POST", f"{V1_PREFIX}/events/ingest"): 202}
#: (role, route) pairs the role table allows but a check after it refuses without more than a token: an
#: ``endpoint_agent`` ingests only with its workspace's enrollment token (403 ``enrollment_invalid``); the calls
#: here send none (``test_edge_agent`` rotates one, sends it and gets 202).
ENROLLMENT_REFUSED = {("endpoint_agent", "POST", f"{V1_PREFIX}/events/ingest")}
#: The id of an outbox event in ``Ids`` (a failed one, ``outbox_support.failed_event``).
EVENT = "event"
NO_EVENT = f"evt_{'0' * 32}"


#: A valid body of each engine route (executions, agents), which needs the ids of the engine's seed
#: (``engine_world.seed_engine``: the agent and its fake node's URL).
ENGINE_BODIES: dict[tuple[str, str], Callable[[str, Ids], dict[str, Any] | None]] = {
    ("POST", f"{V1_PREFIX}/workflow-executions/{{execution_id}}/retry"): lambda word, ids: {},
    ("POST", f"{V1_PREFIX}/workflow-executions/{{execution_id}}/cancel"): lambda word, ids: {},
    ("PUT", f"{V1_PREFIX}/agent-runtime/agents/{{agent_id}}"): lambda word, ids: {
        "baseUrl": ids["agentBaseUrl"], "version": f"{word}-1",
        "reasoners": [{"id": name} for name in ("echo", "reject", "hold", "later", "flaky")]},
    ("POST", f"{V1_PREFIX}/agent-runtime/agents/{{agent_id}}/heartbeat"): lambda word, ids: {"version": f"{word}-2"},
    ("POST", f"{V1_PREFIX}/execute/{{target}}"): lambda word, ids: {"input": {"word": word}, "mode": "async"},
    ("POST", f"{V1_PREFIX}/agent-runtime/smoke"): lambda word, ids: {"target": ids["target"], "input": {"w": word}},
}
#: The engine's path parameters, from the ids of its seed.
ENGINE_PARAMETERS = {"execution_id": "executions", "artifact_id": "artifacts", "agent_id": "agents",
                     "target": "target", "job_id": "jobs"}


def body_of(resource: str, ids: Ids, word: str) -> dict[str, Any]:
    """The resource's template (``records.TEMPLATES``) with ``word`` in a text field ``q`` searches and every
    reference it has pointing at ``ids`` (records of the resources created before it, catalog order)."""
    body = dict(TEMPLATES[resource])
    field, value = EDITS[resource]
    marked = field if isinstance(value, str) else OPTIONAL[resource]
    body[marked] = f"{word} {body[marked]}"
    body.update({name: ids[target] for name, target in BY_NAME[resource].references.items() if target in ids})
    return body


async def create(client: V1, resource: str, ids: Ids, word: str) -> str:
    created = await client.post(f"/{resource}", json=body_of(resource, ids, word))
    assert created.status_code == 201, f"{resource}: {created.status_code} {created.text}"
    return created.json()["id"]


async def seed(client: V1, word: str) -> Ids:
    """A record of every resource in ``client``'s workspace (references filled): resource name → id."""
    ids: Ids = {}
    for spec in RESOURCES:
        ids[spec.name] = await create(client, spec.name, ids, word)
    return ids


def served_v1_routes(settings: Settings) -> set[tuple[str, str]]:
    """Every (method, path template) the app serves under /api/v1."""
    app = create_app(settings)
    return {(method, route.path_format) for route in api_routes(app.routes) for method in route.methods
            if route.path_format == V1_PREFIX or route.path_format.startswith(f"{V1_PREFIX}/")}


def v1_routes(settings: Settings) -> list[tuple[str, str, Access]]:
    """The served /api/v1 routes that have a role table entry (signed webhooks aside: no token, no role), with
    it, in a stable order."""
    return [(method, path, ROUTE_ACCESS[(method, path)]) for method, path in sorted(served_v1_routes(settings))
            if (method, path) in ROUTE_ACCESS and not ROUTE_ACCESS[(method, path)].signed]


def resource_of(path: str) -> str | None:
    """The resource of an engine route (``/api/v1/tickets/{resource_id}`` → ``tickets``)."""
    parts = path.removeprefix(f"{V1_PREFIX}/").split("/")
    return parts[0] if parts[0] in BY_NAME else None


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # under /api/v1, as V1 takes it
    json: dict[str, Any] | None

    async def send(self, client: V1, headers: dict[str, str] | None = None):
        kwargs: dict[str, Any] = {"headers": headers} if headers else {}
        if self.json is not None:
            kwargs["json"] = self.json
        return await client.request(self.method, self.path, **kwargs)

    def __str__(self) -> str:
        return f"{self.method} /api/v1{self.path}"


def call_for(method: str, template: str, *, workspace: str, ids: Ids, word: str,
             body_ids: Ids | None = None) -> Call:
    """A valid request of ``method template``: path ids from ``ids`` (``workspace`` for a workspace id),
    the body's references from ``body_ids`` (``ids`` unless given)."""
    resource = resource_of(template)
    values = {"workspace_id": workspace, "key": SECRET_KEY, "event_id": ids.get(EVENT, NO_EVENT)}
    values.update({name: ids[key] for name, key in ENGINE_PARAMETERS.items() if key in ids})
    if resource is not None:
        values["resource_id"] = ids[resource]
    try:
        path = template.removeprefix(V1_PREFIX).format(**values)
    except KeyError as missing:
        raise AssertionError(f"{method} {template}: teach {__name__}.call_for the path parameter {missing}") from None
    body = None
    if method in MUTATING and method != "DELETE":
        if resource is not None:
            body = body_of(resource, body_ids if body_ids is not None else ids, word)
        elif (method, template) in ENGINE_BODIES:
            body = ENGINE_BODIES[(method, template)](word, ids)
        else:
            assert (method, template) in OTHER_BODIES, \
                f"{method} {template}: add a valid body to OTHER_BODIES in {__name__}"
            body = OTHER_BODIES[(method, template)](word)
    return Call(method, path, body)


def new_workspace_id() -> str:
    """The id of a workspace that does not exist (the form of a real one)."""
    return f"ws_{uuid.uuid4().hex}"
