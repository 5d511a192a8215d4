"""The request's correlation id, carried into the workflows it starts and the activities they run.

The API sets ``capstan.logs.request_id_var`` for each request (its ``x-correlation-id`` / ``X-Request-ID``,
accepted or generated), and every log line carries it. This interceptor puts it in a Temporal header
(``capstan-correlation-id``) of every workflow start, signal, update and query the API sends; the worker
sets it again while the workflow handles that input and passes it on, in the same header, to the
activities, local activities and child workflows the workflow starts, and each activity runs with it:
the log lines of the whole chain carry the id of the request that caused them. Headers are not part of
what a replay compares, so adding them changes no history's commands.

Every client ``capstan.temporal.connect`` makes has it; a worker built on that client uses it too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import temporalio.activity
import temporalio.api.common.v1
import temporalio.client
import temporalio.converter
import temporalio.worker
import temporalio.workflow

from capstan.logs import request_id_var

HEADER = "capstan-correlation-id"
_CONVERTER = temporalio.converter.default().payload_converter
_UNSET = "-"


class _WithHeaders(Protocol):
    headers: Mapping[str, temporalio.api.common.v1.Payload]


def _send(input: _WithHeaders) -> None:
    value = request_id_var.get()
    if value and value != _UNSET:
        input.headers = {**input.headers, HEADER: _CONVERTER.to_payload(value)}


@contextlib.contextmanager
def _received(input: _WithHeaders) -> Iterator[None]:
    payload = input.headers.get(HEADER)
    try:
        value = _CONVERTER.from_payload(payload, str) if payload is not None else None
    except Exception:  # a header another client wrote: the id is only for logs, never a failure
        value = None
    token = request_id_var.set(value) if isinstance(value, str) else None
    try:
        yield
    finally:
        if token is not None:
            request_id_var.reset(token)


class CorrelationInterceptor(temporalio.client.Interceptor, temporalio.worker.Interceptor):
    def intercept_client(self, next: temporalio.client.OutboundInterceptor) -> temporalio.client.OutboundInterceptor:
        return _ClientOutbound(next)

    def intercept_activity(self, next: temporalio.worker.ActivityInboundInterceptor
                           ) -> temporalio.worker.ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(self, input: temporalio.worker.WorkflowInterceptorClassInput
                                   ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _ClientOutbound(temporalio.client.OutboundInterceptor):
    async def start_workflow(self, input: temporalio.client.StartWorkflowInput) -> Any:
        _send(input)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: temporalio.client.SignalWorkflowInput) -> None:
        _send(input)
        await super().signal_workflow(input)

    async def query_workflow(self, input: temporalio.client.QueryWorkflowInput) -> Any:
        _send(input)
        return await super().query_workflow(input)

    async def start_workflow_update(self, input: temporalio.client.StartWorkflowUpdateInput) -> Any:
        _send(input)
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(self, input: temporalio.client.StartWorkflowUpdateWithStartInput
                                               ) -> Any:
        _send(input.start_workflow_input)
        _send(input.update_workflow_input)
        return await super().start_update_with_start_workflow(input)


class _ActivityInbound(temporalio.worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        with _received(input):
            return await super().execute_activity(input)


class _WorkflowInbound(temporalio.worker.WorkflowInboundInterceptor):
    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound))

    async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
        with _received(input):
            return await super().execute_workflow(input)

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        with _received(input):
            return await super().handle_signal(input)

    async def handle_query(self, input: temporalio.worker.HandleQueryInput) -> Any:
        with _received(input):
            return await super().handle_query(input)

    def handle_update_validator(self, input: temporalio.worker.HandleUpdateInput) -> None:
        with _received(input):
            super().handle_update_validator(input)

    async def handle_update_handler(self, input: temporalio.worker.HandleUpdateInput) -> Any:
        with _received(input):
            return await super().handle_update_handler(input)


class _WorkflowOutbound(temporalio.worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: temporalio.worker.StartActivityInput) -> temporalio.workflow.ActivityHandle:
        _send(input)
        return super().start_activity(input)

    def start_local_activity(self, input: temporalio.worker.StartLocalActivityInput
                             ) -> temporalio.workflow.ActivityHandle:
        _send(input)
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: temporalio.worker.StartChildWorkflowInput) -> Any:
        _send(input)
        return await super().start_child_workflow(input)
