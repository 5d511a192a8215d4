"""Workspace settings: the four keys Capstan reads are validated on PUT and PATCH (400 naming the value's
path, nothing stored), every other key stays free-form; PATCH is a JSON merge patch that keeps the keys it
does not name, with the same roles, versions and ETags as PUT."""

from __future__ import annotations

import pytest

from models.platform_v1.events import SEED_TOPICS
from models.platform_v1.roles import Role
from models.platform_v1.schemas import TicketPriority
from models.platform_v1.workspace_settings import (
    Collector,
    accounting_adapter,
    edge_agent_policy,
    notifications_adapter,
    ticket_sla_minutes,
)
from tests.e2e.platform_v1.support import V1
from tests.support import assert_error

VALID = {
    "ticketSla": {"resolutionMinutes": {"critical": 60, "high": 90.5}},
    "edgeAgent": {"heartbeatSeconds": 30, "collectors": ["cpu", "patches"], "maxBatchEvents": 100},
    "integrations": {"accounting": {"baseUrl": "https://books.example/api", "timeoutSeconds": 20},
                     "notifications": {"url": "http://hooks.example:8080/capstan",
                                       "topics": ["ticket.created", "invoice.updated"]},
                     "crm": {"anything": ["goes", 1]}},
    "timezone": "Europe/Berlin",
}

BAD = [
    ({"ticketSla": {"resolutionMinutes": {"high": 0}}}, "ticketSla.resolutionMinutes.high"),
    ({"ticketSla": {"resolutionMinutes": {"high": 525601}}}, "ticketSla.resolutionMinutes.high"),
    ({"ticketSla": {"resolutionMinutes": {"low": "60"}}}, "ticketSla.resolutionMinutes.low"),
    ({"ticketSla": {"resolutionMinutes": {"urgent": 60}}}, "ticketSla.resolutionMinutes.urgent"),
    ({"ticketSla": {"minutes": 60}}, "ticketSla.minutes"),
    ({"ticketSla": 60}, "ticketSla"),
    ({"edgeAgent": {"heartbeatSeconds": 9}}, "edgeAgent.heartbeatSeconds"),
    ({"edgeAgent": {"telemetryIntervalSeconds": 86401}}, "edgeAgent.telemetryIntervalSeconds"),
    ({"edgeAgent": {"heartbeatSeconds": 30.5}}, "edgeAgent.heartbeatSeconds"),
    ({"edgeAgent": {"collectors": ["cpu", "gpu"]}}, "edgeAgent.collectors.1"),
    ({"edgeAgent": {"collectors": ["cpu", "cpu"]}}, "edgeAgent.collectors"),
    ({"edgeAgent": {"maxBatchEvents": 501}}, "edgeAgent.maxBatchEvents"),
    ({"edgeAgent": {"maxBatchEvents": 0}}, "edgeAgent.maxBatchEvents"),
    ({"integrations": {"accounting": {"baseUrl": "ftp://books.example"}}}, "integrations.accounting.baseUrl"),
    ({"integrations": {"accounting": {"baseUrl": "https://user:pw@books.example"}}},
     "integrations.accounting.baseUrl"),
    ({"integrations": {"accounting": {"baseUrl": "https://books.example/" + "a" * 2000}}},
     "integrations.accounting.baseUrl"),
    ({"integrations": {"accounting": {"baseUrl": "https:///no-host"}}}, "integrations.accounting.baseUrl"),
    ({"integrations": {"accounting": {"baseUrl": "https://books.example", "timeoutSeconds": 61}}},
     "integrations.accounting.timeoutSeconds"),
    ({"integrations": {"notifications": {"url": "https://hooks.example", "topics": ["ticket.deleted"]}}},
     "integrations.notifications.topics.0"),
    ({"integrations": {"notifications": {"url": "https://hooks.example", "timeoutSeconds": 31}}},
     "integrations.notifications.timeoutSeconds"),
    ({"integrations": {"notifications": {"url": "javascript:alert(1)"}}}, "integrations.notifications.url"),
    ({"integrations": {"notifications": {"url": "https://hooks.example", "secret": "x"}}},
     "integrations.notifications.secret"),
]


async def test_valid_typed_keys_and_free_form_keys_are_stored_as_sent(api, workspaces):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    put = await admin.put("/workspace/settings", json={"settings": VALID})
    assert put.status_code == 200, put.text
    assert put.json()["settings"] == VALID and put.json()["version"] == 1


@pytest.mark.parametrize(("bad", "path"), BAD, ids=[path + f"-{i}" for i, (_, path) in enumerate(BAD)])
async def test_a_bad_typed_value_is_400_with_its_path_and_changes_nothing(api, workspaces, bad, path):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    assert (await admin.put("/workspace/settings", json={"settings": VALID})).status_code == 200
    for method in ("PUT", "PATCH"):
        refused = await admin.request(method, "/workspace/settings", json={"settings": bad})
        error = assert_error(refused, 400, "validation_error")
        assert f"body.settings.{path}" in [field["field"] for field in error["fields"]], (method, error)
    after = (await admin.get("/workspace/settings")).json()
    assert after["settings"] == VALID and after["version"] == 1


async def test_an_adapter_without_its_url_is_400(api, workspaces):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    for adapter, field in (("accounting", "baseUrl"), ("notifications", "url")):
        refused = await admin.put("/workspace/settings",
                                  json={"settings": {"integrations": {adapter: {"timeoutSeconds": 5}}}})
        error = assert_error(refused, 400, "validation_error")
        assert [f["field"] for f in error["fields"]] == [f"body.settings.integrations.{adapter}.{field}"]
    assert (await admin.get("/workspace/settings")).json()["version"] == 0


async def test_patch_changes_one_key_and_keeps_the_adapters_and_the_sla(api, workspaces):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    first = await admin.put("/workspace/settings", json={"settings": VALID})
    patched = await admin.patch("/workspace/settings", json={"settings": {"timezone": "UTC"}},
                                headers={"If-Match": first.headers["etag"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"] == {**VALID, "timezone": "UTC"}
    assert patched.json()["version"] == 2 and patched.headers["etag"] == '"2"'
    nested = await admin.patch("/workspace/settings", json={"settings": {
        "edgeAgent": {"heartbeatSeconds": 120, "maxBatchEvents": None}, "integrations": {"crm": None}}})
    settings = nested.json()["settings"]
    assert settings["edgeAgent"] == {"heartbeatSeconds": 120, "collectors": ["cpu", "patches"]}
    assert settings["integrations"] == {k: v for k, v in VALID["integrations"].items() if k != "crm"}
    assert settings["ticketSla"] == VALID["ticketSla"] and nested.json()["version"] == 3
    stale = await admin.patch("/workspace/settings", json={"settings": {"timezone": "CET"}},
                              headers={"If-Match": '"2"'})
    assert_error(stale, 412, "precondition_failed")
    same = await admin.patch("/workspace/settings", json={"settings": {"timezone": "UTC"}})
    assert same.status_code == 200 and same.json()["version"] == 3  # nothing changed: no new version
    read = await admin.get("/workspace/settings")
    assert read.json()["settings"] == settings and read.headers["etag"] == '"3"'


async def test_patch_is_a_merge_patch_of_an_object_only(api, workspaces):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    for bad in ({}, {"settings": [1]}, {"settings": None}, {"settings": {}, "version": 2}, [1]):
        assert_error(await admin.patch("/workspace/settings", json=bad), 400, "validation_error")
    first = await admin.patch("/workspace/settings", json={"settings": {"a": 1}}, headers={"If-Match": '"0"'})
    assert first.status_code == 200 and first.json()["settings"] == {"a": 1} and first.json()["version"] == 1


@pytest.mark.parametrize("role", list(Role))
async def test_patch_has_the_roles_of_put(api, workspaces, role):
    a, _ = workspaces
    answers = []
    for method in ("PUT", "PATCH"):
        caller = V1(api, role.value, workspace=a)
        answers.append((await caller.request(method, "/workspace/settings", json={"settings": {"k": method}}))
                       .status_code)
    allowed = role in {Role.MSP_ADMIN, Role.DATA_ADMIN}
    assert answers == ([200, 200] if allowed else [403, 403]), (role, answers)


async def test_patch_acts_only_in_the_callers_workspace(api, workspaces):
    a, b = workspaces
    assert (await V1(api, "msp_admin", workspace=b).put("/workspace/settings",
                                                        json={"settings": {"in": "b"}})).status_code == 200
    outsider = V1(api, "data_admin", workspace=b, workspaces=[a])  # msp_admin may act in every workspace
    assert_error(await outsider.patch("/workspace/settings", json={"settings": {"in": "a"}}), 404)
    mine = await V1(api, "msp_admin", workspace=a).patch("/workspace/settings", json={"settings": {"x": 1}})
    assert mine.json()["settings"] == {"x": 1}
    assert (await V1(api, "msp_admin", workspace=b).get("/workspace/settings")).json()["settings"] == {"in": "b"}


def test_readers_fill_in_the_defaults():
    assert ticket_sla_minutes({}) == {TicketPriority.CRITICAL: 240, TicketPriority.HIGH: 480,
                                      TicketPriority.MEDIUM: 1440, TicketPriority.LOW: 4320}
    assert ticket_sla_minutes(VALID)[TicketPriority.HIGH] == 90.5
    assert ticket_sla_minutes(VALID)[TicketPriority.LOW] == 4320
    policy = edge_agent_policy(VALID)
    assert (policy.heartbeatSeconds, policy.telemetryIntervalSeconds, policy.maxBatchEvents) == (30, 300, 100)
    assert policy.collectors == [Collector.CPU, Collector.PATCHES]
    assert edge_agent_policy({}).collectors == ["cpu", "memory", "disk", "services"]
    assert accounting_adapter({}) is None and notifications_adapter({"integrations": "x"}) is None
    accounting = accounting_adapter(VALID)
    assert accounting is not None and (accounting.baseUrl, accounting.timeoutSeconds) == \
        ("https://books.example/api", 20)
    notifications = notifications_adapter({"integrations": {"notifications": {"url": "https://h.example"}}})
    assert notifications is not None and notifications.topics == SEED_TOPICS and notifications.timeoutSeconds == 10
    fractional = notifications_adapter({"integrations": {"notifications": {"url": "https://h.example",
                                                                           "timeoutSeconds": 2.5}}})
    assert fractional is not None and fractional.timeoutSeconds == 2.5
    # A value stored before it was validated reads as absent, not as a crash.
    assert edge_agent_policy({"edgeAgent": {"heartbeatSeconds": "often"}}).heartbeatSeconds == 60
    assert accounting_adapter({"integrations": {"accounting": {"baseUrl": "ftp://x"}}}) is None
