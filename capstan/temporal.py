"""The Temporal client of a process: connect with retry, pydantic-aware payloads."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from enum import StrEnum

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from capstan.correlation import CorrelationInterceptor
from capstan.settings import TemporalSettings
from models.common.search_attributes import CapstanSearchAttribute

log = logging.getLogger(__name__)


class WorkerSurfaceName(StrEnum):
    """The worker surfaces, each with its own task queue (``surface_task_queue``). ``worker.registry``
    registers one ``WorkerSurface`` per name (a test holds the two together); the API starts a
    surface's workflows on its queue and lists every queue."""

    PROTOCOLS = "protocols"
    MAINTENANCE = "maintenance"
    TASKS = "tasks"
    PLATFORM_V1 = "platform_v1"


def surface_task_queue(settings: TemporalSettings, surface: WorkerSurfaceName | str) -> str:
    """The task queue of one worker surface: ``{CAPSTAN_TEMPORAL_TASK_QUEUE}-{surface}``, e.g. ``capstan-protocols``."""
    return f"{settings.task_queue}-{surface}"


def surface_task_queues(settings: TemporalSettings) -> list[str]:
    """The task queue of every worker surface."""
    return [surface_task_queue(settings, surface) for surface in WorkerSurfaceName]


class TemporalUnavailable(RuntimeError):
    """Temporal did not answer within the connect timeout."""


async def connect(settings: TemporalSettings, runtime: Runtime | None = None,
                  interceptors: Sequence[Interceptor] = ()) -> Client:
    """Connect, retrying until ``connect_timeout_seconds``: in a fresh stack Temporal may
    still be starting when the API or a worker comes up. Every client carries the request's
    correlation id into Temporal (``capstan.correlation``), before ``interceptors``."""
    interceptors = [CorrelationInterceptor(), *interceptors]
    deadline = time.monotonic() + settings.connect_timeout_seconds
    delay = 0.2
    while True:
        try:
            return await Client.connect(
                settings.address, namespace=settings.namespace,
                data_converter=pydantic_data_converter, runtime=runtime, interceptors=interceptors,
            )
        except Exception as exc:  # the SDK raises RuntimeError for every transport failure
            if time.monotonic() + delay > deadline:
                raise TemporalUnavailable(
                    f"cannot reach Temporal at {settings.address} (namespace {settings.namespace!r}): {exc}"
                ) from exc
            log.info("temporal not reachable yet at %s, retrying", settings.address)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


_KINDS = {"Int": IndexedValueType.INDEXED_VALUE_TYPE_INT, "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}


async def ensure_search_attributes(client: Client) -> None:
    """Register Capstan's search attributes on a real server (the dev server gets them as flags)."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace))
    missing = {a.attribute_name: _KINDS[a.kind] for a in CapstanSearchAttribute
               if a.attribute_name not in existing.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing))


def workflow_ui_url(ui_base: str, namespace: str, workflow_id: str, run_id: str | None = None) -> str:
    url = f"{ui_base.rstrip('/')}/namespaces/{namespace}/workflows/{workflow_id}"
    return f"{url}/{run_id}" if run_id else url
