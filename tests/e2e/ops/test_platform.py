"""Health, metrics, request ids and bearer auth."""

from __future__ import annotations

from capstan.settings import ApiSettings, DatabaseSettings, Settings
from capstan.temporal import surface_task_queues
from tests.e2e.protocols.test_queues import eventually


async def test_health_reports_each_component(api, worker, settings):
    async def read() -> dict:
        response = await api.get("/health")
        assert response.status_code == 200
        return response.json()

    # A worker's pollers reach Temporal a moment after it starts.
    body = await eventually(read, lambda health: health["components"]["workers"]["status"] == "ok")
    workers = body["components"].pop("workers")
    assert workers["detail"].endswith(f" pollers on {len(surface_task_queues(settings.temporal))} queues")
    assert body == {"status": "ok", "components": {
        "database": {"status": "ok", "detail": None}, "temporal": {"status": "ok", "detail": None},
        "sandbox": {"status": "ok", "detail": "bubblewrap (network on)"}}}
    text = await api.get("/healthz")
    assert text.status_code == 200 and text.text == "ok"


async def test_health_is_degraded_not_failing_when_the_database_is_down(settings, api_factory):
    broken = Settings(**{**vars(settings), "database": DatabaseSettings(url="postgresql://postgres@127.0.0.1:1/x")})
    async with api_factory(broken) as api:
        response = await api.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["database"]["status"] == "degraded"
    assert body["components"]["temporal"]["status"] == "ok"


async def test_metrics_count_requests_by_route_template(api):
    await api.get("/projects/424242")
    metrics = await api.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'capstan_http_requests_total{method="GET",route="/projects/{project_id}",status="404"}' in metrics.text
    assert "capstan_http_request_duration_seconds_bucket" in metrics.text


async def test_request_id_is_echoed_or_generated(api):
    given = await api.get("/healthz", headers={"X-Request-ID": "req-abc-123"})
    assert given.headers["x-request-id"] == "req-abc-123"
    correlated = await api.get("/healthz", headers={"x-correlation-id": "corr-9"})
    assert correlated.headers["x-correlation-id"] == "corr-9"
    generated = await api.get("/projects/77777")
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.json()["request_id"] == generated.headers["x-request-id"]
    # An id that could forge log lines is replaced.
    forged = await api.get("/healthz", headers={"X-Request-ID": "a b\tc"})
    assert forged.headers["x-request-id"] != "a b\tc"


async def test_bearer_token_guards_everything_but_health(settings, api_factory, tmp_path):
    secured = Settings(**{**vars(settings), "api": ApiSettings(api_token="t0ken")})
    async with api_factory(secured) as api:
        assert (await api.get("/projects")).status_code == 401
        assert (await api.get("/projects", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await api.get("/projects", headers={"Authorization": "Basic dDp0"})).status_code == 401
        body = {"name": "x", "git_url": str(tmp_path)}
        assert (await api.post("/projects", json=body)).status_code == 401
        assert (await api.get("/projects", headers={"Authorization": "Bearer t0ken"})).json() == []
        assert (await api.get("/projects", headers={"Authorization": "bearer t0ken"})).status_code == 200
        for path in ("/health", "/healthz", "/metrics"):
            assert (await api.get(path)).status_code == 200
        denied = await api.get("/events")
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
        assert "t0ken" not in denied.text


async def test_openapi_documents_every_route(api):
    spec = (await api.get("/openapi.json")).json()
    for path in ("/projects", "/projects/{project_id}", "/projects/{project_id}/protocols",
                 "/protocols/{protocol_run_id}", "/protocols/{protocol_run_id}/events", "/events", "/health"):
        assert path in spec["paths"], path
        for operation in spec["paths"][path].values():
            assert operation.get("summary"), (path, operation)


async def test_openapi_documents_client_errors_as_400_in_the_error_shape(api):
    spec = (await api.get("/openapi.json")).json()
    create = spec["paths"]["/projects"]["post"]["responses"]
    assert "422" not in create and create["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse")
    assert set(spec["components"]["schemas"]["ErrorResponse"]["required"]) == {"error", "detail", "request_id"}
    # FastAPI's validation 422 is Capstan's 400; a 422 is only the platform API's reused Idempotency-Key.
    assert all("idempotency_key_reused" in op["responses"]["422"]["description"]
               for path, ops in spec["paths"].items() for op in ops.values() if "422" in op.get("responses", {}))


async def test_engine_status_without_credentials_names_no_worker_host_or_pid(settings, api_factory, worker):
    """The engine status is open (discovery), so it counts the workers polling each queue but names none of
    them: a poller's identity is ``capstan-worker@<host>:<pid>``. ``GET /queues`` (bearer token) names them."""
    secured = Settings(**{**vars(settings), "api": ApiSettings(api_token="t0ken")})
    async with api_factory(secured) as api:
        async def queues() -> list[dict]:
            answer = await api.get("/queues", headers={"Authorization": "Bearer t0ken"})
            assert answer.status_code == 200, answer.text
            return answer.json()

        polled = await eventually(queues, lambda found: all(q["workflow_pollers"] and q["activity_pollers"]
                                                            for q in found))
        identities = {poller["identity"] for queue in polled for poller in queue["pollers"]}
        assert identities and all(identity.startswith("capstan-worker@") for identity in identities)
        status = await api.get("/.well-known/engine-status")
    assert status.status_code == 200, status.text
    body = status.json()
    texts = [body["engine"], body["namespace"], body["serverVersion"] or "",
             *(text for queue in body["taskQueues"] for text in queue.values() if isinstance(text, str))]
    assert "capstan-worker@" not in status.text
    for identity in identities:
        host, pid = identity.removeprefix("capstan-worker@").rsplit(":", 1)
        assert not [text for text in texts if host in text or pid in text], (identity, texts)
    assert all(q["workflow_pollers"] and q["activity_pollers"] for q in body["taskQueues"])
