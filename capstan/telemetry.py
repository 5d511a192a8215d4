"""OpenTelemetry tracing: one trace from an HTTP request through its workflow and activities.

Off by default. ``CAPSTAN_TRACING=console`` prints finished spans; any other
exporter can be plugged in by code through ``tracer_provider``. Temporal's
``TracingInterceptor`` carries the trace context from the API's client calls
into workflows and activities on any worker.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor

from capstan.settings import TelemetrySettings

TRACER_NAME = "capstan"


def tracer_provider(settings: TelemetrySettings, process: str,
                    exporter: SpanExporter | None = None) -> TracerProvider | None:
    """A provider for this process, or None when tracing is off and no exporter is given."""
    if exporter is None and settings.tracing == "console":
        exporter = ConsoleSpanExporter()
    if exporter is None:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": f"capstan-{process}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def temporal_interceptors(provider: TracerProvider | None) -> list:
    if provider is None:
        return []
    return [TracingInterceptor(provider.get_tracer(TRACER_NAME))]


def request_tracer(provider: TracerProvider | None) -> trace.Tracer | None:
    return provider.get_tracer(TRACER_NAME) if provider else None
