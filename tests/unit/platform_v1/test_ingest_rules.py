"""The ingest's rules that need no database: how fields are named, what a batch must be, who needs an
enrollment token."""

from __future__ import annotations

import json

import pytest

from api.common.auth import Principal
from api.common.errors import BadRequest
from api.platform_v1.caller import Caller
from api.platform_v1.services.ingest import field_path, parse_batch
from api.platform_v1.services.ingest_enrollment import needs_enrollment
from models.platform_v1.ingest import AlertTriggeredData, IngestEventType
from models.platform_v1.roles import Role


def test_fields_are_named_as_the_api_names_them():
    assert field_path(("events", 3, "data", "severity")) == "body.events[3].data.severity"
    assert field_path(()) == "body"
    assert field_path(("source",)) == "body.source"


def _refused(body: object) -> dict:
    with pytest.raises(BadRequest) as refused:
        parse_batch(json.dumps(body).encode())
    return {"code": refused.value.code, "fields": [f["field"] for f in refused.value.extra["fields"]]}


def test_every_bad_event_of_a_batch_is_named_at_once():
    events = [{"id": "a", "type": "alert.triggered", "data": {"severity": "urgent"}},
              {"id": "b", "type": "telemetry", "data": {"blob": "x" * 17_000}},
              {"id": "c", "type": "asset.state_changed", "data": {"assetId": "nope", "status": "active"}}]
    assert _refused({"events": events}) == {"code": "validation_error", "fields": [
        "body.events[0].data.title", "body.events[0].data.severity", "body.events[1].data",
        "body.events[2].data.assetId"]}


def test_a_repeated_id_is_named_where_it_repeats():
    events = [{"id": "a", "type": "heartbeat"}, {"id": "b", "type": "heartbeat"}, {"id": "a", "type": "heartbeat"},
              {"id": "b", "type": "telemetry"}]
    assert _refused({"events": events}) == {"code": "duplicate_event_id",
                                            "fields": ["body.events[2].id", "body.events[3].id"]}


def test_a_good_batch_types_each_events_data():
    body, events = parse_batch(json.dumps({"events": [
        {"id": "a", "type": "alert.triggered", "data": {"title": " Disk full ", "severity": "error"}},
        {"id": "b", "type": "telemetry", "data": {"cpu": 1.5}}]}).encode())
    assert body.source is None and [e.event.type for e in events] == [IngestEventType.ALERT_TRIGGERED,
                                                                      IngestEventType.TELEMETRY]
    assert isinstance(events[0].data, AlertTriggeredData) and events[0].data.title == "Disk full"
    assert events[1].data is None and events[1].stored == '{"cpu":1.5}'


@pytest.mark.parametrize("roles, needed", [
    ({Role.ENDPOINT_AGENT}, True),
    ({Role.ENDPOINT_AGENT, Role.VIEWER}, True),
    ({Role.ENDPOINT_AGENT, Role.OPS_ENGINEER}, False),
    ({Role.ENDPOINT_AGENT, Role.INTEGRATION_ADMIN}, False),
    ({Role.ENDPOINT_AGENT, Role.MSP_ADMIN}, False),
    ({Role.OPS_ENGINEER}, False),
])
def test_only_a_caller_that_ingests_as_an_endpoint_agent_alone_needs_an_enrollment_token(roles, needed):
    principal = Principal(subject="edge-1", scheme="jwt", roles=frozenset(roles), workspaces=frozenset({"ws_a"}))
    caller = Caller(principal, "ws_a", "correlation")
    assert needs_enrollment(caller) is needed
