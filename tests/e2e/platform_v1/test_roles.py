"""Roles (issue 12, "Done when" 2): every /api/v1 route × every role answers what the role table says,
the table covers exactly the routes the app serves, and each route's OpenAPI description names its roles.

The routes come from ``app.routes`` (a new route is walked the day it exists). Each call is a valid
request (existing ids, a valid body, an ``Idempotency-Key``) by a token holding only the role, in a
workspace it may act in: a role of the table gets its 2xx, any other role 403 ``forbidden_role``.
Authentication failures (no token, expired, bad signature, ``alg: none``) are 401 with a
``WWW-Authenticate`` challenge on every route, and a token whose roles Capstan does not know is 403.
"""

from __future__ import annotations

import re
import time
import uuid

import jwt

from api.platform_v1.access import ROUTE_ACCESS
from api.platform_v1.access import V1 as V1_PREFIX
from models.platform_v1.roles import Role
from tests.e2e.platform_v1.engine_world import fresh_ids, seed_engine
from tests.e2e.platform_v1.job_world import job_call_ids, seed_jobs
from tests.e2e.platform_v1.outbox_support import delete_relay_schedule, failed_event, notify_to, running_relay
from tests.e2e.platform_v1.support import JWT_SECRET, V1, token
from tests.e2e.platform_v1.world import (
    ENROLLMENT_REFUSED,
    EVENT,
    PUBLIC,
    call_for,
    create,
    resource_of,
    seed,
    served_v1_routes,
    v1_routes,
)

WORD = "rolecall"
#: The edge agent's routes outside ``/edge-agent/``.
EDGE_AGENT_ROUTES = {f"{V1_PREFIX}/events/ingest"}
ROLES_LINE = re.compile(r"\*\*Roles:\*\* (?P<roles>[^(]*)\((?P<scope>[^)]*)\)\.")
OUTBOX_RETRY = ("POST", f"{V1_PREFIX}/agent-runtime/outbox-failures/{{event_id}}/retry")
NOTIFICATION_TEST = ("POST", f"{V1_PREFIX}/integrations/notifications/test")


async def test_every_route_answers_every_role_as_the_table_says(api, settings, workspaces, db_engine, temporal_client,
                                                                notification_receiver, agent_node, accounting):
    try:
        async with running_relay(temporal_client, settings):  # the notification test's workflow runs on it
            await _walk_every_route_as_every_role(api, settings, workspaces, db_engine, notification_receiver,
                                                  agent_node, accounting)
    finally:
        await delete_relay_schedule(temporal_client, settings)


async def _walk_every_route_as_every_role(api, settings, workspaces, db_engine, receiver, agent_node,
                                          accounting) -> None:
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    ids = {**await seed(admin, WORD), **await seed_engine(admin, agent_node.url, WORD),
           **await seed_jobs(admin, accounting.url, WORD)}
    routes = v1_routes(settings)
    failures: list[str] = []
    for method, path, access in routes:
        for role in Role:
            caller = V1(api, role, workspace=a if access.tenant else None, sub=f"{role}-caller")
            call_ids = dict(ids)
            resource = resource_of(path)
            if method == "DELETE" and resource is not None and role in access.roles:
                call_ids[resource] = await create(admin, resource, ids, WORD)  # each delete its own record
            if role in access.roles:
                call_ids = await fresh_ids(admin, method, path, call_ids)  # each retry or cancel its own execution
                call_ids = await job_call_ids(admin, method, path, call_ids)  # each job retry its own failed job
            if (method, path) == OUTBOX_RETRY and role in access.roles:
                call_ids[EVENT] = await failed_event(db_engine, a)  # each retry its own failed event
            if (method, path) == NOTIFICATION_TEST and role in access.roles:
                await notify_to(admin, receiver, secret=None)  # the walk's settings replace may have removed it
            call = call_for(method, path, workspace=a, ids=call_ids, word=WORD)
            response = await call.send(caller)
            if (role, method, path) in ENROLLMENT_REFUSED:
                if response.status_code != 403 or response.json().get("error") != "enrollment_invalid":
                    failures.append(f"{role} may, with its enrollment token: {call} -> {response.status_code} "
                                    f"{response.text[:200]}")
            elif role in access.roles:
                if not 200 <= response.status_code < 300:
                    failures.append(f"{role} may: {call} -> {response.status_code} {response.text[:200]}")
            elif response.status_code != 403 or response.json().get("error") != "forbidden_role":
                failures.append(f"{role} may not: {call} -> {response.status_code} {response.text[:200]}")
    assert not failures, f"{len(failures)} of {len(routes) * len(Role)} answers differ from the role table:\n" \
        + "\n".join(failures)


def test_the_table_covers_exactly_the_routes_the_app_serves(settings):
    served = served_v1_routes(settings) - PUBLIC
    assert served, "no /api/v1 route found in app.routes"
    assert sorted(served - set(ROUTE_ACCESS)) == [], "served without a role table entry"
    assert sorted(set(ROUTE_ACCESS) - served) == [], "in the role table but not served"


def test_the_table_follows_the_role_descriptions():
    """What models/platform_v1/roles.py and the access module's docstring promise of each role."""
    for (method, path), access in ROUTE_ACCESS.items():
        route = f"{method} {path}"
        if access.signed:
            assert not access.roles and not access.tenant, f"{route}: a signed webhook has no role and no workspace"
            continue
        assert Role.MSP_ADMIN in access.roles, f"{route}: msp_admin may do everything"
        assert Role.CLIENT_PORTAL not in access.roles, f"{route}: not the portal's"
        # The edge agent reads its /edge-agent/ routes but never issues its own enrollment token.
        assert (Role.ENDPOINT_AGENT in access.roles) == (path in EDGE_AGENT_ROUTES or (path.startswith(
            f"{V1_PREFIX}/edge-agent/") and method == "GET")), f"{route}: the edge agent has exactly its own routes"
        assert (Role.PLATFORM_ADMIN in access.roles) == (not access.tenant), \
            f"{route}: platform_admin has exactly the non-tenant configuration"
        if method != "GET":
            assert Role.VIEWER not in access.roles, f"{route}: a read-only role writes"
            executes = path.startswith((f"{V1_PREFIX}/execute/", f"{V1_PREFIX}/workflow-executions/",
                                        f"{V1_PREFIX}/agent-runtime/agents/"))
            assert (Role.AUTOMATION_OPERATOR in access.roles) == executes, \
                f"{route}: automation_operator writes only what runs agents"
        resource = resource_of(path)
        if resource is not None:
            financial = resource in {"contracts", "quotes", "invoices", "payments"}
            assert (Role.BILLING in access.roles) == (financial or (method == "GET" and resource in {
                "clients", "contacts"})), f"{route}: billing owns the financial resources, reads the directory"
            if method == "GET":
                assert (Role.VIEWER in access.roles) == (not financial), f"{route}: viewer reads operational data"
    operational_readers = ROUTE_ACCESS[("GET", f"{V1_PREFIX}/tickets")].roles
    assert operational_readers <= ROUTE_ACCESS[("GET", f"{V1_PREFIX}/workspace/settings")].roles, \
        "whoever reads a workspace's operational data reads its settings"


async def test_the_openapi_description_of_each_route_names_exactly_its_roles(api):
    document = (await api.get(f"{V1_PREFIX}/openapi")).json()
    failures = []
    for (method, path), access in sorted(ROUTE_ACCESS.items()):
        operation = document["paths"].get(path, {}).get(method.lower())
        if access.signed:
            if operation is None or "**Access:** the signature" not in operation.get("description", ""):
                failures.append(f"{method} {path}: the description does not say it is signed, not role-checked")
            continue
        if operation is None:
            failures.append(f"{method} {path}: not in /api/v1/openapi")
            continue
        lines = ROLES_LINE.findall(operation.get("description", ""))
        if len(lines) != 1:
            failures.append(f"{method} {path}: {len(lines)} roles lines in {operation.get('description')!r}")
            continue
        named, scope = lines[0]
        roles = set(re.findall(r"`([a-z_]+)`", named))
        if roles != set(access.roles):
            failures.append(f"{method} {path}: the description names {sorted(roles)}, the table "
                            f"{sorted(access.roles)}")
        if ("x-workspace-id" in scope) != access.tenant:
            failures.append(f"{method} {path}: the description says {scope!r}, the route is "
                            f"{'a' if access.tenant else 'no'} tenant route")
    assert not failures, "\n".join(failures)


def _none_token(workspace: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "mallory", "roles": ["msp_admin"], "workspaces": [workspace], "iat": now,
                       "exp": now + 600}, None, algorithm="none")


async def test_every_route_refuses_a_missing_or_invalid_token_with_a_challenge(api, settings, workspaces, worker,
                                                                               agent_node, accounting):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    ids = {**await seed(admin, WORD), **await seed_engine(admin, agent_node.url, WORD),
           **await seed_jobs(admin, accounting.url, WORD)}
    everything = [role.value for role in Role]
    bad_tokens = {
        "no token": None,
        "expired": token(*everything, workspaces=[a], ttl=-3600),
        "bad signature": token(*everything, workspaces=[a], secret=JWT_SECRET + "-forged"),
        "alg none": _none_token(a),
    }
    unknown_roles = V1(api, "root", "admin", "superuser", workspace=a)
    failures: list[str] = []
    for method, path, _access in v1_routes(settings):
        call = call_for(method, path, workspace=a, ids=ids, word=WORD)
        for what, bad in bad_tokens.items():
            headers = {"x-workspace-id": a, "Idempotency-Key": str(uuid.uuid4()),
                       **({"Authorization": f"Bearer {bad}"} if bad else {})}
            response = await api.request(method, f"{V1_PREFIX}{call.path}", json=call.json, headers=headers)
            challenge = response.headers.get("www-authenticate", "")
            if response.status_code != 401 or not challenge.startswith("Bearer"):
                failures.append(f"{what}: {call} -> {response.status_code} {challenge!r} {response.text[:150]}")
            elif bad and 'error="invalid_token"' not in challenge:
                failures.append(f"{what}: {call}: the challenge {challenge!r} does not say invalid_token")
        response = await call.send(unknown_roles)
        if response.status_code != 403 or response.json().get("error") != "forbidden_role":
            failures.append(f"unknown roles only: {call} -> {response.status_code} {response.text[:150]}")
    assert not failures, f"{len(failures)} answers:\n" + "\n".join(failures)
