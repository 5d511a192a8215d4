"""One trace runs from an HTTP request through the workflow it starts to the activities."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.app import create_app
from capstan.telemetry import temporal_interceptors
from capstan.temporal import connect
from models.protocols.workflow_io import project_setup_workflow_id
from tests.support import make_git_repo, workflow_result
from worker.main import WorkerResources, serve_surfaces


async def test_a_request_and_its_workflow_share_one_trace(settings, tmp_path):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = await connect(settings.temporal, interceptors=temporal_interceptors(provider))
    resources = WorkerResources(settings)
    app = create_app(settings, temporal_client=client, tracing=provider)
    async with serve_surfaces(client, settings, resources), app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
            project = (await api.post("/projects", json={"name": "traced",
                                                         "git_url": str(make_git_repo(tmp_path / "r"))})).json()
            await workflow_result(client, project_setup_workflow_id(project["id"]))
    await resources.close()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    request = spans["POST /projects"]
    assert request.attributes["http.route"] == "/projects" and request.attributes["http.response.status_code"] == 200
    for name in ("StartWorkflow:ProjectSetupWorkflow", "RunWorkflow:ProjectSetupWorkflow",
                 "RunActivity:fetch_repository", "RunActivity:record_run_changes"):
        assert name in spans, sorted(spans)
        assert spans[name].context.trace_id == request.context.trace_id, name
