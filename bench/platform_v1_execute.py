"""``--only execute`` of ``bench/platform_v1.py``: what ``POST /api/v1/execute/{agent}.{reasoner}`` adds to an
agent's own time.

A fake agent node (``tests/fakes/agent_node.py``, its own process so its answers do not wait on this process's
load generator) answers ``POST /reasoners/echo`` at once. The same request is sent to it directly (the agent's
own time as a caller sees it: HTTP on loopback, no Capstan), then through the API: ``mode=sync`` (the API starts
the execution's workflow, a worker calls the agent, the API answers the output: 200 ``succeeded``) and
``mode=async`` (202 once the workflow has the execution; the run then completes, timed as the drain until
Postgres records every execution ``succeeded``). One client, then ``--clients``; each phase is ``--seconds`` or
``--executes`` requests, whichever ends first. Overhead = p50 (p95) of a sync execute minus p50 (p95) of the
direct call. Target: sync overhead p50 ≤ 30 ms.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from bench.measure import OK, Outcome, PhaseResult, closed_loop, combine
from bench.platform_v1_measure import PlatformApi, raise_phase_errors, tenant_headers
from bench.stack import BenchError, CpuSampler, fmt, log

AGENT_ID = "bench-agent"
REASONER = "echo"
EXECUTE = f"/api/v1/execute/{AGENT_ID}.{REASONER}"
EXECUTIONS = "/api/v1/workflow-executions"
SYNC_OVERHEAD_TARGET_P50_MS = 30.0
DRAIN_TIMEOUT_SECONDS = 300.0
REPO = Path(__file__).resolve().parent.parent
#: The fake node's process: serves on a free loopback port, prints its URL, runs until its stdin closes.
NODE_PROGRAM = ("import sys; from tests.fakes.agent_node import FakeAgentNode; node = FakeAgentNode().start(); "
                "print(node.url, flush=True); sys.stdin.read(); node.stop()")


class AgentNodeProcess:
    def __init__(self, python: Path) -> None:
        self.process = subprocess.Popen([str(python), "-c", NODE_PROGRAM], cwd=REPO, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.url = (self.process.stdout.readline() if self.process.stdout else "").strip()
        if not self.url.startswith("http"):
            self.stop()
            raise BenchError("the fake agent node did not start")

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def succeeded_total(http: Any, status: str = "succeeded") -> int:
    response = await http.get(EXECUTIONS, params={"status": status, "limit": 1})
    if response.status_code != 200:
        raise BenchError(f"GET {EXECUTIONS} answered {response.status_code}: {response.text[:300]}")
    return response.json()["page"]["total"]


async def drained(http: Any, expected: int) -> float:
    """Seconds until ``expected`` executions are ``succeeded`` (none failed)."""
    started = time.monotonic()
    while (done := await succeeded_total(http)) < expected:
        if await succeeded_total(http, "failed"):
            raise BenchError("an execution failed")
        if time.monotonic() - started > DRAIN_TIMEOUT_SECONDS:
            raise BenchError(f"{done} of {expected} executions succeeded after {DRAIN_TIMEOUT_SECONDS:.0f}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def history_spans(temporal_address: str, workflow_id: str) -> dict[str, Any]:
    """Where one execution's time went, from its workflow's history (Temporal's event times): the waits of its
    workflow tasks and activities in the task queue, their runs, and the run from first to last event."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client

    client = await Client.connect(temporal_address)
    events = (await client.get_workflow_handle(workflow_id).fetch_history()).events
    at = {e.event_id: e.event_time.ToDatetime() for e in events}
    ms = lambda a, b: round((at[b] - at[a]).total_seconds() * 1000, 1)  # noqa: E731
    scheduled: dict[int, str] = {}
    spans: dict[str, Any] = {"events": len(events), "first_to_last_ms": ms(events[0].event_id, events[-1].event_id),
                             "workflow_tasks": 0, "workflow_task_wait_ms": 0.0, "workflow_task_run_ms": 0.0,
                             "activities": []}
    for e in events:
        kind = EventType.Name(e.event_type)
        if kind == "EVENT_TYPE_WORKFLOW_TASK_STARTED":
            spans["workflow_tasks"] += 1
            spans["workflow_task_wait_ms"] += ms(e.workflow_task_started_event_attributes.scheduled_event_id,
                                                 e.event_id)
        elif kind == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED":
            spans["workflow_task_run_ms"] += ms(e.workflow_task_completed_event_attributes.started_event_id,
                                                e.event_id)
        elif kind == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            scheduled[e.event_id] = e.activity_task_scheduled_event_attributes.activity_type.name
        elif kind == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED":
            done = e.activity_task_completed_event_attributes
            spans["activities"].append({"name": scheduled.get(done.scheduled_event_id, "?"),
                                        "wait_ms": ms(done.scheduled_event_id, done.started_event_id),
                                        "run_ms": ms(done.started_event_id, e.event_id)})
    spans["workflow_task_wait_ms"] = round(spans["workflow_task_wait_ms"], 1)
    spans["workflow_task_run_ms"] = round(spans["workflow_task_run_ms"], 1)
    return spans


async def heartbeat(http: Any) -> None:
    beat = await http.post(f"/api/v1/agent-runtime/agents/{AGENT_ID}/heartbeat", json={},
                           headers={"Idempotency-Key": uuid.uuid4().hex})
    if beat.status_code >= 300:
        raise BenchError(f"the agent's heartbeat answered {beat.status_code}: {beat.text[:300]}")


async def measure_execute(api: PlatformApi, workspace: str, args: Any, sampler: CpuSampler,
                          temporal_address: str) -> dict[str, Any]:
    node = AgentNodeProcess(args.python)
    headers = tenant_headers(api, workspace)
    pool = api.pool(args.clients, headers)
    direct = api.pool(args.clients, {"x-workspace-id": workspace})
    try:
        registered = await pool[0].put(f"/api/v1/agent-runtime/agents/{AGENT_ID}", json={
            "baseUrl": node.url, "version": "1.0.0", "reasoners": [{"id": REASONER}]},
            headers={"Idempotency-Key": uuid.uuid4().hex})
        if registered.status_code not in (200, 201):
            raise BenchError(f"registering the agent answered {registered.status_code}: {registered.text[:300]}")
        body = json.dumps({"question": "ping", "words": ["a"] * 8}).encode()

        async def call_direct(i: int) -> Outcome:
            response = await direct[i].post(f"{node.url}/reasoners/{REASONER}", content=body, headers={
                "content-type": "application/json", "x-execution-id": f"wex_{uuid.uuid4().hex}"})
            return OK if response.status_code == 200 else Outcome("error", f"HTTP {response.status_code}")

        def execute(mode: str, status: int) -> Any:
            payload = json.dumps({"input": json.loads(body), "mode": mode}).encode()

            async def op(i: int) -> Outcome:
                response = await pool[i].post(EXECUTE, content=payload, headers={
                    "content-type": "application/json", "Idempotency-Key": uuid.uuid4().hex})
                if response.status_code != status or (mode == "sync" and response.json()["status"] != "succeeded"):
                    return Outcome("error", f"HTTP {response.status_code}: {response.text[:200]}")
                return OK
            return op

        for client in pool:  # warm-up: connections, the workflow's first run on the worker, caches
            for _ in range(3):
                await call_direct(pool.index(client))
                await execute("sync", 200)(pool.index(client))
        expected = await succeeded_total(pool[0])
        out: dict[str, Any] = {"clients": args.clients, "seconds": args.seconds, "executes": args.executes,
                               "target_overhead_p50_ms": SYNC_OVERHEAD_TARGET_P50_MS}
        for label, clients in (("sequential", 1), ("concurrent", args.clients)):
            phases: dict[str, Any] = {}
            for kind, op in (("direct", call_direct), ("sync", execute("sync", 200)),
                             ("async", execute("async", 202))):
                await heartbeat(pool[0])  # an agent silent for CAPSTAN_AGENT_STALE_SECONDS is stale (503)
                phase = await closed_loop(PhaseResult(kind, label, 1, clients), args.seconds, args.executes, op,
                                          sampler)
                raise_phase_errors(f"{kind} execute ({label})", phase)
                phases[kind] = combine([phase])
                if kind != "direct":
                    expected += phase.ok
                if kind == "async":
                    drain = await drained(pool[0], expected)
                    phases[kind]["drain_seconds"] = round(drain, 2)
                    phases[kind]["completed_per_second"] = round(phase.ok / (phase.wall_seconds + drain), 1)
            d, s = phases["direct"], phases["sync"]
            phases["overhead"] = {q: round(s[q] - d[q], 1) for q in ("p50_ms", "p95_ms")}
            out[label] = phases
            log(f"execute {label}: direct p50/p95 {d['p50_ms']}/{d['p95_ms']} ms, sync {s['p50_ms']}/{s['p95_ms']} ms "
                f"({s['ok_per_second']}/s), async 202 {phases['async']['p50_ms']}/{phases['async']['p95_ms']} ms "
                f"({phases['async']['ok_per_second']}/s accepted, {phases['async']['completed_per_second']}/s done)")
        last = await pool[0].post(EXECUTE, json={"input": {"question": "where does the time go"}, "mode": "sync"},
                                  headers={"Idempotency-Key": uuid.uuid4().hex})
        if last.status_code != 200:
            raise BenchError(f"execute answered {last.status_code}: {last.text[:300]}")
        out["one_execution"] = await history_spans(temporal_address, last.json()["temporal"]["workflowId"])
        out["met"] = out["sequential"]["overhead"]["p50_ms"] <= SYNC_OVERHEAD_TARGET_P50_MS
        return out
    finally:
        await asyncio.gather(*(c.aclose() for c in [*pool, *direct]))
        node.stop()


def render_execute(data: dict[str, Any]) -> list[str]:
    lines = [f"  {'':<34}{'clients':>8}{'per s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}  CPU ms each"]
    titles = {"direct": "the agent, called directly", "sync": "execute mode=sync (200)",
              "async": "execute mode=async (202)"}
    for label in ("sequential", "concurrent"):
        phases = data[label]
        clients = 1 if label == "sequential" else data["clients"]
        for kind, title in titles.items():
            p = phases[kind]
            cpu = ", ".join(f"{k} {v:.2f}" for k, v in (p.get("cpu_ms_per_ok") or {}).items() if v >= 0.01)
            lines.append(f"  {title:<34}{clients:>8}{p['ok_per_second']:>8.1f}{fmt(p['p50_ms'], '.1f'):>8}"
                         f"{fmt(p['p95_ms'], '.1f'):>8}{fmt(p['p99_ms'], '.1f'):>8}  {cpu}")
        a, o = phases["async"], phases["overhead"]
        lines.append(f"  {'async executions completed':<34}{clients:>8}{a['completed_per_second']:>8.1f}  "
                     f"(the last {a['drain_seconds']:.2f}s after the last 202)")
        lines.append(f"  {'sync overhead over the agent':<34}{clients:>8}{'':>8}{fmt(o['p50_ms'], '.1f'):>8}"
                     f"{fmt(o['p95_ms'], '.1f'):>8}")
    one = data.get("one_execution")
    if one:
        lines.append(f"  one sync execution's workflow ({one['events']} history events, "
                     f"{one['first_to_last_ms']:.0f} ms first to last): {one['workflow_tasks']} workflow tasks "
                     f"waited {one['workflow_task_wait_ms']:.0f} ms in the queue and ran "
                     f"{one['workflow_task_run_ms']:.0f} ms")
        lines += [f"    activity {a['name']}: waited {a['wait_ms']:.0f} ms, ran {a['run_ms']:.0f} ms"
                  for a in one["activities"]]
    verdict = "met" if data["met"] else "NOT met"
    lines.append(f"  target: sync overhead p50 <= {data['target_overhead_p50_ms']:g} ms (1 client): {verdict}")
    return lines
