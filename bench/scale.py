#!/usr/bin/env python3
"""Capstan at scale: list latency over a large history, and memory with many open runs.

1. lists   The stack's Postgres is seeded (not measured) with --runs protocol runs, their steps and
           --events events over --projects projects, one "big" project holding --big-share of them.
           Then --list-clients keep-alive clients call each list route for --seconds: events of the
           big project (first page and deep), one run's events, the big project's runs (first page
           and deep), events across projects. Prints req/s, p50/p95/p99 and the scan lines of
           ``EXPLAIN (ANALYZE, BUFFERS)`` of the SQL each route runs. Target: p99 < 50 ms.
2. memory  --open-runs runs are created through the API (each starts its workflow, which waits).
           RSS (VmRSS) per process role with all of them idle, and the peak while all of them take
           the ``pause`` action from --action-clients concurrent clients.

It starts its own stack (``python -m capstan dev`` on free loopback ports, a temporary data dir)
and stops it at the end.

    make bench-scale
    make bench-scale ARGS="--events 20000 --runs 2000 --open-runs 200 --json /tmp/scale.json"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the project's packages importable
    sys.path.insert(0, str(REPO))

from bench.measure import percentile  # noqa: E402
from bench.stack import (  # noqa: E402
    VENV_PYTHON,
    BenchError,
    BenchRun,
    CpuSampler,
    DevStackProcess,
    fmt,
    log,
    machine_info,
    other_dev_servers,
    process_tree,
    rss_by_role,
)

REQUEST_TIMEOUT = 60.0
SETTLE_TIMEOUT = 300.0
LIST_TARGET_P99_MS = 50.0
MIB = 1024 * 1024
MEMORY_ROLES = ("api", "worker", "temporal", "postgres", "supervisor")


def latency_summary(latencies: list[float], wall: float) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return round(v, 1) if v is not None else None
    return {"ok": len(latencies), "per_second": round(len(latencies) / wall, 1) if wall > 0 else 0.0,
            "p50_ms": r(percentile(latencies, 50)), "p95_ms": r(percentile(latencies, 95)),
            "p99_ms": r(percentile(latencies, 99)), "max_ms": r(max(latencies) if latencies else None)}


def http_clients(api_url: str, headers: dict[str, str], count: int) -> list:
    """One keep-alive connection per client, as separate callers would have."""
    import httpx

    return [httpx.AsyncClient(base_url=api_url, headers=headers, timeout=REQUEST_TIMEOUT, trust_env=False,
                              limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
            for _ in range(count)]


# --- 1. lists ------------------------------------------------------------------------------------

async def measure_route(clients: list, path: str, seconds: float, sampler: CpuSampler) -> dict[str, Any]:
    """Every client GETs ``path`` in a closed loop for ``seconds``; any answer but 200 is an error."""
    for client in clients:  # warm-up: connections open, caches and prepared statements in place
        for _ in range(3):
            (await client.get(path)).raise_for_status()
    latencies: list[float] = []
    errors: list[str] = []
    started = time.monotonic()
    deadline = started + seconds

    async def loop(client) -> None:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            response = await client.get(path)
            if response.status_code == 200:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors.append(f"{response.status_code}: {response.text[:200]}")

    before = sampler.snapshot()
    await asyncio.gather(*(loop(c) for c in clients))
    wall = time.monotonic() - started
    cpu = CpuSampler.usage(before, sampler.snapshot())
    return {**latency_summary(latencies, wall), "errors": len(errors), "error_samples": errors[:3], "cpu": cpu}


async def measure_lists(args: argparse.Namespace, api_url: str, headers: dict[str, str], conninfo: str,
                        seeded, sampler: CpuSampler) -> dict[str, Any]:
    from api.protocols.services.project_access import ProjectVisibility
    from bench.scale_data import explain, route_sql

    no_project_token = ProjectVisibility(frozenset()).visible()  # what a request without X-Project-Token sees
    big = seeded.big_project_id
    deep_events = (seeded.big_project_events // 2) // 50 * 50
    small, deep_small = seeded.small_project_id, (seeded.small_project_events // 2) // 50 * 50
    deep_runs = (seeded.big_project_runs // 2) // 100 * 100
    routes = [  # (what, path, the service call behind it)
        ("events of the big project, first page", f"/events?project_id={big}&limit=50",
         ("events", {"project_id": big, "limit": 50, "offset": 0})),
        ("events of the big project, deep page", f"/events?project_id={big}&limit=50&offset={deep_events}",
         ("events", {"project_id": big, "limit": 50, "offset": deep_events})),
        ("events of a small project, deep page",
         f"/events?project_id={small}&limit=50&offset={deep_small}",
         ("events", {"project_id": small, "limit": 50, "offset": deep_small})),
        ("events of one run (protocol_run_id)", f"/protocols/{seeded.busiest_run_id}/events?limit=50",
         ("events", {"protocol_run_id": seeded.busiest_run_id, "limit": 50, "offset": 0})),
        ("events of all projects, first page", "/events?limit=50",
         ("events", {"limit": 50, "offset": 0, "visible": no_project_token})),
        ("runs of the big project, first page", f"/projects/{big}/protocols",
         ("runs", {"project_id": big, "limit": 100, "offset": 0})),
        ("runs of the big project, deep page", f"/projects/{big}/protocols?offset={deep_runs}",
         ("runs", {"project_id": big, "limit": 100, "offset": deep_runs})),
    ]
    clients = http_clients(api_url, headers, args.list_clients)
    out = []
    try:
        for what, path, (service, kwargs) in routes:
            log(f"lists: GET {path} for {args.seconds:g}s")
            result = await measure_route(clients, path, args.seconds, sampler)
            plan = explain(conninfo, await route_sql(service, **kwargs))
            result.update(what=what, path=path, plan=plan,
                          met=result["p99_ms"] is not None and result["p99_ms"] < LIST_TARGET_P99_MS)
            out.append(result)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return {"clients": args.list_clients, "seconds": args.seconds, "target_p99_ms": LIST_TARGET_P99_MS,
            "routes": out, "met": all(r["met"] for r in out)}


# --- 2. memory -----------------------------------------------------------------------------------

def rss_mib(root_pid: int) -> dict[str, float]:
    return {role: round(v / MIB, 1) for role, v in rss_by_role(root_pid).items()}


class PeakRss:
    """Samples RSS per role every ``interval`` seconds while running; keeps each role's peak."""

    def __init__(self, root_pid: int, interval: float = 0.2) -> None:
        self.root_pid, self.interval = root_pid, interval
        self.peak: dict[str, float] = {}
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            for role, mib in rss_mib(self.root_pid).items():
                self.peak[role] = max(self.peak.get(role, 0.0), mib)
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        for role, mib in rss_mib(self.root_pid).items():
            self.peak[role] = max(self.peak.get(role, 0.0), mib)


async def wait_idle(temporal, run_ids: list[int], timeout: float) -> float:
    """Until no run's workflow has a pending workflow task or activity; returns the seconds taken."""
    from models.protocols.workflow_io import protocol_run_workflow_id

    started = time.monotonic()
    gate = asyncio.Semaphore(16)

    async def busy(run_id: int) -> bool:
        async with gate:
            raw = (await temporal.get_workflow_handle(protocol_run_workflow_id(run_id)).describe(
                rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT))).raw_description
        if raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt >= 3:
            raise BenchError(f"workflow tasks of protocol run {run_id} keep failing; see the worker log")
        return bool(raw.pending_activities) or raw.HasField("pending_workflow_task")

    pending = list(run_ids)
    while pending:
        if time.monotonic() - started > timeout:
            raise BenchError(f"{len(pending)} runs still busy after {timeout:.0f}s")
        flags = await asyncio.gather(*(busy(r) for r in pending))
        pending = [r for r, f in zip(pending, flags, strict=True) if f]
        if pending:
            await asyncio.sleep(0.5)
    return time.monotonic() - started


async def in_parallel(clients: list, items: list, call) -> tuple[list[Any], list[float], list[str], float]:
    """``call(client, item)`` for every item, each client taking the next item when done."""
    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    results, latencies, errors = [], [], []

    async def worker(client) -> None:
        while not queue.empty():
            item = queue.get_nowait()
            t0 = time.perf_counter()
            response = await call(client, item)
            if response.status_code == 200:
                latencies.append((time.perf_counter() - t0) * 1000)
                results.append(response.json())
            else:
                errors.append(f"{response.status_code}: {response.text[:200]}")

    started = time.monotonic()
    await asyncio.gather(*(worker(c) for c in clients))
    return results, latencies, errors, time.monotonic() - started


async def measure_memory(args: argparse.Namespace, api_url: str, headers: dict[str, str], temporal_address: str,
                         root_pid: int, work_dir: Path) -> dict[str, Any]:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from bench.repos import make_bare_remote
    from models.protocols.workflow_io import project_setup_workflow_id

    temporal = await Client.connect(temporal_address, data_converter=pydantic_data_converter)
    out: dict[str, Any] = {"open_runs": args.open_runs, "action_clients": args.action_clients,
                           "rss_mib": {"before": rss_mib(root_pid)}}
    remote = make_bare_remote(work_dir, "scale-remote", {"README.md": "scale\n"})
    creators = http_clients(api_url, headers, 8)
    actors = http_clients(api_url, headers, args.action_clients)
    try:
        response = await creators[0].post("/projects", json={"name": "scale-open-runs", "git_url": str(remote),
                                                             "base_branch": "main"})
        if response.status_code != 200:
            raise BenchError(f"POST /projects answered {response.status_code}: {response.text[:300]}")
        project_id = response.json()["id"]
        await temporal.get_workflow_handle(project_setup_workflow_id(project_id)).result(
            rpc_timeout=timedelta(seconds=SETTLE_TIMEOUT))

        log(f"memory: creating {args.open_runs} runs through the API")
        runs, latencies, errors, wall = await in_parallel(
            creators, list(range(args.open_runs)),
            lambda c, i: c.post(f"/projects/{project_id}/protocols",
                                json={"protocol_name": f"open-{i:05d}", "description": "scale benchmark run"}))
        if errors:
            raise BenchError(f"{len(errors)} run creations failed, e.g. {errors[0]}")
        run_ids = [r["id"] for r in runs]
        out["create"] = {**latency_summary(latencies, wall), "clients": len(creators)}
        out["create"]["settle_seconds"] = round(await wait_idle(temporal, run_ids, SETTLE_TIMEOUT), 1)
        out["rss_mib"]["idle"] = rss_mib(root_pid)

        log(f"memory: {len(run_ids)} pause actions from {len(actors)} clients")
        async with PeakRss(root_pid) as peak:
            _, latencies, errors, wall = await in_parallel(
                actors, run_ids, lambda c, run_id: c.post(f"/protocols/{run_id}/actions/pause"))
            settle = await wait_idle(temporal, run_ids, SETTLE_TIMEOUT)
        out["action"] = {**latency_summary(latencies, wall), "errors": len(errors), "error_samples": errors[:3],
                         "settle_seconds": round(settle, 1)}
        out["rss_mib"]["peak"] = peak.peak
        out["rss_mib"]["after"] = rss_mib(root_pid)
    finally:
        await asyncio.gather(*(c.aclose() for c in creators + actors))
    return out


# --- report --------------------------------------------------------------------------------------

def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = ["", "Capstan scale benchmark",
             f"  date {m['date']}   commit {m['commit']}",
             f"  {m['platform']}, {m['cpu_count']} CPUs (nproc {m['nproc']}), Python {m['python']}",
             f"  {m['temporal_cli']}; temporalio {m['temporalio']}",
             f"  load average at start {fmt(m.get('loadavg_at_start'))}, at end {fmt(m.get('loadavg_at_end'))}; "
             f"other Temporal dev servers on this machine: {report.get('other_dev_servers', '?')}"]
    seeded, lists = report.get("seeded"), report.get("lists")
    if seeded:
        lines += ["", f"1. Lists over {seeded['events']:,} events, {seeded['runs']:,} runs, {seeded['steps']:,} steps "
                      f"in {seeded['projects']} projects (seeded in {seeded['seconds']:.0f}s)",
                  f"  big project {seeded['big_project_id']}: {seeded['big_project_events']:,} events, "
                  f"{seeded['big_project_runs']:,} runs; busiest run {seeded['busiest_run_id']}: "
                  f"{seeded['busiest_run_events']} events"]
    if lists:
        lines += [f"  {lists['clients']} keep-alive clients, {lists['seconds']:g}s per route; "
                  f"target p99 < {lists['target_p99_ms']:g} ms",
                  f"  {'route':<58}{'req/s':>7}{'p50':>7}{'p95':>7}{'p99':>7}{'max':>7}{'err':>5}  plan (SQL time)"]
        for r in lists["routes"]:
            scan = r["plan"]["scans"][0] if r["plan"]["scans"] else "?"
            lines.append(f"  {'GET ' + r['path']:<58}{r['per_second']:>7.0f}{fmt(r['p50_ms'], '.1f'):>7}"
                         f"{fmt(r['p95_ms'], '.1f'):>7}{fmt(r['p99_ms'], '.1f'):>7}{fmt(r['max_ms'], '.0f'):>7}"
                         f"{r['errors']:>5}  {'ok' if r['met'] else 'SLOW'}")
            lines.append(f"      {r['what']}: {scan} ({r['plan']['execution_time']})")
            for other in r["plan"]["scans"][1:]:
                lines.append(f"        {other}")
            cpu = r.get("cpu", {})
            lines.append("      CPU % of one core: " + ", ".join(
                f"{k} {cpu[k]:.0f}" for k in ("api", "postgres", "bench", "other") if k in cpu))
        lines.append(f"  target p99 < {lists['target_p99_ms']:g} ms: {'met' if lists['met'] else 'NOT met'}")
    memory = report.get("memory")
    if memory:
        c, a = memory["create"], memory["action"]
        lines += ["", f"2. Memory (VmRSS, MiB) with {memory['open_runs']:,} open protocol runs",
                  f"  {'state':<42}" + "".join(f"{role:>11}" for role in MEMORY_ROLES)]
        titles = {"before": "stack up, before the runs", "idle": f"{memory['open_runs']:,} runs idle",
                  "peak": f"peak while all take `pause` ({memory['action_clients']} clients)",
                  "after": "after the actions, idle again"}
        for key, title in titles.items():
            row = memory["rss_mib"].get(key, {})
            lines.append(f"  {title:<42}" + "".join(f"{fmt(row.get(role), '.0f'):>11}" for role in MEMORY_ROLES))
        lines += [f"  created {c['ok']} runs at {c['per_second']:.1f}/s (p50 {fmt(c['p50_ms'])} ms, p99 "
                  f"{fmt(c['p99_ms'])} ms, 8 clients), workflows idle {c['settle_seconds']}s later",
                  f"  pause: {a['ok']} ok, {a['errors']} errors, {a['per_second']:.1f}/s, p50 {fmt(a['p50_ms'])} ms, "
                  f"p95 {fmt(a['p95_ms'])} ms, p99 {fmt(a['p99_ms'])} ms; all settled {a['settle_seconds']}s later",
                  "  (postgres sums its processes, so shared buffers count once per backend)"]
    lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/scale.py", description=__doc__.split("\n\n")[0],
                                     epilog="See docs/performance.md, section Scale, for what the figures mean.")
    parser.add_argument("--projects", type=int, default=10, help="seeded projects (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=10_000, help="seeded protocol runs (default: %(default)s)")
    parser.add_argument("--events", type=int, default=100_000, help="seeded events (default: %(default)s)")
    parser.add_argument("--big-share", type=float, default=0.8,
                        help="share of runs and events in the big project (default: %(default)s)")
    parser.add_argument("--list-clients", type=int, default=4,
                        help="concurrent clients per list route (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per list route (default: %(default)s)")
    parser.add_argument("--open-runs", type=int, default=1000,
                        help="runs created through the API for the memory figures (default: %(default)s)")
    parser.add_argument("--action-clients", type=int, default=32,
                        help="concurrent clients sending the actions (default: %(default)s)")
    parser.add_argument("--only", default="lists,memory", help="lists and/or memory (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of the stack (default: %(default)s)")
    parser.add_argument("--python", type=Path, default=VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable),
                        help="interpreter that runs `capstan dev` (default: %(default)s)")
    parser.add_argument("--api-token", default=os.environ.get("CAPSTAN_API_TOKEN"),
                        help="bearer token for the API (default: $CAPSTAN_API_TOKEN)")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data dir and the stack's log")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON to PATH")
    return parser


async def run(args: argparse.Namespace, only: set[str], stack: DevStackProcess, work_dir: Path,
              report: dict[str, Any]) -> None:
    from bench.scale_data import database_conninfo, seed

    headers = {"Authorization": f"Bearer {args.api_token}"} if args.api_token else {}
    sampler = CpuSampler(stack.pid)
    report["rss_mib_started"] = rss_mib(stack.pid)
    if "lists" in only:
        conninfo = database_conninfo(stack.data_dir, stack.ports["postgres"])
        log(f"seeding {args.runs} runs and {args.events} events over {args.projects} projects")
        seeded = await asyncio.to_thread(seed, conninfo, projects=args.projects, runs=args.runs,
                                         events=args.events, big_share=args.big_share)
        report["seeded"] = seeded.summary()
        log(f"seeded in {seeded.seconds:.1f}s")
        report["lists"] = await measure_lists(args, stack.api_url, headers, conninfo, seeded, sampler)
    if "memory" in only:
        report["memory"] = await measure_memory(args, stack.api_url, headers, stack.temporal_address, stack.pid,
                                                work_dir)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if not only or only - {"lists", "memory"}:
        parser.error("--only takes lists and/or memory")
    if not (1 <= args.projects <= 1000 and 1 <= args.list_clients <= 256 and 1 <= args.action_clients <= 512
            and 0 < args.big_share <= 1 and args.runs >= args.projects and args.events >= 0 and args.open_runs >= 1):
        parser.error("out-of-range option; see --help")
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM ends the run like Ctrl-C: the stack is stopped
    work_dir = Path(tempfile.mkdtemp(prefix="capstan-scale-"))
    os.chmod(work_dir, 0o755)  # embedded Postgres may run as its own system user under root
    report: dict[str, Any] = {}
    with BenchRun(work_dir, report, args.keep_data, render, args.json) as bench:
        stack = bench.stack = DevStackProcess(args.python, args.workers, work_dir, dict(os.environ))
        stack.start()
        report["machine"] = machine_info(args.python, "Temporal dev server (SQLite file), started by capstan dev")
        report["other_dev_servers"] = other_dev_servers(process_tree(stack.pid))
        report["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                             if k not in ("api_token", "json", "python")}
        asyncio.run(run(args, only, stack, work_dir, report))
    return bench.code


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
