"""1. Actions: POST /protocols/{id}/actions/pause|resume from --clients HTTP clients (one run
each), beside the same Temporal Updates sent directly. Target: API/direct >= 0.8."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bench.measure import OK, REQUEST_TIMEOUT, Outcome
from bench.repos import make_bare_remote
from bench.session import BenchSession
from bench.stack import log

ACTIONS_TARGET = 0.8


async def measure_actions(bench: BenchSession) -> dict[str, Any]:
    from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError

    from models.protocols.workflow_io import Update, UpdateErrorType, WorkflowName, protocol_run_workflow_id

    n = bench.args.clients
    remote = make_bare_remote(bench.work_dir, "actions", {"README.md": "bench\n"})
    project = await bench.create_project("bench-actions", remote)
    await bench.wait_project_setup(project["id"])
    runs = await bench.create_runs(project["id"], f"bench-actions-{project['id']}", n)
    run_ids = [r["id"] for r in runs]
    log(f"actions: {n} protocol runs created (ids {min(run_ids)}..{max(run_ids)})")
    handles = [bench.temporal.get_workflow_handle(protocol_run_workflow_id(r)) for r in run_ids]
    starts = [bench.start_kwargs(project, r) for r in runs]
    next_action = [Update.PAUSE] * n

    def flip(i: int) -> None:
        next_action[i] = Update.RESUME if next_action[i] == Update.PAUSE else Update.PAUSE

    # Warm-up: one action per run through each path (pause via the API, resume directly).
    await asyncio.gather(*(bench.post(f"/protocols/{r}/actions/pause") for r in run_ids))
    await asyncio.gather(*(h.execute_update(Update.RESUME, result_type=dict,
                                            rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT)) for h in handles))
    pool = bench.client_pool()

    async def via_api(i: int) -> Outcome:
        response = await pool[i].post(f"/protocols/{run_ids[i]}/actions/{next_action[i]}")
        if response.status_code == 200:
            flip(i)
            return OK
        if response.status_code == 409:
            flip(i)  # the run was already in the state this action leads to
            return Outcome("conflict", "HTTP 409")
        return Outcome("error", f"HTTP {response.status_code}: {response.text[:200]}")

    async def temporal_update(i: int, send: Callable[[], Awaitable[Any]]) -> Outcome:
        try:
            await send()
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            while cause is not None and not isinstance(cause, ApplicationError):
                cause = cause.cause
            if isinstance(cause, ApplicationError) and cause.type == UpdateErrorType.CONFLICT:
                flip(i)
                return Outcome("conflict", "Conflict")
            return Outcome("error", f"WorkflowUpdateFailedError: {exc.cause}")
        flip(i)
        return OK

    async def direct(i: int) -> Outcome:
        return await temporal_update(i, lambda: handles[i].execute_update(
            next_action[i], result_type=dict, rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT)))

    async def with_start(i: int) -> Outcome:
        """What the API sends: update-with-start, the whole workflow input attached."""
        wf_input, kwargs = starts[i]
        operation = WithStartWorkflowOperation(WorkflowName.PROTOCOL_RUN, wf_input, result_type=dict, **kwargs)
        return await temporal_update(i, lambda: bench.temporal.execute_update_with_start_workflow(
            next_action[i], start_workflow_operation=operation, result_type=dict,
            rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT)))

    async def ops(path: str) -> Callable[[int], Awaitable[Outcome]]:
        await bench.drain(run_ids, 30)  # every run idle and healthy before a phase
        return {"api": via_api, "direct": direct, "with_start": with_start}[path]

    try:
        phases = await bench.run_paths("actions", ops)
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    return bench.summarize(phases, ACTIONS_TARGET)
