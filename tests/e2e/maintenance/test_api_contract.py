"""The maintenance API's rules for every client: the admin token, list limits and filters, ids that
need encoding, unknown ids and methods, and bad input that changes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from models.maintenance.settings import PatchSettings
from models.maintenance.tables import AttemptRow, FlowEventRow
from tests.e2e.maintenance.support import seg
from tests.support import assert_error

ODD_ID = "patch:gh-rel:tag:github.com,2008:Repository/9654/rust-v0.131.0:upstream.release"


def flow_event(event_id: str, received: str, type: str = "upstream.release") -> dict:  # noqa: A002
    return {"id": event_id, "type": type, "source": "patch", "receivedAt": received, "payload": {"sourceId": "s"}}


async def store_events(db_engine, *events: dict) -> None:
    from sqlmodel.ext.asyncio.session import AsyncSession

    async with AsyncSession(db_engine) as session:
        for event in events:
            session.add(FlowEventRow(id=event["id"], type=event["type"], source_id="s", body=event, dispatched=True))
        await session.commit()


@pytest.fixture
async def three_events(db_engine, api):
    events = [flow_event(f"patch:s:e{i}:upstream.release", f"2026-05-13T00:00:0{i}.000Z") for i in range(3)]
    events.append(flow_event(ODD_ID, "2026-05-13T00:00:09.000Z", type="other"))
    await store_events(db_engine, *events)
    return events


async def test_lists_are_newest_first_and_limit_follows_the_original_rules(api, three_events):
    listed = (await api.get("/flow-events")).json()["events"]
    assert [e["id"] for e in listed] == [ODD_ID, *[f"patch:s:e{i}:upstream.release" for i in (2, 1, 0)]]
    for limit, count in (("2.9", 2), ("0", 1), ("-3", 1), ("9999", 4), ("", 4), ("1e0", 1)):
        assert len((await api.get("/flow-events", params={"limit": limit})).json()["events"]) == count, limit
    assert_error(await api.get("/flow-events", params={"limit": "abc"}), 400, "invalid_limit")
    assert_error(await api.get("/flow-events", params={"limit": "nan"}), 400, "invalid_limit")
    assert [e["id"] for e in (await api.get("/flow-events", params={"type": "other"})).json()["events"]] == [ODD_ID]
    assert (await api.get("/flow-events", params={"type": "nothing-like-it"})).json() == {"events": []}


async def test_ids_with_slashes_and_colons_are_one_encoded_segment(api, three_events):
    read = await api.get(f"/flow-events/{seg(ODD_ID)}")
    assert read.status_code == 200, read.text
    assert read.json() == {"event": three_events[-1], "dispatches": []}


async def test_unknown_status_filters_are_400_naming_the_allowed_values(api):
    bad = assert_error(await api.get("/maintenance-attempts", params={"status": "done"}), 400, "invalid_status")
    assert bad["allowed"] == ["started", "completed", "changed", "needs_intervention", "blocked", "failed", "skipped"]
    for path in ("/workspace-dispatches", "/flow-dispatches"):
        bad = assert_error(await api.get(path, params={"status": "ok"}), 400, "invalid_status")
        assert bad["allowed"] == ["dispatched", "failed", "skipped"]
    assert (await api.get("/maintenance-attempts", params={"status": ""})).json() == {"attempts": []}
    bad = assert_error(await api.get("/workspace-runs", params={"status": "exploded"}), 400, "invalid_status")
    assert "queued" in bad["allowed"] and "needs_intervention" in bad["allowed"]


async def test_unknown_ids_are_404_with_the_original_codes_whatever_the_method(api):
    missing = seg("patch:nope:x:y")
    cases = [("GET", f"/flow-events/{missing}", "flow_event_not_found"),
             ("POST", f"/flow-events/{missing}/retry", "flow_event_not_found"),
             ("POST", f"/flow-events/{missing}/replay", "flow_event_not_found"),
             ("DELETE", f"/flow-events/{missing}", "flow_event_not_found"),
             ("GET", f"/maintenance-attempts/{missing}", "maintenance_attempt_not_found"),
             ("POST", f"/maintenance-attempts/{missing}/sync", "maintenance_attempt_not_found"),
             ("PUT", f"/maintenance-attempts/{missing}", "maintenance_attempt_not_found"),
             ("GET", f"/workspace-runs/{missing}", "workspace_run_not_found"),
             ("GET", f"/workspace-events/{missing}", "workspace_event_not_found"),
             ("POST", "/feed-sources/nope/poll", "feed_source_not_found")]
    for method, path, code in cases:
        assert_error(await api.request(method, path), 404, code)
    assert_error(await api.get("/no-such-route"), 404, "not_found")


async def test_a_known_id_with_a_wrong_method_is_405(api, three_events):
    assert_error(await api.delete(f"/flow-events/{seg(ODD_ID)}"), 405, "method_not_allowed")
    assert_error(await api.post("/flow-events"), 405, "method_not_allowed")


async def test_bad_input_is_400_and_changes_nothing(api, three_events, db_engine):
    from sqlmodel.ext.asyncio.session import AsyncSession

    event = seg(three_events[0]["id"])
    assert_error(await api.post(f"/flow-events/{event}/retry", content=b"{not json",
                                headers={"content-type": "application/json"}), 400)
    assert_error(await api.post(f"/flow-events/{event}/retry", content=b'{"a": "\\u0000"}',
                                headers={"content-type": "application/json"}), 400)
    assert_error(await api.get("/flow-events", params={"type": "a\x00b"}), 400, "nul_byte")
    assert_error(await api.post(f"/flow-events/{event}/replay", content=b"x" * (2 * 1024 * 1024)), 413)
    async with AsyncSession(db_engine) as session:
        assert (await session.exec(select(func.count()).select_from(AttemptRow))).one() == 0


async def test_the_admin_token_guards_every_route_but_healthz(settings, api_factory, three_events):
    settings.patch = PatchSettings(feed_sources_path=settings.patch.feed_sources_path, admin_token="s3cret-admin")
    async with api_factory(settings) as api:
        assert (await api.get("/healthz")).text.strip() == "ok"
        for path in ("/flow-events", "/maintenance-attempts", "/workspace-dispatches", "/flow-dispatches",
                     "/workspace-runs", "/workspace-events", "/feed-sources"):
            assert_error(await api.get(path), 401, "unauthorized")
        # Auth comes first: an unknown id without the token is 401, not 404.
        assert_error(await api.get(f"/flow-events/{seg('patch:nope:x:y')}"), 401, "unauthorized")
        assert_error(await api.get("/flow-events", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        assert_error(await api.get("/flow-events", headers={"X-Patch-Admin-Token": "s3cret-admin2"}), 401)
        for headers in ({"Authorization": "Bearer s3cret-admin"}, {"Authorization": "bEaReR \t s3cret-admin"},
                        {"X-Patch-Admin-Token": "s3cret-admin"},
                        {"Authorization": "Bearer wrong", "X-Patch-Admin-Token": "s3cret-admin"}):
            assert (await api.get("/flow-events", headers=headers)).status_code == 200, headers
        # The orchestrator's bearer token is another surface's credential: not enough here.
        assert_error(await api.get("/flow-events", headers={"Authorization": "Token s3cret-admin"}), 401)
