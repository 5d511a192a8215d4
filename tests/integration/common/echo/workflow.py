"""The echo surface's workflow: nothing but temporalio, so the workflow sandbox imports it as it is."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="echo")
async def echo(text: str) -> str:
    return f"{text} (from {activity.info().task_queue})"


@workflow.defn(name="EchoWorkflow")
class EchoWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity("echo", text, start_to_close_timeout=timedelta(seconds=30))
