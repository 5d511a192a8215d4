"""Every /api/v1 answer is what its route's response model says (the model ``/api/v1/openapi`` documents):
each route, called by ``msp_admin`` with a valid request, answers a 2xx whose body validates against the
route's model and holds no field the model does not name (a 204 has no body and no model).

The routes come from ``app.routes``: a route added tomorrow is checked the day it exists."""

from __future__ import annotations

from typing import Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from api.app import create_app
from api.common.openapi import api_routes
from tests.e2e.platform_v1.engine_world import fresh_ids, seed_engine
from tests.e2e.platform_v1.job_world import job_call_ids, seed_jobs
from tests.e2e.platform_v1.outbox_support import delete_relay_schedule, failed_event, notify_to, running_relay
from tests.e2e.platform_v1.support import V1
from tests.e2e.platform_v1.world import EVENT, call_for, create, resource_of, seed, v1_routes

WORD = "contract"


def undocumented(model: Any, body: Any, where: str = "body") -> list[str]:
    """The fields of ``body`` that ``model`` (a model, or a list of models) does not name, with where they are."""
    if get_origin(model) is list and isinstance(body, list):
        [item] = get_args(model)
        return [found for n, value in enumerate(body) for found in undocumented(item, value, f"{where}[{n}]")]
    if not (isinstance(model, type) and issubclass(model, BaseModel) and isinstance(body, dict)):
        return []
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    found = [f"{where}.{name}" for name in body if name not in fields]
    for name, field in fields.items():
        if name in body:
            found += undocumented(field.annotation, body[name], f"{where}.{name}")
    return found


async def test_every_answer_is_the_model_its_route_documents(api, settings, workspaces, db_engine, temporal_client,
                                                             notification_receiver, agent_node, accounting):
    try:
        async with running_relay(temporal_client, settings):  # the notification test's workflow runs on it
            await _check_every_answer(api, settings, workspaces, db_engine, notification_receiver, agent_node,
                                      accounting)
    finally:
        await delete_relay_schedule(temporal_client, settings)


async def _check_every_answer(api, settings, workspaces, db_engine, receiver, agent_node, accounting) -> None:
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    ids = {**await seed(admin, WORD), **await seed_engine(admin, agent_node.url, WORD),
           **await seed_jobs(admin, accounting.url, WORD)}
    await admin.post("/alerts", json={"title": "Disk full", "severity": "error"})  # an event with deliveries:
    await notify_to(admin, receiver)                                                # listed by the outbox
    await admin.post("/alerts", json={"title": "Disk fuller", "severity": "critical"})
    ids[EVENT] = await failed_event(db_engine, a)  # what the outbox failure retry retries
    models = {(method, route.path_format): route.response_model for route in api_routes(create_app(settings).routes)
              for method in route.methods}
    failures: list[str] = []
    for method, path, access in v1_routes(settings):
        call_ids = dict(ids)
        resource = resource_of(path)
        if method == "DELETE" and resource is not None:
            call_ids[resource] = await create(admin, resource, ids, WORD)
        call_ids = await fresh_ids(admin, method, path, call_ids)
        call_ids = await job_call_ids(admin, method, path, call_ids)
        if path.endswith("/integrations/notifications/test"):
            await notify_to(admin, receiver, secret=None)  # the walk's settings replace may have removed it
        call = call_for(method, path, workspace=a, ids=call_ids, word=WORD)
        response = await call.send(V1(api, "msp_admin", workspace=a if access.tenant else None))
        assert 200 <= response.status_code < 300, f"{call} -> {response.status_code} {response.text[:300]}"
        model = models[(method, path)]
        if response.status_code == 204:
            assert model is None and response.content == b"", f"{call}: a 204 has no body and no model"
            continue
        assert model is not None, f"{call}: no response model"
        assert response.headers["content-type"] == "application/json", call
        if model is bytes:  # an artifact: its stored bytes (here an execution's JSON output), not a model's
            continue
        body = response.json()
        try:
            TypeAdapter(model).validate_python(body)
        except ValueError as error:
            failures.append(f"{call} does not answer {model}: {error}")
        if extra := undocumented(model, body):
            failures.append(f"{call} answers fields {model} does not document: {extra}")
    assert not failures, "\n".join(failures)


def test_each_resource_has_its_own_models_in_the_document(settings):
    document = create_app(settings).openapi()
    tickets = document["paths"]["/api/v1/tickets"]
    listed = tickets["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    created = tickets["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert created == "#/components/schemas/TicketPublic"
    envelope = document["components"]["schemas"][listed.rsplit("/", 1)[1]]
    assert set(envelope["properties"]) == {"data", "page", "sort", "filters"}
    assert envelope["properties"]["data"]["items"] == {"$ref": "#/components/schemas/TicketPublic"}
    ticket = document["components"]["schemas"]["TicketPublic"]
    assert {"id", "workspaceId", "title", "priority", "version", "createdAt", "updatedAt"} <= set(ticket["required"]) \
        | set(ticket["properties"])
    assert {"id", "workspaceId", "version", "createdAt", "updatedAt"} <= set(ticket["required"])
    article = document["paths"]["/api/v1/knowledge-base/{resource_id}"]["get"]["responses"]["200"]
    assert article["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ArticlePublic"}
    deleted = document["paths"]["/api/v1/tickets/{resource_id}"]["delete"]["responses"]["204"]
    assert "content" not in deleted
