"""Tenancy (issue 12, "Done when" 1): a token for workspace A reaches nothing of workspace B, on every route.

Workspace B holds a record of every resource, its settings and a secret. A token whose ``workspaces`` claim
is only A, holding every role that lacks the any-workspace power (so no route answers it 403), then walks
every tenant route of ``app.routes``:

- in A, with B's ids in the path (and a valid body): 404, the answer of an id that never existed (and
  not 410 for a record B deleted);
- in A, every read (lists, settings, secrets) shows nothing of B, and a body that references B's records
  is 400 ``invalid_reference``;
- in B: 404 ``workspace_not_found``, the same answer as for a workspace that does not exist;
- without ``x-workspace-id``: 400 ``workspace_required``.

B's records, audit trails, settings and secrets read back unchanged afterwards. Each test walks
everything and reports every failing request at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from api.platform_v1.access import ROUTE_ACCESS
from models.platform_v1.catalog import BY_NAME, RESOURCES
from models.platform_v1.roles import ANY_WORKSPACE_ROLES, Role
from tests.e2e.platform_v1.engine_world import seed_engine
from tests.e2e.platform_v1.job_world import seed_jobs
from tests.e2e.platform_v1.outbox_support import failed_event
from tests.e2e.platform_v1.support import V1
from tests.e2e.platform_v1.world import (
    EVENT,
    NO_EVENT,
    OTHER_SUCCESS,
    Ids,
    body_of,
    call_for,
    create,
    new_workspace_id,
    resource_of,
    seed,
    v1_routes,
)

NOTIFICATION_TEST = ("POST", "/api/v1/integrations/notifications/test")
#: Every role that may act only in the workspaces its token names.
WORKSPACE_BOUND_ROLES = sorted(set(Role) - ANY_WORKSPACE_ROLES)
B_WORD, A_WORD = "zebracorn", "aardvark"


def _error(response) -> str | None:
    try:
        return response.json().get("error")
    except ValueError:
        return None


async def _state_of(owner: V1, ids: Ids) -> dict[str, Any]:
    """Everything of B a change could touch: each record, its audit trail, each list, settings, secrets."""
    state: dict[str, Any] = {}
    for path in (f"/workflow-executions/{ids['executions']}", "/workflow-executions", "/agent-runtime/agents",
                 f"/artifacts/{ids['artifacts']}"):
        response = await owner.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        state[path] = response.json()
    for resource, resource_id in ids.items():
        if resource not in BY_NAME:
            continue
        for path in (f"/{resource}/{resource_id}", f"/{resource}/{resource_id}/audit", f"/{resource}"):
            response = await owner.get(path)
            assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
            state[path] = response.json()
    for path in ("/workspace/settings", "/workspace/secrets", "/events/ingest-batches", "/edge-agent/ingest-status",
                 "/events/outbox"):
        response = await owner.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        state[path] = response.json()
    return state


async def test_a_token_for_workspace_a_reaches_nothing_of_workspace_b(api, settings, workspaces, db_engine, worker,
                                                                      agent_node, accounting):
    a, b = workspaces
    owner_b = V1(api, *WORKSPACE_BOUND_ROLES, workspace=b, sub="owner-of-b")
    ids_b = {**await seed(owner_b, B_WORD), **await seed_engine(owner_b, agent_node.url, B_WORD),
             **await seed_jobs(owner_b, accounting.url, B_WORD)}
    deleted_b = {}
    for spec in RESOURCES:
        deleted_b[spec.name] = await create(owner_b, spec.name, ids_b, B_WORD)
        assert (await owner_b.delete(f"/{spec.name}/{deleted_b[spec.name]}")).status_code == 204
    b_settings = {"owner": B_WORD, "integrations": {"notifications": {"url": f"http://{B_WORD}.example/hook"}}}
    assert (await owner_b.put("/workspace/settings", json={"settings": b_settings})).status_code == 200
    b_event = await failed_event(db_engine, b)  # B's outbox: a failed event A must neither see nor retry
    assert (await owner_b.post(f"/workspace/secrets/{B_WORD}-key", json={"value": "b-only"})).status_code == 201
    ingested = await owner_b.post("/events/ingest", json={"source": f"{B_WORD}-rmm", "events": [
        {"id": f"{B_WORD}-1", "type": "alert.triggered", "data": {"title": f"{B_WORD} disk", "severity": "error",
                                                                  "assetId": ids_b["assets"]}}]})
    assert ingested.status_code == 202, ingested.text
    before = await _state_of(owner_b, ids_b)

    outsider = V1(api, *WORKSPACE_BOUND_ROLES, workspace=a, workspaces=[a])
    ids_a = {**await seed(outsider, A_WORD), **await seed_engine(outsider, agent_node.url, A_WORD)}
    b_marks = [B_WORD, b, b_event,
               *(value for key, value in ids_b.items() if key not in ("agentBaseUrl", "accountingUrl"))]
    routes = v1_routes(settings)
    tenant = [(method, path) for method, path, access in routes if access.tenant]
    assert len(tenant) >= 7 * len(RESOURCES), "the walk found too few tenant routes: is app.routes walked?"
    failures: list[str] = []

    def expect(what: str, response, status: int, error: str | None = None) -> None:
        if response.status_code != status or (error is not None and _error(response) != error):
            failures.append(f"{what}: {response.request.method} {response.request.url.path} -> "
                            f"{response.status_code} {response.text[:200]} (wanted {status} {error or ''})")

    for method, path in tenant:
        assert ROUTE_ACCESS[(method, path)].roles & set(WORKSPACE_BOUND_ROLES), f"{method} {path}: no role reaches it"
        resource = resource_of(path)
        # In A, naming B's records: B's ids in the path, a body valid in A.
        call = call_for(method, path, workspace=a, ids=ids_b, word=A_WORD, body_ids=ids_a)
        response = await call.send(outsider)
        if "{event_id}" in path:
            # B's event from A: the answer of an event that never existed.
            from_a = await call_for(method, path, workspace=a, ids={EVENT: b_event}, word=A_WORD).send(outsider)
            nowhere_event = await call_for(method, path, workspace=a, ids={}, word=A_WORD).send(outsider)
            expect("B's event from A", from_a, 404, "not_found")
            expect("an event of no workspace, from A", nowhere_event, 404, "not_found")
            if from_a.status_code == nowhere_event.status_code == 404 and \
                    from_a.json()["detail"].replace(b_event, NO_EVENT) != nowhere_event.json()["detail"]:
                failures.append(f"{call}: B's event answers {from_a.json()['detail']!r}")
        elif (method, path) == NOTIFICATION_TEST:
            # B has an adapter, A none: A's test is A's, never sent to B's adapter.
            expect("a notification test in A", response, 409, "adapter_not_configured")
        elif "{resource_id}" in path:
            expect("B's id from A", response, 404, "not_found")
            # The answer of an id that never existed, and of one B deleted (not 410: that would say it was B's).
            for what, other_id in (("an id of no record", f"{BY_NAME[resource].prefix}_{uuid.uuid4().hex}"),
                                   ("an id B deleted", deleted_b[resource])):
                other = await call_for(method, path, workspace=a, ids={**ids_b, resource: other_id}, word=A_WORD,
                                       body_ids=ids_a).send(outsider)
                expect(f"{what}, from A", other, 404, "not_found")
                if response.status_code == other.status_code == 404 and \
                        response.json()["detail"].replace(ids_b[resource], other_id) != other.json()["detail"]:
                    failures.append(f"{call}: B's id answers {response.json()['detail']!r}, {what} "
                                    f"{other.json()['detail']!r}")
        elif "{execution_id}" in path or "{artifact_id}" in path or "{job_id}" in path:
            expect("B's execution, artifact or job from A", response, 404, "not_found")
        elif path.endswith("/integrations/accounting/sync"):
            # B's accounting adapter is no adapter of A's.
            expect("a sync in A, B's adapter set", response, 409, "adapter_not_configured")
        elif path.endswith(("/imports", "/exports")):
            expect("a job in A", response, 202)
            if b in response.text:
                failures.append(f"a job in A: {call} answers with B's id: {response.text[:300]}")
        elif method == "POST" and ("{agent_id}" in path or "{target}" in path or path.endswith("/smoke")):
            # Agent ids are names in each workspace's own registry: B's agent is no agent of A's.
            expect("B's agent from A", response, 404, "agent_not_found")
        elif method == "PUT" and "{agent_id}" in path:
            # The same name registers an agent of A's own, and B's is untouched (B's state is compared below).
            expect("an agent of A's named as B's", response, 201)
            if response.status_code == 201 and response.json()["workspaceId"] != a:
                failures.append(f"PUT {call.path} from A registered {response.json()}")
        elif method == "GET":
            expect("a read in A", response, 200)
            leaked = [mark for mark in b_marks if mark in response.text]
            if leaked:
                failures.append(f"a read in A: GET {call.path} shows B's {leaked}: {response.text[:300]}")
        elif resource is not None and BY_NAME[resource].references:
            # A create in A that references B's records.
            create_b = call_for(method, path, workspace=a, ids=ids_b, word=A_WORD)
            expect("a reference to B's record", await create_b.send(outsider), 400, "invalid_reference")
        else:
            expect("a write in A", response, OTHER_SUCCESS.get((method, path), 201 if method == "POST" else 200))
            if b in response.text:
                failures.append(f"a write in A: {call} answers with B's id: {response.text[:300]}")

        # In B, a workspace not in the token: the answer of a workspace that does not exist.
        call_b = call_for(method, path, workspace=b, ids=ids_b, word=B_WORD)
        in_b = await call_b.send(outsider, headers={"x-workspace-id": b})
        nowhere = await call_b.send(outsider, headers={"x-workspace-id": new_workspace_id()})
        expect("x-workspace-id B", in_b, 404, "workspace_not_found")
        expect("x-workspace-id of no workspace", nowhere, 404, "workspace_not_found")
        if in_b.status_code == nowhere.status_code == 404 and in_b.json()["detail"] != nowhere.json()["detail"]:
            failures.append(f"{call_b}: B answers {in_b.json()['detail']!r}, no workspace "
                            f"{nowhere.json()['detail']!r}: the difference says B exists")

        # No workspace at all.
        bare = V1(api, *WORKSPACE_BOUND_ROLES, workspaces=[a, b])
        expect("no x-workspace-id", await call_b.send(bare), 400, "workspace_required")

    # Filters and search in A find none of B's rows, even when they name them.
    for spec in RESOURCES:
        for field, target in spec.references.items():
            if field in spec.filters:
                listed = await outsider.get(f"/{spec.name}", params={field: ids_b[target]})
                expect(f"a filter on B's {target}", listed, 200)
                if listed.status_code == 200 and listed.json()["page"]["total"] != 0:
                    failures.append(f"GET /{spec.name}?{field}=<B's> lists {listed.json()['data']}")
        searched = await outsider.get(f"/{spec.name}", params={"q": B_WORD})
        mine = await outsider.get(f"/{spec.name}", params={"q": A_WORD})
        if searched.json()["page"]["total"] != 0 or mine.json()["page"]["total"] < 1:
            failures.append(f"GET /{spec.name}?q=: {searched.json()['page']} for B's word, "
                            f"{mine.json()['page']} for A's")

    # A's records cannot be changed to reference B's.
    for spec in RESOURCES:
        if not spec.references:
            continue
        pointing_at_b = body_of(spec.name, ids_b, A_WORD)
        for method, body in (("PUT", pointing_at_b),
                             ("PATCH", {field: ids_b[target] for field, target in spec.references.items()})):
            response = await outsider.request(method, f"/{spec.name}/{ids_a[spec.name]}", json=body)
            expect(f"A's {spec.singular} changed to reference B's", response, 400, "invalid_reference")

    # Routes outside any workspace (B's workspace record, who set B's secrets) are not this token's.
    for method, path, access in routes:
        if not access.tenant:
            call = call_for(method, path, workspace=b, ids=ids_b, word=A_WORD)
            expect("a platform route", await call.send(outsider), 403, "forbidden_role")

    assert not failures, f"{len(failures)} requests reached workspace B or answered wrongly:\n" + "\n".join(failures)
    assert await _state_of(owner_b, ids_b) == before, "workspace B changed under a token for workspace A"


async def test_a_ticket_in_a_cannot_name_a_client_of_b(api, workspaces):
    a, b = workspaces
    client_b = await create(V1(api, "ops_engineer", workspace=b), "clients", {}, B_WORD)
    ops_a = V1(api, "ops_engineer", workspace=a)
    ticket = await ops_a.post("/tickets", json={"clientId": client_b, "title": "Printer on fire"})
    assert ticket.status_code == 400, ticket.text
    assert ticket.json()["error"] == "invalid_reference"
    assert ticket.json()["fields"][0]["field"] == "body.clientId"
    assert (await ops_a.get("/tickets")).json()["page"]["total"] == 0


async def test_a_key_used_in_workspace_b_replays_nothing_to_a_token_without_b(api, workspaces):
    """The same principal (``sub``), once allowed in B, now holds a token for A only: retrying B's request
    with the key it used there is 404, not B's stored response."""
    a, b = workspaces
    key = str(uuid.uuid4())
    body = {"name": f"{B_WORD} Industries"}
    then = V1(api, "ops_engineer", workspace=b, sub="alice")
    created = await then.post("/clients", json=body, headers={"Idempotency-Key": key})
    assert created.status_code == 201, created.text

    now = V1(api, "ops_engineer", workspace=b, workspaces=[a], sub="alice")
    retried = await now.post("/clients", json=body, headers={"Idempotency-Key": key})
    assert retried.status_code == 404, retried.text
    assert retried.json()["error"] == "workspace_not_found"
    assert created.json()["id"] not in retried.text and "idempotent-replayed" not in retried.headers

    other_body = await now.post("/clients", json={"name": "Another"}, headers={"Idempotency-Key": key})
    assert other_body.status_code == 404, other_body.text  # not 422: nothing says the key was used in B
