"""The request's correlation id reaches the workflow it starts, the activities that workflow runs (and
their log lines), and the workflow's update handlers, through a Temporal header."""

from __future__ import annotations

import asyncio
import logging
import uuid

from temporalio.worker import Worker

from capstan.logs import RequestIdFilter, request_id_var
from capstan.settings import TemporalSettings
from capstan.temporal import connect
from tests.integration.common.correlated_workflow import CorrelatedEcho, correlated_echo
from worker.main import SANDBOX


async def test_the_correlation_id_follows_the_request_into_workflows_and_activities(stack, caplog):
    client = await connect(TemporalSettings(address=stack.temporal_address))
    queue = f"correlation-{uuid.uuid4().hex[:8]}"
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    async with Worker(client, task_queue=queue, workflows=[CorrelatedEcho], activities=[correlated_echo],
                      workflow_runner=SANDBOX):
        token = request_id_var.set("req-start-1")
        try:
            handle = await client.start_workflow(CorrelatedEcho.run, "a", id=f"{queue}-wf", task_queue=queue)
        finally:
            request_id_var.reset(token)
        token = request_id_var.set("req-update-2")
        try:
            updated = await asyncio.wait_for(handle.execute_update(CorrelatedEcho.finish, "b"), 30)
        finally:
            request_id_var.reset(token)
        started = await asyncio.wait_for(handle.result(), 30)

    assert started == "a:req-start-1"
    assert updated == "b:req-update-2"
    echoes = [(record.getMessage().split(" (")[0], record.request_id) for record in caplog.records
              if record.getMessage().startswith("echoing")]
    assert ("echoing a", "req-start-1") in echoes and ("echoing b", "req-update-2") in echoes
    assert request_id_var.get() == "-"  # nothing leaked into the caller's context
