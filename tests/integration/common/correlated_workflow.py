"""A workflow and activity that report the correlation id they run under (test_correlation.py beside it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from capstan.logs import request_id_var


@activity.defn(name="correlated_echo")
async def correlated_echo(text: str) -> str:
    activity.logger.info("echoing %s", text)
    return f"{text}:{request_id_var.get()}"


@workflow.defn(name="CorrelatedEcho")
class CorrelatedEcho:
    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self, text: str) -> str:
        first = await workflow.execute_activity("correlated_echo", text, start_to_close_timeout=timedelta(seconds=30),
                                                result_type=str)
        await workflow.wait_condition(lambda: self._done)
        return first

    @workflow.update
    async def finish(self, text: str) -> str:
        self._done = True
        return await workflow.execute_local_activity("correlated_echo", text,
                                                     start_to_close_timeout=timedelta(seconds=30), result_type=str)
