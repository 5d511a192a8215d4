#!/usr/bin/env python3
"""Capstan's coding-tasks surface: how many signed issue comments the API takes in per second, and how
long a comment takes to become a pull request with the mock agent.

1. intake  A stack with no worker (``capstan dev --workers 0``): the workflows the API starts wait, no
           runner runs, so only the API's intake is measured (signature, decision table reads, the start
           of the run's workflow with the request in its input; the run records the task itself, once a
           worker comes). --clients closed-loop clients post --deliveries signed ``issue_comment``
           deliveries, each on an issue of its own (202 ``accepted`` with its taskId); then as many
           copies of one accepted delivery (202 ``duplicate``: Temporal refuses a second start of the
           comment's workflow id). Every answer is checked; so are two runs (workflow running, nothing
           recorded yet) and the number of workflows.
2. e2e     A second stack with --workers workers. --tasks comments ``@capstan mock …``, --parallel at a
           time: from the delivery until the fake GitHub has the pull request of ``capstan/<executionId>``,
           and until the run's workflow ends ``success``; the branch is checked in the bare repository.
           Beside it, a plain shell script does the same git work (clone --depth 1, branch, write a file,
           commit, push), as many at a time.

GitHub is the tests' fake (tests/fakes/github.py) over real HTTP in this process; repositories are bare
repositories on the local disk. Each stack is ``python -m capstan dev`` on free loopback ports and a
temporary data dir, with the fake's settings, a generated webhook secret and callbacks to its own API.

    make bench-tasks
    make bench-tasks ARGS="--only intake --deliveries 5000 --clients 32"
    make bench-tasks ARGS="--tasks 40 --parallel 8 --json /tmp/tasks.json"
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the project's packages importable
    sys.path.insert(0, str(REPO))

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
from bench.tasks_measure import measure_e2e, measure_intake  # noqa: E402
from bench.tasks_world import GitHubWorld, TasksApi  # noqa: E402

MEASUREMENTS = ("intake", "e2e")
CPU_ORDER = ("api", "temporal", "worker", "postgres", "supervisor", "bench", "other")


# --- the report ------------------------------------------------------------------------------------

def cpu_line(cpu: dict[str, float]) -> str:
    parts = [f"{k} {cpu[k]:.0f}%" for k in CPU_ORDER if k in cpu and (cpu[k] >= 0.5 or k in ("api", "temporal"))]
    return "CPU (% of one core): " + ", ".join(parts) + f"; machine {cpu.get('machine_busy', 0):.0f}% busy"


def render_intake(data: dict[str, Any]) -> list[str]:
    lines = [f"  {data['clients']} clients (after {data['warmup']} warm-up deliveries); latency of each POST"]
    lines.append(f"  {'deliveries':<22}{'count':>7}{'per s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for key, label in (("accepted", "new task (accepted)"), ("duplicate", "duplicate (refused)")):
        if key in data:
            d = data[key]
            lines.append(f"  {label:<22}{d['ok']:>7}{d['ok_per_second']:>9.1f}{fmt(d['p50_ms'], '.1f'):>9}"
                         f"{fmt(d['p95_ms'], '.1f'):>9}{fmt(d['p99_ms'], '.1f'):>9}{fmt(d['max_ms'], '.1f'):>9}")
            lines.append(f"      {cpu_line(d['cpu_percent_of_one_core'])}")
            per = d.get("cpu_ms_per_ok", {})
            lines.append("      CPU ms per delivery: " + ", ".join(
                f"{k} {per[k]:.2f}" for k in CPU_ORDER[:-1] if per.get(k, 0) >= 0.005))
    lines.append(f"  workflows started on the tasks queue (none ran): {data['workflows_started']}")
    return lines


def render_e2e(data: dict[str, Any]) -> list[str]:
    lines = [f"  {data['tasks']} tasks, {data['parallel']} at a time: {data['wall_seconds']:.1f}s in all, "
             f"{data['tasks_per_minute']:.1f} tasks/min",
             f"  {'':<34}{'p50':>9}{'p95':>9}",
             f"  {'comment → PR opened (s)':<34}{data['pr_p50_seconds']:>9.2f}{data['pr_p95_seconds']:>9.2f}"
             f"   (max {data['pr_max_seconds']:.2f})",
             f"  {'comment → workflow done (s)':<34}{data['done_p50_seconds']:>9.2f}{data['done_p95_seconds']:>9.2f}",
             f"  {'shell: clone, commit, push (s)':<34}{data['shell_p50_seconds']:>9.3f}"
             f"{data['shell_p95_seconds']:>9.3f}",
             f"  {'ratio PR / shell':<34}{fmt(data['ratio_p50'], '.0f'):>9}{fmt(data['ratio_p95'], '.0f'):>9}",
             f"  of which: 202 after {data['accept_p50_ms']:.0f} ms, runner started (startedAt) after "
             f"{data['running_p50_seconds']:.2f}s (p50)",
             f"  {cpu_line(data['cpu_percent_of_one_core'])}"]
    b = data["breakdown"]
    lines.append(f"  per run, p50 (scheduled → closed, of which waiting for a worker slot); workflow tasks "
                 f"{fmt(b['workflow_tasks_p50_seconds'], '.2f')}s:")
    for name, a in b["activities"].items():
        calls = f" x{a['calls_per_run']:g}" if a["calls_per_run"] != 1 else ""
        lines.append(f"    {name + calls:<34}{a['p50_seconds']:>7.2f}s  (wait {a['p50_wait_seconds']:.2f}s)")
    return lines


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = ["", "Capstan coding-tasks benchmark",
             f"  date {m['date']}   commit {m['commit']}",
             f"  {m['platform']}, {m['cpu_count']} CPUs (nproc {m['nproc']}), Python {m['python']}, {m['git']}",
             f"  {m['temporal_cli']}; mode: {m['temporal_mode']}",
             f"  load average at start {fmt(m.get('loadavg_at_start'))}; other Temporal dev servers running on this "
             f"machine: {report.get('other_dev_servers', '?')}; the fake GitHub's CPU counts as bench"]
    titles = {"intake": "1. Intake: signed issue_comment deliveries, no worker on the tasks queue",
              "e2e": "2. End to end: `@capstan mock` comment → pull request on the fake GitHub"}
    for key in MEASUREMENTS:
        data = report.get(key)
        if data is None:
            continue
        lines += ["", titles[key] + (f" (stack: --workers {data['stack_workers']})" if "stack_workers" in data
                                     else "")]
        if data.get("failed"):
            lines.append(f"  failed: {data['failed']}")
        else:
            lines += (render_intake if key == "intake" else render_e2e)(data)
    for warning in report.get("warnings", []):
        lines += ["", f"WARNING: {warning}"]
    lines.append("")
    return "\n".join(lines)


# --- the run ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/tasks.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     epilog="See docs/performance.md for what the figures mean.")
    parser.add_argument("--only", default="intake,e2e", help="intake and/or e2e")
    parser.add_argument("--clients", type=int, default=16, help="intake: concurrent clients")
    parser.add_argument("--deliveries", type=int, default=2000, help="intake: deliveries of new tasks measured")
    parser.add_argument("--seconds", type=float, default=120.0, help="intake: at most this long per phase")
    parser.add_argument("--duplicates", action=argparse.BooleanOptionalAction, default=True,
                        help="intake: also post as many copies of one accepted delivery")
    parser.add_argument("--tasks", type=int, default=20, help="e2e: comments that become pull requests")
    parser.add_argument("--parallel", type=int, default=4, help="e2e: tasks at a time")
    parser.add_argument("--workers", type=int, default=1, help="e2e: worker processes of its stack")
    parser.add_argument("--python", type=Path, default=VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable),
                        help="interpreter that runs `capstan dev`")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data dirs and the stacks' logs")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON to PATH")
    return parser


async def run(args: argparse.Namespace, only: list[str], bench: BenchRun, world: GitHubWorld,
              work_dir: Path, report: dict[str, Any]) -> None:
    for key in only:
        workers = 0 if key == "intake" else args.workers
        stack_dir = work_dir / key
        stack_dir.mkdir()
        stack = bench.stack = DevStackProcess(args.python, workers, stack_dir, {})
        stack.env = world.stack_env(dict(os.environ), stack)
        stack.start()  # blocks the loop, which has nothing else to do meanwhile
        if "machine" not in report:
            report["machine"] = machine_info(args.python, "Temporal dev server (SQLite file), started by capstan dev")
            report["other_dev_servers"] = other_dev_servers(process_tree(stack.pid))
        sampler = CpuSampler(stack.pid)
        try:
            async with TasksApi(stack, world) as api:
                if key == "intake":
                    report[key] = await measure_intake(api, world, args, sampler)
                else:
                    report[key] = await measure_e2e(api, world, args, sampler, work_dir)
        except (BenchError, TimeoutError) as exc:
            log(f"{key} failed: {exc!r}")
            report[key] = {"failed": str(exc) or type(exc).__name__}
        report[key]["stack_workers"] = workers
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    only = [x for x in MEASUREMENTS if x in {y.strip() for y in args.only.split(",")}]
    if not only or {y.strip() for y in args.only.split(",") if y.strip()} - set(MEASUREMENTS):
        parser.error("--only takes intake and/or e2e")
    if not (1 <= args.clients <= 256 and 1 <= args.deliveries <= 100_000 and args.seconds > 0
            and 1 <= args.tasks <= 500 and 1 <= args.parallel <= 64 and 1 <= args.workers <= 16):
        parser.error("out-of-range option: --clients 1-256, --deliveries 1-100000, --seconds > 0, --tasks 1-500, "
                     "--parallel 1-64, --workers 1-16")
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM ends the run like Ctrl-C: the stack is stopped
    work_dir = Path(tempfile.mkdtemp(prefix="capstan-tasks-"))
    os.chmod(work_dir, 0o755)  # embedded Postgres may run as its own system user under root
    report: dict[str, Any] = {}
    world: GitHubWorld | None = None
    with BenchRun(work_dir, report, args.keep_data, render, args.json) as bench:
        try:
            world = GitHubWorld(work_dir / "repos")
            report["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                                 if k not in ("json", "python")}
            measure_on_this_tree(report, run(args, only, bench, world, work_dir, report))
        finally:
            if world is not None:
                world.close()
    failed = [key for key in only if (report.get(key) or {}).get("failed")]
    return bench.code or (1 if failed else 0)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
