"""The HTTP workspace backend client against a fake reference backend over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from capstan.devstack.ports import free_port
from integrations.workspaces.http import (
    HttpWorkspaceBackend,
    WorkspaceBackendError,
    backend_base_url,
    dispatch_record_fields,
    http_status_of,
)
from tests.fakes.workspace_backend import FakeWorkspaceBackend

SECRET = "flow-secret-0123456789abcdef"
EVENT_ID = "patch:gh-rel:tag:github.com,2008:Repository/9654/rust-v0.131.0:upstream.release"
ENCODED_EVENT_ID = "patch%3Agh-rel%3Atag%3Agithub.com%2C2008%3ARepository%2F9654%2Frust-v0.131.0%3Aupstream.release"
EVENT = {"id": EVENT_ID, "type": "upstream.release", "source": "patch", "occurredAt": "2026-05-13T00:00:00.000Z",
         "receivedAt": "2026-05-13T00:00:01.000Z", "payload": {"repo": "openai/codex", "tag": "rust-v0.131.0",
                                                              "note": "héllo ✓"}}


@pytest.fixture
def signed_backend(fake_workspace_backend: FakeWorkspaceBackend) -> FakeWorkspaceBackend:
    fake_workspace_backend.set_secret(SECRET)
    return fake_workspace_backend


def client(backend: FakeWorkspaceBackend, secret: str | None = SECRET, path: str = "/events") -> HttpWorkspaceBackend:
    return HttpWorkspaceBackend(backend.url + path, secret, timeout_seconds=5)


def expected_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("url", "base"), [
    ("http://h:3586/events", "http://h:3586"), ("http://h:3586/", "http://h:3586"),
    ("http://h:3586/flow-events/", "http://h:3586"), ("http://h:3586/api/events", "http://h:3586/api"),
    ("http://h:3586", "http://h:3586"),
])
def test_the_base_url_drops_a_trailing_events_path_and_slashes(url, base):
    assert backend_base_url(url) == base


async def test_a_dispatch_is_signed_over_the_exact_body_and_starts_a_run(signed_backend):
    async with client(signed_backend) as backend:
        answer = await backend.dispatch(EVENT)

    assert answer == {"status": "accepted", "eventId": EVENT_ID, "runIds": ["run-1"], "matched": 1}
    assert dispatch_record_fields(answer) == {"runIds": ["run-1"], "matched": 1}
    sent = signed_backend.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/events")
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-flow-signature-256"] == expected_signature(sent.body)
    assert json.loads(sent.body) == EVENT
    assert signed_backend.events[EVENT_ID] == EVENT
    assert backend.dispatch_url() == f"{signed_backend.url}/events"


async def test_the_same_event_again_is_a_duplicate_that_starts_nothing(signed_backend):
    async with client(signed_backend) as backend:
        await backend.dispatch(EVENT)
        again = await backend.dispatch(EVENT)

    assert again == {"status": "duplicate", "eventId": EVENT_ID, "runIds": ["run-1"], "matched": 0}
    assert list(signed_backend.runs) == ["run-1"]


async def test_a_replay_starts_a_new_run_of_a_known_event(signed_backend):
    async with client(signed_backend) as backend:
        await backend.dispatch(EVENT)
        answer = await backend.replay(EVENT_ID)

    assert answer["status"] == "accepted"
    assert answer["runIds"] == ["run-2"]
    sent = signed_backend.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"/events/{ENCODED_EVENT_ID}/replay")
    assert json.loads(sent.body) == {"wait": False}
    assert sent.headers["x-flow-signature-256"] == expected_signature(sent.body)
    assert backend.replay_url(EVENT_ID) == f"{signed_backend.url}/events/{ENCODED_EVENT_ID}/replay"


async def test_runs_and_events_are_listed_and_read_with_unsigned_gets(signed_backend):
    async with client(signed_backend) as backend:
        await backend.dispatch(EVENT)
        await backend.dispatch({**EVENT, "id": "other", "type": "upstream.push"})
        signed_backend.set_run_result("run-1", "completed", {"status": "changed", "message": "rebased"})
        gets_from = len(signed_backend.requests)

        runs = await backend.list_runs(event_id=EVENT_ID)
        completed = await backend.list_runs(status="completed", limit=5)
        everything = await backend.list_runs()
        run = await backend.read_run("run-1")
        missing_run = await backend.read_run("run-404")
        events = await backend.list_events(type="upstream.push")
        newest = await backend.list_events(limit=1)
        event = await backend.read_event(EVENT_ID)
        missing_event = await backend.read_event("no/such:event")

    assert runs["eventId"] == EVENT_ID
    assert [r["id"] for r in runs["runs"]] == ["run-1"]
    assert [r["id"] for r in completed["runs"]] == ["run-1"]
    assert [r["id"] for r in everything["runs"]] == ["run-2", "run-1"]
    assert run is not None
    assert json.loads(run["run"]["resultJson"]) == {"status": "changed", "message": "rebased"}
    assert run["run"]["completedAt"]
    assert missing_run is None
    assert [e["id"] for e in events["events"]] == ["other"]
    assert [e["id"] for e in newest["events"]] == ["other"]
    assert event is not None
    assert event["event"]["id"] == EVENT_ID
    assert [r["id"] for r in event["runs"]] == ["run-1"]
    assert missing_event is None

    gets = signed_backend.requests[gets_from:]
    assert {request.method for request in gets} == {"GET"}
    assert not any(name.endswith("signature-256") for request in gets for name in request.headers)
    assert gets[0].query == {"eventId": EVENT_ID}
    assert gets[1].query == {"status": "completed", "limit": "5"}
    assert gets[2].query == {}
    assert gets[-1].path == "/events/no%2Fsuch%3Aevent"


async def test_without_a_secret_nothing_is_signed(fake_workspace_backend):
    async with client(fake_workspace_backend, secret=None) as backend:
        await backend.dispatch(EVENT)

    assert "x-flow-signature-256" not in fake_workspace_backend.requests[-1].headers


async def test_a_failing_backend_names_method_path_and_status(signed_backend):
    signed_backend.fail_next(500)
    async with client(signed_backend) as backend:
        with pytest.raises(WorkspaceBackendError) as failure:
            await backend.replay(EVENT_ID)
        signed_backend.fail_next(503)
        with pytest.raises(WorkspaceBackendError) as read_failure:
            await backend.read_run("run-1")

    assert failure.value.message == f"Flow backend POST /events/{ENCODED_EVENT_ID}/replay failed with 500"
    assert failure.value.http_status == 500
    assert http_status_of(failure.value.message) == 500
    assert read_failure.value.message == "Flow backend GET /runs/run-1 failed with 503"
    assert read_failure.value.http_status == 503


async def test_a_wrong_secret_is_refused_with_401_and_the_secret_is_nowhere(signed_backend):
    wrong = "not-the-flow-secret-987654321"
    async with client(signed_backend, secret=wrong) as backend:
        with pytest.raises(WorkspaceBackendError) as failure:
            await backend.dispatch(EVENT)

    assert failure.value.message == "Flow backend POST /events failed with 401"
    assert failure.value.http_status == 401
    assert signed_backend.events == {}
    assert wrong not in f"{failure.value!s} {failure.value!r} {backend!r}"


async def test_an_unreachable_backend_fails_without_an_http_status():
    url = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    async with HttpWorkspaceBackend(url, SECRET, timeout_seconds=5) as backend:
        with pytest.raises(WorkspaceBackendError) as failure:
            await backend.dispatch(EVENT)

    assert failure.value.message.startswith("Flow backend POST /events is unreachable")
    assert failure.value.http_status is None
    assert http_status_of(failure.value.message) is None
    assert SECRET not in f"{failure.value!s} {failure.value!r} {backend!r}"


async def test_a_2xx_answer_that_is_not_json_fails_without_an_http_status(fake_workspace_backend):
    fake_workspace_backend.answer_next_with_text(200, "<html>a proxy page</html>")
    async with client(fake_workspace_backend, secret=None) as backend:
        with pytest.raises(WorkspaceBackendError) as failure:
            await backend.list_runs()

    assert failure.value.message == "Flow backend GET /runs answered 200 with a body that is not a JSON object"
    assert failure.value.http_status is None


async def test_a_backend_that_hangs_fails_after_the_timeout_without_an_http_status(fake_workspace_backend):
    fake_workspace_backend.delay_next(1.0)
    backend = HttpWorkspaceBackend(fake_workspace_backend.url, None, timeout_seconds=0.2)

    with pytest.raises(WorkspaceBackendError) as failure:
        await backend.dispatch(EVENT)

    assert failure.value.message.startswith("Flow backend POST /events did not answer within 0.2s")
    assert failure.value.http_status is None


async def test_a_shared_client_is_used_and_left_open(fake_workspace_backend):
    async with httpx.AsyncClient() as http:
        backend = HttpWorkspaceBackend(fake_workspace_backend.url, None, timeout_seconds=5, client=http)
        await backend.dispatch(EVENT)
        await backend.aclose()
        assert (await backend.read_run("run-1"))["run"]["status"] == "queued"
        assert not http.is_closed


def test_dispatch_record_fields_take_run_ids_from_runs_when_run_ids_are_empty():
    answer = {"status": "accepted", "runIds": [], "matched": 2, "idempotent": False,
              "runs": [{"id": "r-1"}, {"runId": "r-2"}, {"nope": 1}]}

    assert dispatch_record_fields(answer) == {"runIds": ["r-1", "r-2"], "matched": 2, "idempotent": False}
    assert dispatch_record_fields({"status": "duplicate", "runIds": ["r-1"], "matched": "0"}) == {"runIds": ["r-1"]}
