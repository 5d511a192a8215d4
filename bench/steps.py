"""4. Steps: the step-throughput scenario of issue 9, as the original orchestrator was measured.

N closed-loop clients, each repeatedly: create a run with status ``planned`` through the API,
create one step in it, ``POST /steps/{id}/actions/run``, then poll ``GET /protocols/{id}/steps``
until that step leaves ``pending``/``running``. The step has no step file in the repository, so
the run fails it quickly; the request stream is the point. One iteration is one step; a phase
per concurrency in ``--steps-clients``, each ``--seconds`` long.

Reported per concurrency: steps/s, p50/p95/p99 of the whole iteration, CPU per step by process,
and the Temporal history of one run from the phase (its events by type).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from bench.measure import OK, REQUEST_TIMEOUT, Outcome, PhaseResult, closed_loop, combine
from bench.repos import make_bare_remote
from bench.session import BenchSession
from bench.stack import log

STEPS_CLIENTS = (1, 8, 32)
POLL_INTERVAL = 0.01          # seconds between two GET /protocols/{id}/steps
STEP_WAIT_TIMEOUT = 60.0      # seconds one iteration may take in all
UNFINISHED = ("pending", "running")
#: Issue 9's targets for this scenario (1.5x the original orchestrator on a 2-core machine).
STEPS_PER_SECOND_TARGETS = {8: 24.0, 32: 18.0}
P50_MS_TARGETS = {1: 80.0}
#: History event types counted for one run (plus the total).
HISTORY_COUNTS = {
    "workflow_tasks_scheduled": "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
    "activity_tasks_scheduled": "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED",
    "markers_recorded": "EVENT_TYPE_MARKER_RECORDED",  # local activities
    "updates_accepted": "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "signals_received": "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
}


def parse_clients(text: str) -> list[int]:
    """``"1,8,32"`` → ``[1, 8, 32]``; ValueError on anything else."""
    problem = ValueError("a comma-separated list of client counts between 1 and 512")
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise problem from None
    if not values or any(not 1 <= v <= 512 for v in values):
        raise problem
    return values


async def run_history(bench: BenchSession, run_id: int) -> dict[str, Any]:
    """The run's Temporal history, counted by event type (and activity type)."""
    from temporalio.api.enums.v1 import EventType

    from models.protocols.workflow_io import protocol_run_workflow_id

    await bench.drain([run_id], 30)  # the run's last writes are in its history
    handle = bench.temporal.get_workflow_handle(protocol_run_workflow_id(run_id))
    history = await handle.fetch_history(rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT))
    types = Counter(EventType.Name(e.event_type) for e in history.events)
    activities = Counter(e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                         if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    return {"protocol_run_id": run_id, "events": len(history.events),
            **{key: types.get(name, 0) for key, name in HISTORY_COUNTS.items()},
            "activity_types": dict(activities),
            "event_types": {name.removeprefix("EVENT_TYPE_"): n for name, n in sorted(types.items())}}


async def measure_steps(bench: BenchSession) -> dict[str, Any]:
    remote = make_bare_remote(bench.work_dir, "steps", {"README.md": "bench\n"})
    project = await bench.create_project("bench-steps", remote)
    project_id = project["id"]
    await bench.wait_project_setup(project_id)
    phases = []
    for clients in bench.args.steps_clients:
        phases.append(await steps_phase(bench, project_id, clients))
    targets = []
    for phase in phases:
        c = phase["clients"]
        if c in STEPS_PER_SECOND_TARGETS:
            goal = STEPS_PER_SECOND_TARGETS[c]
            targets.append({"clients": c, "figure": "steps/s", "target": f">= {goal:g}",
                            "value": phase["ok_per_second"], "met": phase["ok_per_second"] >= goal})
        if c in P50_MS_TARGETS and phase["p50_ms"] is not None:
            goal = P50_MS_TARGETS[c]
            targets.append({"clients": c, "figure": "p50 ms", "target": f"<= {goal:g}",
                            "value": phase["p50_ms"], "met": phase["p50_ms"] <= goal})
    return {"seconds_per_phase": bench.args.seconds, "phases": phases, "targets": targets}


async def steps_phase(bench: BenchSession, project_id: int, clients: int) -> dict[str, Any]:
    pool = bench.client_pool(clients)
    run_ids: list[int] = []
    finished: list[int] = []
    final_statuses: Counter[str] = Counter()
    iterations = [0] * clients

    async def iteration(i: int) -> Outcome:
        http = pool[i]
        iterations[i] += 1
        name = f"bench-steps-{project_id}-c{clients}-{i}-{iterations[i]}"
        response = await http.post(f"/projects/{project_id}/protocols",
                                   json={"protocol_name": name, "status": "planned", "description": "bench step"})
        if response.status_code != 200:
            return Outcome("error", f"create run: HTTP {response.status_code}: {response.text[:200]}")
        run_id = response.json()["id"]
        run_ids.append(run_id)
        response = await http.post(f"/protocols/{run_id}/steps", json={"step_index": 0, "step_name": "bench-step"})
        if response.status_code != 200:
            return Outcome("error", f"create step: HTTP {response.status_code}: {response.text[:200]}")
        step_id = response.json()["id"]
        response = await http.post(f"/steps/{step_id}/actions/run")
        if response.status_code == 409:
            return Outcome("conflict", "run: HTTP 409")
        if response.status_code != 200:
            return Outcome("error", f"run: HTTP {response.status_code}: {response.text[:200]}")
        while True:
            response = await http.get(f"/protocols/{run_id}/steps")
            if response.status_code != 200:
                return Outcome("error", f"list steps: HTTP {response.status_code}: {response.text[:200]}")
            status = next((s["status"] for s in response.json() if s["id"] == step_id), None)
            if status is None:
                return Outcome("error", f"list steps: step {step_id} is missing")
            if status not in UNFINISHED:
                final_statuses[status] += 1
                finished.append(run_id)
                return OK
            await asyncio.sleep(POLL_INTERVAL)

    async def bounded(i: int) -> Outcome:
        try:
            return await asyncio.wait_for(iteration(i), STEP_WAIT_TIMEOUT)
        except TimeoutError:
            return Outcome("error", f"TimeoutError: the step did not leave pending/running within "
                                    f"{STEP_WAIT_TIMEOUT:.0f}s")

    log(f"steps: {clients} client(s) ...")
    try:
        result = await closed_loop(PhaseResult("steps", "api", 1, clients), bench.args.seconds, bench.args.requests,
                                   bounded, bench.sampler)
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    out = {"clients": clients, **combine([result]), "final_step_statuses": dict(final_statuses),
           "error_samples": result.error_samples, "timed_out": result.timed_out}
    out.pop("rounds", None)
    log(f"  c={clients}: {out['ok_per_second']:.1f} steps/s, p50 {out['p50_ms'] or 0:.0f} ms, "
        f"p95 {out['p95_ms'] or 0:.0f} ms, {out['errors']} errors, final statuses {dict(final_statuses)}")
    if finished:
        try:
            out["history"] = await run_history(bench, finished[-1])
        except Exception as exc:  # noqa: BLE001 - the figures above stand without it
            out["history"] = {"failed": f"{type(exc).__name__}: {exc}"[:300]}
    # The next phase should not pay for this one's trailing work.
    started = time.monotonic()
    await bench.drain(run_ids, 60)
    out["drain_seconds_after"] = round(time.monotonic() - started, 2)
    return out
