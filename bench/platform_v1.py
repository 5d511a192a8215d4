#!/usr/bin/env python3
"""Capstan's platform API v1: ticket lists at 100,000 tickets in one workspace (and 100,000 more in ten
others), and what ``Idempotency-Key`` costs a create.

0. data     11 workspaces through ``POST /api/v1/workspaces``; then, straight into the stack's Postgres
            with ``COPY`` (not measured), --tickets tickets and --client-records clients in the first
            workspace, --other-tickets tickets spread over the ten others (--other-client-records clients
            each), shaped as the API writes them (bodies through the API's own schema code, an audit
            record each, 1 % soft-deleted); then ``VACUUM (ANALYZE)``.
1. lists    ``GET /api/v1/tickets`` of the big workspace: newest first (the default), ``sortBy=priority``
            (an indexed sort), ``q`` with a word in ~1 % of the tickets and one in ~40 %, each on page 1
            and half-way down; and page 1 of a small workspace. One client for --seconds, then --clients
            clients for --seconds; p50/p99 and ``EXPLAIN (ANALYZE, BUFFERS)`` of the route's two
            statements. Target: p99 < 50 ms.
2. creates  ``POST /api/v1/tickets`` with a fresh ``Idempotency-Key`` each (--creates, one client then
            --clients), and the same requests again (replays). The API refuses a mutation without a key
            (400), so "the same creates without it" is estimated: the key's own statements (the API's
            ``Keys.reserve`` and ``Reservation.store``) are timed alone against the same database, and
            subtracted. Target: keyed creates ≥ 0.8 × creates without the key.
3. ingest   ``POST /api/v1/events/ingest`` in batches of --batch-events (100) with fresh ids: telemetry (one
            heartbeat in ten), then a mix with alerts, asset status changes and a pipeline failure per batch;
            one client then --clients; then the same batches again (all duplicates). Needs no ticket data
            (``--only ingest`` loads none). Target: ≥ 2,000 events/s (``bench/platform_v1_ingest.py``).
4. execute  ``POST /api/v1/execute/{agent}.{reasoner}`` against a fake agent node that answers at once, sync
            and async, beside the same call sent to the agent directly; one client then --clients, --seconds
            or --executes each. Needs no ticket data. Target: sync overhead p50 ≤ 30 ms
            (``bench/platform_v1_execute.py``).

It starts its own stack (``python -m capstan dev`` on free loopback ports, a temporary data dir, a generated
``CAPSTAN_JWT_SECRET`` it signs its tokens with) and stops it at the end.

    make bench-platform-v1
    make bench-platform-v1 ARGS="--tickets 5000 --other-tickets 5000 --seconds 2 --creates 100"
    make bench-platform-v1 ARGS="--only lists --seconds 5 --json /tmp/platform-v1.json"
    make bench-platform-v1 ARGS="--only ingest --seconds 5"
    make bench-platform-v1 ARGS="--only execute --seconds 10"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the project's packages importable
    sys.path.insert(0, str(REPO))

from bench.platform_v1_data import COUNT_CAP  # noqa: E402
from bench.stack import (  # noqa: E402
    VENV_PYTHON,
    BenchError,
    BenchRun,
    CpuSampler,
    DevStackProcess,
    fmt,
    log,
    machine_info,
    measure_on_this_tree,
    other_dev_servers,
    process_tree,
)

MEASUREMENTS = ("lists", "creates", "ingest", "execute")
#: Settings inherited from the caller's shell that would change what is measured.
DROPPED_ENV = ("CAPSTAN_AUTH_MODE", "AUTH_MODE", "CAPSTAN_JWT_SECRET", "JWT_SECRET", "CAPSTAN_JWT_PUBLIC_KEY",
               "JWT_PUBLIC_KEY", "CAPSTAN_JWT_JWKS_URL", "JWT_JWKS_URL", "CAPSTAN_JWT_ISSUER", "JWT_ISSUER",
               "CAPSTAN_JWT_AUDIENCE", "JWT_AUDIENCE", "CAPSTAN_DATABASE_POOL_SIZE", "CAPSTAN_DATABASE_MAX_OVERFLOW")
CPU_ORDER = ("api", "postgres", "temporal", "worker", "supervisor", "bench", "other")


# --- the report ------------------------------------------------------------------------------------

def cpu_per(per: dict[str, float]) -> str:
    return ", ".join(f"{k} {per[k]:.2f}" for k in CPU_ORDER if per.get(k, 0) >= 0.01)


def render_data(d: dict[str, Any]) -> list[str]:
    return [f"  {d['big_workspace_tickets']:,} tickets ({d['big_workspace_clients']:,} clients) in the big workspace, "
            f"{d['other_tickets']:,} more over {d['workspaces'] - 1} others; {d['deleted_tickets']:,} soft-deleted, "
            f"{d['audit_rows']:,} audit records; loaded and vacuumed in {d['seconds']:.0f}s",
            f"  q={d['rare_word']} matches {d['rare_matches']:,} of the big workspace's tickets "
            f"({100 * (d['rare_share'] or 0):.1f} %), q={d['common_word']} {d['common_matches']:,} "
            f"({100 * (d['common_share'] or 0):.1f} %)"]


def render_lists(data: dict[str, Any]) -> list[str]:
    c = data["clients"]
    lines = [f"  {data['seconds']:g}s with 1 client, then {data['seconds']:g}s with {c}; limit 50; milliseconds",
             f"  {'GET /api/v1/tickets…':<36}{'total':>8}{'1: p50':>8}{'p99':>7}{f'{c}: req/s':>10}{'p50':>7}"
             f"{'p99':>7}{'max':>7}  {'SQL count + page':<18}"]
    for r in data["cases"]:
        s, k, p = r["sequential"], r["concurrent"], r["plans"]
        query = r["path"].removeprefix("/api/v1/tickets")
        sql = f"{p['count']['execution_time'] or '?'} + {p['page']['execution_time'] or '?'}".replace(" ms", "")
        lines.append(f"  {query or '(defaults)':<36}{r['total']:>8,}{fmt(s['p50_ms'], '.1f'):>8}"
                     f"{fmt(s['p99_ms'], '.1f'):>7}{k['ok_per_second']:>10.0f}{fmt(k['p50_ms'], '.1f'):>7}"
                     f"{fmt(k['p99_ms'], '.1f'):>7}{fmt(k['max_ms'], '.0f'):>7}  {sql:<18}"
                     f"{'ok' if r['met'] else 'SLOW'}")
    lines.append("  plans (count | page):")
    for r in data["cases"]:
        lines.append(f"    {r['what']}: {' / '.join(r['plans']['count']['nodes'][:2])} | "
                     f"{' / '.join(r['plans']['page']['nodes'][:3])}")
    lines.append(f"  not what the route runs (SQL ms): a count that stops at {COUNT_CAP:,} + 1 | the page's ids first")
    for r in data["cases"]:
        alt = r.get("alternatives", {})
        if alt:
            scan = alt["page_ids"]["nodes"][:1]
            lines.append(f"    {r['what']:<44}{alt['count_capped']['execution_time'] or '?':>12} | "
                         f"{alt['page_ids']['execution_time'] or '?':>10}  ({' / '.join(scan)})")
    cpu = data["cases"][0]["concurrent"]["cpu_ms_per_ok"]
    lines.append(f"  CPU ms per request, defaults with {c} clients: {cpu_per(cpu)}")
    lines.append(f"  target p99 < {data['target_p99_ms']:g} ms: {'met' if data['met'] else 'NOT met'}")
    return lines


def render_creates(data: dict[str, Any], keys: dict[str, Any] | None, ratio: dict[str, Any] | None) -> list[str]:
    lines = [f"  {'':<28}{'clients':>8}{'per s':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}  CPU ms each"]
    for label in ("sequential", "concurrent"):
        for kind, title in (("keyed", "create, fresh key"), ("replay", "replay of the same key")):
            d = data[label][kind]
            clients = 1 if label == "sequential" else data["clients"]
            lines.append(f"  {title:<28}{clients:>8}{d['ok_per_second']:>8.1f}{fmt(d['p50_ms'], '.1f'):>8}"
                         f"{fmt(d['p99_ms'], '.1f'):>8}{fmt(d['max_ms'], '.1f'):>8}  {cpu_per(d['cpu_ms_per_ok'])}")
        if keys:
            k = keys[label]
            lines.append(f"  {'the key alone (this process)':<28}{k['clients']:>8}"
                         f"{k['ok'] / k['wall_seconds']:>8.1f}{fmt(k['p50_ms'], '.1f'):>8}{fmt(k['p99_ms'], '.1f'):>8}"
                         f"{fmt(k['max_ms'], '.1f'):>8}  {cpu_per(k['cpu_ms_per_ok'])}")
    if keys and keys.get("sequential_async_commit"):
        k = keys["sequential_async_commit"]
        lines.append(f"  {'the key, synchronous_commit=off':<28}{1:>8}{k['ok'] / k['wall_seconds']:>8.1f}"
                     f"{fmt(k['p50_ms'], '.1f'):>8}{fmt(k['p99_ms'], '.1f'):>8}{fmt(k['max_ms'], '.1f'):>8}  "
                     "(not what the API does: its reservation's commit without waiting for the WAL flush)")
    lines.append(f"  tickets created: {data['tickets_created']} (replays created none)")
    if ratio:
        verdict = "met" if ratio["met"] else "NOT met"
        lines += [f"  keyed creates vs the same creates minus the key's statements (target >= {ratio['target']}: "
                  f"{verdict}):",
                  f"    1 client, wall time: {ratio['create_ms_one_client']:.2f} ms per create, key "
                  f"{ratio['key_ms_one_client']:.2f} ms → {ratio['ratio_by_time']:.2f}",
                  f"    {data['clients']} clients, CPU (API + Postgres): {ratio['create_cpu_ms']:.2f} ms per create, "
                  f"key {ratio['key_cpu_ms']:.2f} ms → {fmt(ratio['ratio_by_cpu'], '.2f')}"]
    return lines


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = ["", "Capstan platform API v1 benchmark",
             f"  date {m['date']}   commit {m['commit']}",
             f"  {m['platform']}, {m['cpu_count']} CPUs (nproc {m['nproc']}), Python {m['python']}",
             f"  load average at start {fmt(m.get('loadavg_at_start'))}, at end {fmt(m.get('loadavg_at_end'))}; "
             f"other Temporal dev servers on this machine: {report.get('other_dev_servers', '?')}"]
    if report.get("data"):
        lines += ["", "0. Data", *render_data(report["data"])]
    titles = {"lists": "1. Lists: GET /api/v1/tickets of the big workspace (and of a small one)",
              "creates": "2. Creates: POST /api/v1/tickets with an Idempotency-Key",
              "ingest": "3. Ingest: POST /api/v1/events/ingest in batches",
              "execute": "4. Execute: POST /api/v1/execute/{agent}.{reasoner} against an agent that answers at once"}
    for key in MEASUREMENTS:
        data = report.get(key)
        if data is None:
            continue
        lines += ["", titles[key]]
        if data.get("failed"):
            lines.append(f"  failed: {data['failed']}")
        elif key == "lists":
            lines += render_lists(data)
        elif key == "ingest":
            from bench.platform_v1_ingest import render_ingest

            lines += render_ingest(data)
        elif key == "execute":
            from bench.platform_v1_execute import render_execute

            lines += render_execute(data)
        else:
            lines += render_creates(data, report.get("keys"), report.get("keyed_ratio"))
    for warning in report.get("warnings", []):
        lines += ["", f"WARNING: {warning}"]
    lines.append("")
    return "\n".join(lines)


# --- the run ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/platform_v1.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     epilog="See docs/performance.md, section Platform API v1, for what the "
                                            "figures mean.")
    parser.add_argument("--only", default="lists,creates,ingest,execute",
                        help="lists, creates, ingest and/or execute")
    parser.add_argument("--batch-events", type=int, default=100, help="ingest: events per batch")
    parser.add_argument("--executes", type=int, default=500, help="execute: requests per phase at most")
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets loaded in the big workspace")
    parser.add_argument("--other-tickets", type=int, default=100_000, help="tickets spread over the other workspaces")
    parser.add_argument("--workspaces", type=int, default=11, help="workspaces, the big one included")
    parser.add_argument("--client-records", type=int, default=500, help="clients (the resource) of the big workspace")
    parser.add_argument("--other-client-records", type=int, default=50, help="clients of each other workspace")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients of the concurrent phases")
    parser.add_argument("--seconds", type=float, default=10.0, help="lists: seconds per case and concurrency")
    parser.add_argument("--creates", type=int, default=1000, help="creates: keyed creates per phase")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of the stack (idle here)")
    parser.add_argument("--python", type=Path, default=VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable),
                        help="interpreter that runs `capstan dev`")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data dir and the stack's log")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON to PATH")
    return parser


async def run(args: argparse.Namespace, only: list[str], stack: DevStackProcess, jwt_secret: str,
              report: dict[str, Any]) -> None:
    from bench.platform_v1_data import database_conninfo, load
    from bench.platform_v1_keys import keyed_ratio, measure_key_statements
    from bench.platform_v1_measure import PlatformApi, create_workspaces, measure_creates, measure_lists

    sampler = CpuSampler(stack.pid)
    api = PlatformApi(stack.api_url, jwt_secret)
    conninfo = database_conninfo(stack.data_dir, stack.ports["postgres"])
    workspaces = await create_workspaces(api, args.workspaces)
    log(f"{len(workspaces)} workspaces created")
    if set(only) & {"lists", "creates"}:  # the ingest needs none of the tickets
        loaded = await asyncio.to_thread(load, conninfo, workspaces, big_tickets=args.tickets,
                                         other_tickets=args.other_tickets, big_clients=args.client_records,
                                         other_clients=args.other_client_records)
        report["data"] = loaded.summary()
        log(f"loaded in {loaded.seconds:.1f}s: q={report['data']['rare_word']} {loaded.rare_matches}, "
            f"q={report['data']['common_word']} {loaded.common_matches}")
    for key in only:
        try:
            if key == "ingest":
                from bench.platform_v1_ingest import measure_ingest

                report["ingest"] = await measure_ingest(api, args, conninfo, sampler)
            elif key == "execute":  # needs no tickets either: an agent of the last workspace
                from bench.platform_v1_execute import measure_execute

                report["execute"] = await measure_execute(api, workspaces[-1], args, sampler,
                                                           stack.temporal_address)
            elif key == "lists":
                report["lists"] = await measure_lists(api, loaded, args, conninfo, sampler)
            else:
                report["creates"] = await measure_creates(api, loaded, args, sampler)
                report["keys"] = await measure_key_statements(conninfo, loaded, args, sampler)
                report["keyed_ratio"] = keyed_ratio(report["creates"], report["keys"])
        except (BenchError, TimeoutError) as exc:
            log(f"{key} failed: {exc!r}")
            report[key] = {"failed": str(exc) or type(exc).__name__}
    busy = other_work(report)
    if busy is not None and busy > OTHER_WORK_WARNING:
        report.setdefault("warnings", []).append(
            f"other processes used {busy:.0f} % of one core on average while this ran (its own stack and this "
            "process not counted): the figures are slower than on a quiet machine")


#: Average CPU of other processes (% of one core) above which the report warns.
OTHER_WORK_WARNING = 20.0


def other_work(report: dict[str, Any]) -> float | None:
    """CPU of the processes outside the stack and this benchmark, averaged over the measured phases."""
    phases = [c[label] for c in (report.get("lists") or {}).get("cases", []) for label in ("sequential", "concurrent")]
    creates = report.get("creates") or {}
    phases += [creates[label][kind] for label in ("sequential", "concurrent") if label in creates
               for kind in ("keyed", "replay")]
    ingest = report.get("ingest") or {}
    phases += [ingest[mix][label] for mix in ("telemetry", "mixed") if mix in ingest
               for label in ("sequential", "concurrent", "duplicates")]
    phases += execute_phases(report)
    weighted = [(p["cpu_percent_of_one_core"].get("other", 0.0), p["wall_seconds"]) for p in phases
                if p.get("cpu_percent_of_one_core")]
    wall = sum(w for _, w in weighted)
    if not wall:
        return None
    report["other_work_percent_of_one_core"] = round(sum(o * w for o, w in weighted) / wall, 1)
    return report["other_work_percent_of_one_core"]


def execute_phases(report: dict[str, Any]) -> list[dict[str, Any]]:
    execute = report.get("execute") or {}
    return [execute[label][kind] for label in ("sequential", "concurrent") if label in execute
            for kind in ("direct", "sync", "async")]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    chosen = {x.strip() for x in args.only.split(",") if x.strip()}
    only = [x for x in MEASUREMENTS if x in chosen]
    if not only or chosen - set(MEASUREMENTS):
        parser.error("--only takes lists, creates, ingest and/or execute")
    if not (100 <= args.tickets <= 10_000_000 and 0 <= args.other_tickets <= 10_000_000
            and 2 <= args.workspaces <= 100 and 1 <= args.client_records <= 100_000
            and 1 <= args.other_client_records <= 100_000 and 1 <= args.clients <= 64 and args.seconds > 0
            and 10 <= args.creates <= 100_000 and 10 <= args.executes <= 100_000 and 0 <= args.workers <= 16
            and 1 <= args.batch_events <= 500):
        parser.error("out-of-range option: --tickets 100-10000000, --other-tickets 0-10000000, --workspaces 2-100, "
                     "--client-records and --other-client-records 1-100000, --clients 1-64, --seconds > 0, "
                     "--creates 10-100000, --executes 10-100000, --workers 0-16, --batch-events 1-500")
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM ends the run like Ctrl-C: the stack is stopped
    work_dir = Path(tempfile.mkdtemp(prefix="capstan-platform-v1-"))
    os.chmod(work_dir, 0o755)  # embedded Postgres may run as its own system user under root
    report: dict[str, Any] = {}
    jwt_secret = secrets.token_urlsafe(48)
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update({"CAPSTAN_JWT_SECRET": jwt_secret, "CAPSTAN_AUTH_MODE": "enabled"})
    with BenchRun(work_dir, report, args.keep_data, render, args.json) as bench:
        stack = bench.stack = DevStackProcess(args.python, args.workers, work_dir, env)
        stack.start()
        report["machine"] = machine_info(args.python, "Temporal dev server (SQLite file), started by capstan dev")
        report["other_dev_servers"] = other_dev_servers(process_tree(stack.pid))
        report["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                             if k not in ("json", "python")}
        measure_on_this_tree(report, run(args, only, stack, jwt_secret, report))
    failed = [key for key in only if (report.get(key) or {}).get("failed")]
    return bench.code or (1 if failed else 0)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
