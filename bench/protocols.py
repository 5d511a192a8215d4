#!/usr/bin/env python3
"""Capstan protocol benchmarks: what the API facade costs on top of Temporal, what a whole
protocol costs on top of plain git, and how many steps per second the core runs.

Four measurements, each printed with the machine it ran on:

1. actions   POST /protocols/{id}/actions/pause|resume, alternating, from --clients concurrent
             HTTP clients (one protocol run each), beside the same "pause"/"resume" Temporal
             Updates sent directly with a temporalio client. Target: API/direct >= 0.8.
2. webhooks  signed GitHub ``workflow_run`` deliveries (POST /webhooks/github?protocol_run_id=),
             beside the same ``ci_report`` Signals sent directly. Target: API/direct >= 0.7.
3. e2e       a 5-step ``script`` protocol through the API (create, start, run_next_step, run_qa,
             approve; waiting with the ``wait_idle`` Update), beside a plain shell script doing
             the same git work. Reported as an overhead ratio (median of --repeats).
4. steps     N closed-loop clients (--steps-clients, 1, 8 and 32), each: create a planned run and
             one step, run the step, poll its run's steps until it leaves pending/running.
             Steps/s, p50/p95/p99, CPU per step by process and one run's Temporal history.

By default the benchmark starts its own stack (``python -m capstan dev`` on free loopback ports
in a temporary data dir, with a generated webhook secret) and stops it with SIGTERM at the end;
``--api``/``--temporal`` use a stack that is already running instead. All traffic goes to
loopback (or the URLs given); every phase is bounded by --seconds and --requests, every call
by a timeout, and the run stops by itself.

The measurements live beside this file: stack.py (the stack, the machine, CPU by process),
measure.py (closed-loop clients, percentiles), session.py (API and Temporal clients), one
module per measurement (actions.py, webhooks.py, e2e.py, steps.py) and report.py (the table).

    make bench
    make bench ARGS="--seconds 10 --only actions --json /tmp/bench.json"
    .venv/bin/python bench/protocols.py --help
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

_BENCH_DIR = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0] or ".").resolve() == _BENCH_DIR:
    # Run as a script: import bench's modules as the ``bench`` package, not as top-level modules.
    sys.path[0] = str(_BENCH_DIR.parent)
elif str(_BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(_BENCH_DIR.parent))

from bench.actions import measure_actions  # noqa: E402
from bench.e2e import measure_e2e  # noqa: E402
from bench.report import render  # noqa: E402
from bench.session import BenchSession, Target  # noqa: E402
from bench.stack import (  # noqa: E402
    VENV_PYTHON,
    BenchError,
    BenchRun,
    CpuSampler,
    DevStackProcess,
    log,
    machine_info,
    measure_on_this_tree,
    other_dev_servers,
    process_tree,
)
from bench.steps import STEPS_CLIENTS, measure_steps, parse_clients  # noqa: E402
from bench.webhooks import measure_webhooks  # noqa: E402

MEASUREMENTS = {"actions": measure_actions, "webhooks": measure_webhooks, "e2e": measure_e2e, "steps": measure_steps}


# --- main ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/protocols.py", description=__doc__.split("\n\n")[0],
        epilog="Without --api/--temporal a stack is started with `python -m capstan dev` and stopped at the end. "
               "See docs/performance.md for what the figures mean.",
)
    stack = parser.add_argument_group("stack")
    stack.add_argument("--api", metavar="URL",
                       help="use the API at URL instead of starting a stack (needs --temporal)")
    stack.add_argument("--temporal", metavar="HOST:PORT", help="Temporal frontend of that stack (needs --api)")
    stack.add_argument("--namespace", default="default", help="Temporal namespace of that stack (default: %(default)s)")
    stack.add_argument("--temporal-mode", default="external stack (not known to the benchmark)",
                       help="how that stack's Temporal runs, printed with the figures")
    stack.add_argument("--workers", type=int, default=1,
                       help="worker processes of the stack started by the benchmark (default: %(default)s)")
    stack.add_argument("--python", type=Path,
                       default=VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable),
                       help="interpreter that runs `capstan dev` (default: %(default)s)")
    stack.add_argument("--api-token", default=os.environ.get("CAPSTAN_API_TOKEN") or os.environ.get(
        "DEKSDENFLOW_API_TOKEN"), help="bearer token for the API (default: $CAPSTAN_API_TOKEN)")
    stack.add_argument("--webhook-secret", default=None,
                       help="webhook secret; default: generated for a started stack, $CAPSTAN_WEBHOOK_TOKEN otherwise")
    stack.add_argument("--keep-data", action="store_true", help="keep the temporary data dir (stack data, logs, repos)")
    load = parser.add_argument_group("load")
    load.add_argument("--clients", type=int, default=32,
                      help="concurrent clients, one protocol run each (default: %(default)s)")
    load.add_argument("--seconds", type=float, default=15.0,
                      help="seconds each phase (one path, one round) lasts at most (default: %(default)s)")
    load.add_argument("--requests", type=int, default=None,
                      help="also end a phase after this many requests (default: no limit)")
    load.add_argument("--rounds", type=int, default=2,
                      help="rounds of api+direct phases per measurement; the order alternates (default: %(default)s)")
    load.add_argument("--repeats", type=int, default=3,
                      help="end-to-end repetitions; the median is reported (default: %(default)s)")
    load.add_argument("--steps-clients", default=",".join(map(str, STEPS_CLIENTS)), metavar="N,N,...",
                      help="concurrencies of the steps measurement, one phase each (default: %(default)s)")
    load.add_argument("--only", default=",".join(MEASUREMENTS),
                      help="comma-separated measurements to run (default: %(default)s)")
    load.add_argument("--diagnose", action="store_true",
                      help="add a third path to 1. and 2.: the update-/signal-with-start calls the API makes, "
                           "sent directly (separates the API process from the Temporal cost of with-start)")
    stack.add_argument("--task-queue", default="capstan-protocols",
                       help="the stack's protocols task queue, CAPSTAN_TEMPORAL_TASK_QUEUE + '-protocols', "
                            "for --diagnose (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON to PATH")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> set[str]:
    if bool(args.api) != bool(args.temporal):
        parser.error("--api and --temporal go together")
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if not only or only - set(MEASUREMENTS):
        parser.error(f"--only takes {', '.join(MEASUREMENTS)} (one or more)")
    try:
        args.steps_clients = parse_clients(args.steps_clients)
    except ValueError as exc:
        parser.error(f"--steps-clients takes {exc}")
    for name, low, high in (("clients", 1, 512), ("rounds", 1, 20), ("repeats", 1, 50), ("workers", 1, 32)):
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name} must be between {low} and {high}")
    if not 1 <= args.seconds <= 3600:
        parser.error("--seconds must be between 1 and 3600")
    if args.requests is not None and args.requests < 1:
        parser.error("--requests must be positive")
    return only


async def run_measurements(args: argparse.Namespace, only: set[str], target: Target, work_dir: Path,
                           sampler: CpuSampler, report: dict[str, Any]) -> None:
    async with BenchSession(args, target, work_dir, sampler) as bench:
        await bench.check_api()
        for name, measure in MEASUREMENTS.items():
            if name not in only:
                continue
            try:
                report[name] = await measure(bench)
            except (BenchError, TimeoutError) as exc:
                log(f"{name} failed: {exc!r}")
                report[name] = {"failed": str(exc) or type(exc).__name__}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    only = check_args(parser, args)
    try:
        import httpx  # noqa: F401
        import temporalio  # noqa: F401

        import models.protocols.workflow_io  # noqa: F401
    except ImportError as exc:
        print(f"bench: {exc}; run it with the project's environment: make bench", file=sys.stderr)
        return 2

    # SIGTERM ends the run like Ctrl-C, so the stack is stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    work_dir = Path(tempfile.mkdtemp(prefix="capstan-bench-"))
    os.chmod(work_dir, 0o755)  # embedded Postgres may run as its own system user under root
    stack: DevStackProcess | None = None
    report: dict[str, Any] = {}
    with BenchRun(work_dir, report, args.keep_data, render, args.json) as bench:
        if args.api:
            secret = args.webhook_secret or os.environ.get("CAPSTAN_WEBHOOK_TOKEN") or os.environ.get(
                "DEKSDENFLOW_WEBHOOK_TOKEN")
            target = Target(args.api.rstrip("/"), args.temporal, args.namespace, args.api_token, secret)
            mode, sampler, stack_desc = args.temporal_mode, CpuSampler(None), f"external: {args.api}, {args.temporal}"
        else:
            secret = args.webhook_secret or secrets.token_hex(16)
            env = {**os.environ, "CAPSTAN_WEBHOOK_TOKEN": secret}
            stack = bench.stack = DevStackProcess(args.python, args.workers, work_dir, env)
            stack.start()
            target = Target(stack.api_url, stack.temporal_address, "default", args.api_token, secret)
            mode = ("Temporal dev server (temporal server start-dev) persisting to a SQLite file, "
                    "started by capstan dev")
            sampler = CpuSampler(stack.proc.pid)
            stack_desc = (f"capstan dev, {args.workers} worker(s), API {stack.api_url}, Temporal "
                          f"{stack.temporal_address}, embedded Postgres")
        ours = process_tree(stack.proc.pid) if stack is not None else set()  # an external stack's server counts too
        report["machine"] = machine_info(args.python, mode)
        report["other_dev_servers"] = other_dev_servers(ours)
        report["stack"] = stack_desc
        report["options"] = {"clients": args.clients, "seconds": args.seconds, "requests": args.requests,
                             "rounds": args.rounds, "repeats": args.repeats, "workers": args.workers,
                             "diagnose": args.diagnose, "steps_clients": args.steps_clients,
                             "only": sorted(only)}
        measure_on_this_tree(report, run_measurements(args, only, target, work_dir, sampler, report))
    return bench.code


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
