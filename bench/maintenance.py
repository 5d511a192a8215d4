#!/usr/bin/env python3
"""Capstan's maintenance surface: how long a fork's patches take to land on a new upstream release,
and how fast a burst of feed entries goes through intake, dispatch and attempts.

1. rebase  A git ``release`` feed source on a local upstream, its target a fork whose ``patches``
           branch carries --patches commits. Per repeat: tag a new upstream release, ``POST
           /feed-sources/{id}/poll``, await the intake's dispatch workflow and the
           ``patch-stack-rebase`` run, then read the attempt through the API (it must be
           ``changed`` with its candidate ref pushed, checked with git). Beside it, a plain shell
           script does the same git work (fetch the tag and the patch branch, cherry-pick, push).
2. burst   A second git ``release`` source, primed, whose upstream gets --burst new tags at once;
           its target names no fork, so every attempt ends ``skipped`` at dispatch. One ``POST
           .../poll``, then await every dispatch workflow: events per second from the poll until
           the last attempt is written.

It starts its own stack (``python -m capstan dev`` on free loopback ports, a temporary data dir,
``CAPSTAN_FEED_SOURCES_PATH`` set to the two sources) and stops it at the end.

    make bench-maintenance
    make bench-maintenance ARGS="--repeats 10 --patches 20 --burst 500 --json /tmp/maintenance.json"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the project's packages importable
    sys.path.insert(0, str(REPO))

from bench.measure import percentile  # noqa: E402
from bench.repos import GIT_ENV, git  # noqa: E402
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

REQUEST_TIMEOUT = 60.0
RUN_TIMEOUT = 300.0           # seconds, one rebase from the poll to the attempt
BURST_TIMEOUT = 600.0         # seconds, the whole burst
REBASE_SOURCE = "bench-rebase"
BURST_SOURCE = "bench-burst"
PATCH_BRANCH = "patches"


# --- repositories ----------------------------------------------------------------------------------

class Upstream:
    """A bare upstream and the work tree that tags and pushes its releases."""

    def __init__(self, root: Path, name: str) -> None:
        self.work = root / f"{name}-work"
        self.bare = root / f"{name}.git"
        self.work.mkdir(parents=True)
        git("init", "-q", "-b", "main", cwd=self.work)
        (self.work / "app.txt").write_text("app v1\n")
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", "initial", cwd=self.work)
        git("tag", "v1.0.0", cwd=self.work)
        git("clone", "-q", "--bare", str(self.work), str(self.bare), cwd=root)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    def release(self, tags: list[str]) -> str:
        """One new commit upstream, tagged with every tag in ``tags``, pushed at once."""
        (self.work / "app.txt").write_text(f"app {tags[0]}\n")
        git("commit", "-q", "-am", f"release {tags[0]}", cwd=self.work)
        for tag in tags:
            git("tag", tag, cwd=self.work)
        git("push", "-q", "origin", "HEAD:refs/heads/main", *tags, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def make_fork(root: Path, upstream: Upstream, name: str, patches: int) -> Path:
    """A bare fork of ``upstream`` whose patch branch holds ``patches`` commits on v1.0.0, each
    adding a file of its own (so no release of the benchmark conflicts with them)."""
    fork = root / f"{name}.git"
    git("clone", "-q", "--bare", str(upstream.bare), str(fork), cwd=root)
    work = root / f"{name}-work"
    git("clone", "-q", str(fork), str(work), cwd=root)
    git("checkout", "-q", "-b", PATCH_BRANCH, "v1.0.0", cwd=work)
    for n in range(1, patches + 1):
        (work / f"patch-{n:02d}.txt").write_text(f"patch {n}\n")
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", f"patch {n}", cwd=work)
    git("push", "-q", "origin", PATCH_BRANCH, cwd=work)
    return fork


def feed_source(source_id: str, upstream: Upstream, payload: dict[str, Any]) -> dict[str, Any]:
    # A long interval: only the benchmark's own polls find the new tags.
    return {"id": source_id, "provider": "git", "url": str(upstream.bare), "event": "release",
            "pollIntervalSeconds": 3600,
            "repo": {"owner": "bench", "name": source_id, "fullName": f"bench/{source_id}",
                     "webUrl": f"https://git.example.invalid/bench/{source_id}"},
            "target": {"mode": "workspace_flow", "eventType": "upstream.release", "payload": payload}}


def event_id(source_id: str, tag: str) -> str:
    return f"patch:{source_id}:{tag}:upstream.release"


SHELL_BASELINE = """set -eu
git init -q '{work}'
cd '{work}'
git fetch -q '{upstream}' 'refs/tags/{tag}:refs/tags/{tag}'
git fetch -q '{fork}' '{branch}'
patches=$(git rev-parse FETCH_HEAD)
git checkout -q --detach '{tag}'
git cherry-pick $(git merge-base "$patches" '{tag}')..$patches >/dev/null
git push -q --force '{fork}' 'HEAD:refs/heads/shell-candidates/{tag}'
"""


def run_shell_baseline(work_dir: Path, upstream: Upstream, fork: Path, tag: str) -> float:
    """The same git work as one patch-stack-rebase, as a plain shell script in a fresh repository."""
    script = SHELL_BASELINE.format(work=work_dir / f"shell-{tag}", upstream=upstream.bare, fork=fork, tag=tag,
                                   branch=PATCH_BRANCH)
    started = time.perf_counter()
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **GIT_ENV}, cwd=work_dir, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"the shell baseline failed: {result.stderr.strip()[-300:]}")
    return elapsed


# --- the measurements ------------------------------------------------------------------------------

class Maintenance:
    """The API (admin token if set) and the Temporal client, with the waits the measurements share."""

    def __init__(self, stack: DevStackProcess, admin_token: str | None) -> None:
        self.stack = stack
        self.headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.http = None
        self.temporal = None

    async def __aenter__(self) -> Maintenance:
        import httpx
        from temporalio.client import Client
        from temporalio.contrib.pydantic import pydantic_data_converter

        self.http = httpx.AsyncClient(base_url=self.stack.api_url, headers=self.headers, timeout=REQUEST_TIMEOUT,
                                      trust_env=False)
        self.temporal = await asyncio.wait_for(Client.connect(self.stack.temporal_address,
                                                              data_converter=pydantic_data_converter),
                                               REQUEST_TIMEOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.aclose()

    @property
    def queue(self) -> str:
        from capstan.settings import TemporalSettings
        from capstan.temporal import WorkerSurfaceName, surface_task_queue

        return surface_task_queue(TemporalSettings(), WorkerSurfaceName.MAINTENANCE)

    async def poll(self, source_id: str) -> dict[str, Any]:
        response = await self.http.post(f"/feed-sources/{quote(source_id, safe='')}/poll")
        if response.status_code != 202:
            raise BenchError(f"POST /feed-sources/{source_id}/poll answered {response.status_code}: "
                             f"{response.text[:300]}")
        body = response.json()
        if body.get("error"):
            raise BenchError(f"the poll of {source_id} failed: {body['error']}")
        return body

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, params=params)
        if response.status_code != 200:
            raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def dispatched(self, event: str, timeout: float):
        """The intake's dispatch of ``event``, once its workflow has written the record and attempt."""
        from models.maintenance.workflow_io import DispatchOutcome, flow_event_dispatch_workflow_id

        handle = self.temporal.get_workflow_handle(flow_event_dispatch_workflow_id(self.queue, event),
                                                   result_type=DispatchOutcome)
        return await asyncio.wait_for(handle.result(), timeout)

    async def run_finished(self, run_id: str, timeout: float) -> str:
        from models.maintenance.workflow_io import workspace_run_workflow_id

        handle = self.temporal.get_workflow_handle(workspace_run_workflow_id(self.queue, run_id))
        return await asyncio.wait_for(handle.result(), timeout)


async def measure_rebase(api: Maintenance, args: argparse.Namespace, upstream: Upstream, fork: Path,
                         shell_fork: Path, work_dir: Path, sampler: CpuSampler) -> dict[str, Any]:
    await api.poll(REBASE_SOURCE)  # primes the source (or finds nothing new if a worker poll did)
    repeats = []
    for n in range(1, args.repeats + 1):
        tag = f"v1.{n}.0"
        tag_sha = upstream.release([tag])
        shell = run_shell_baseline(work_dir, upstream, shell_fork, tag)
        before = sampler.snapshot()
        started = time.perf_counter()
        polled = await api.poll(REBASE_SOURCE)
        poll_s = time.perf_counter() - started
        event = event_id(REBASE_SOURCE, tag)
        if polled["events"] != [event]:
            raise BenchError(f"the poll after {tag} stored {polled['events']}, not [{event!r}]")
        outcome = await api.dispatched(event, RUN_TIMEOUT)
        dispatch_s = time.perf_counter() - started
        for start in outcome.start_runs:
            await api.run_finished(start.run_id, RUN_TIMEOUT)
        [attempt] = (await api.get("/maintenance-attempts", eventId=event))["attempts"]
        total_s = time.perf_counter() - started
        cpu = CpuSampler.usage(before, sampler.snapshot())
        refs = [ref for ref in attempt.get("candidateRefs", []) if ref.get("pushed")]
        if attempt["status"] != "changed" or not refs:
            raise BenchError(f"the attempt for {tag} ended {attempt['status']}: {attempt.get('message')}")
        pushed = git("rev-parse", refs[0]["ref"], cwd=fork)
        applied = git("rev-list", "--count", f"{tag_sha}..{pushed}", cwd=fork)
        if pushed != refs[0]["sha"] or int(applied) != args.patches:
            raise BenchError(f"{refs[0]['ref']} on the fork is {pushed} with {applied} commits over {tag}")
        ratio = total_s / shell if shell > 0 else None
        repeats.append({"tag": tag, "capstan_seconds": round(total_s, 3), "poll_seconds": round(poll_s, 3),
                        "dispatch_seconds": round(dispatch_s, 3), "shell_seconds": round(shell, 3),
                        "ratio": round(ratio, 1) if ratio else None, "cpu_percent_of_one_core": cpu})
        log(f"rebase {n}/{args.repeats}: {tag} changed in {total_s:.2f}s (poll {poll_s:.2f}s, dispatched "
            f"{dispatch_s:.2f}s); shell {shell:.3f}s")
    capstan = [r["capstan_seconds"] for r in repeats]
    shell = [r["shell_seconds"] for r in repeats]
    return {"patches": args.patches, "repeats": repeats,
            "capstan_p50_seconds": percentile(capstan, 50), "capstan_max_seconds": max(capstan),
            "shell_p50_seconds": percentile(shell, 50), "shell_max_seconds": max(shell),
            "poll_p50_seconds": percentile([r["poll_seconds"] for r in repeats], 50),
            "dispatch_p50_seconds": percentile([r["dispatch_seconds"] for r in repeats], 50),
            "ratio_p50": round(statistics.median(r["ratio"] for r in repeats), 1)}


async def measure_burst(api: Maintenance, args: argparse.Namespace, upstream: Upstream,
                        sampler: CpuSampler) -> dict[str, Any]:
    await api.poll(BURST_SOURCE)  # primes the source: the tags that exist now make no events
    tags = [f"v2.0.{n}" for n in range(1, args.burst + 1)]
    upstream.release(tags)
    before = sampler.snapshot()
    started = time.perf_counter()
    polled = await api.poll(BURST_SOURCE)
    poll_s = time.perf_counter() - started
    expected = {event_id(BURST_SOURCE, tag) for tag in tags}
    if set(polled["events"]) != expected:
        raise BenchError(f"the poll stored {len(polled['events'])} events, expected {len(expected)}")
    gate = asyncio.Semaphore(32)
    done_at: list[float] = []

    async def one(event: str) -> None:
        async with gate:
            await api.dispatched(event, BURST_TIMEOUT)
        done_at.append(time.perf_counter() - started)

    await asyncio.wait_for(asyncio.gather(*(one(e) for e in expected)), BURST_TIMEOUT)
    total_s = max(done_at)
    cpu = CpuSampler.usage(before, sampler.snapshot())
    attempts = [a for a in (await api.get("/maintenance-attempts", limit="500"))["attempts"]
                if a["eventId"] in expected]
    statuses: dict[str, int] = {}
    for attempt in attempts:
        statuses[attempt["status"]] = statuses.get(attempt["status"], 0) + 1
    if len(attempts) != len(expected) or set(statuses) != {"skipped"}:
        raise BenchError(f"{len(attempts)} attempts for {len(expected)} events, statuses {statuses}")
    half = sorted(done_at)[len(done_at) // 2 - 1]
    log(f"burst: {args.burst} attempts in {total_s:.2f}s (poll answered after {poll_s:.2f}s)")
    return {"entries": args.burst, "poll_seconds": round(poll_s, 3), "all_attempts_seconds": round(total_s, 3),
            "half_attempts_seconds": round(half, 3), "events_per_second": round(args.burst / total_s, 1),
            "attempt_statuses": statuses, "cpu_percent_of_one_core": cpu}


# --- the report ------------------------------------------------------------------------------------

def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = ["", "Capstan maintenance benchmark",
             f"  date {m['date']}   commit {m['commit']}",
             f"  {m['platform']}, {m['cpu_count']} CPUs (nproc {m['nproc']}), Python {m['python']}, {m['git']}",
             f"  {m['temporal_cli']}; mode: {m['temporal_mode']}",
             f"  load average at start {fmt(m.get('loadavg_at_start'))}; other Temporal dev servers running on this "
             f"machine: {report.get('other_dev_servers', '?')}"]
    rebase = report.get("rebase")
    if rebase is not None:
        lines += ["", "1. New upstream tag → `changed` attempt with its candidate ref pushed "
                      f"({rebase.get('patches', '?')}-commit patch stack)"]
        if rebase.get("failed"):
            lines.append(f"  failed: {rebase['failed']}")
        else:
            lines.append(f"  {'tag':<10}{'capstan s':>11}{'poll s':>9}{'dispatch s':>12}{'shell s':>10}{'ratio':>8}")
            for r in rebase["repeats"]:
                lines.append(f"  {r['tag']:<10}{r['capstan_seconds']:>11.2f}{r['poll_seconds']:>9.2f}"
                             f"{r['dispatch_seconds']:>12.2f}{r['shell_seconds']:>10.3f}{fmt(r['ratio'], '.0f'):>8}")
            lines.append(f"  p50 {rebase['capstan_p50_seconds']:.2f}s, max {rebase['capstan_max_seconds']:.2f}s; "
                         f"shell p50 {rebase['shell_p50_seconds']:.3f}s, max {rebase['shell_max_seconds']:.3f}s; "
                         f"ratio p50 x{rebase['ratio_p50']:.0f}")
    burst = report.get("burst")
    if burst is not None:
        lines += ["", f"2. Burst: {burst.get('entries', '?')} new tags at once → intake → dispatch → attempts"]
        if burst.get("failed"):
            lines.append(f"  failed: {burst['failed']}")
        else:
            cpu = burst["cpu_percent_of_one_core"]
            lines += [f"  poll answered (events stored, dispatches started) after {burst['poll_seconds']:.2f}s",
                      f"  half the attempts written after {burst['half_attempts_seconds']:.2f}s, all after "
                      f"{burst['all_attempts_seconds']:.2f}s: {burst['events_per_second']:.1f} events/s",
                      f"  attempts: {burst['attempt_statuses']}",
                      "  CPU (% of one core): " + ", ".join(
                          f"{k} {cpu[k]:.0f}%" for k in ("temporal", "api", "worker", "postgres", "bench", "other")
                          if k in cpu) + f"; machine {cpu.get('machine_busy', 0):.0f}% busy"]
    for warning in report.get("warnings", []):
        lines += ["", f"WARNING: {warning}"]
    lines.append("")
    return "\n".join(lines)


# --- the run ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/maintenance.py", description=__doc__.split("\n\n")[0],
                                     epilog="See docs/performance.md, section Maintenance, for what the figures mean.")
    parser.add_argument("--repeats", type=int, default=5, help="new upstream tags rebased onto (default: %(default)s)")
    parser.add_argument("--patches", type=int, default=10, help="commits of the fork's patch stack "
                                                                "(default: %(default)s)")
    parser.add_argument("--burst", type=int, default=200, help="new tags at once for the burst (default: %(default)s)")
    parser.add_argument("--only", default="rebase,burst", help="rebase and/or burst (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of the stack (default: %(default)s)")
    parser.add_argument("--python", type=Path, default=VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable),
                        help="interpreter that runs `capstan dev` (default: %(default)s)")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data dir and the stack's log")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON to PATH")
    return parser


async def run(args: argparse.Namespace, only: set[str], stack: DevStackProcess, repos: dict[str, Any],
              work_dir: Path, report: dict[str, Any]) -> None:
    sampler = CpuSampler(stack.pid)
    async with Maintenance(stack, os.environ.get("CAPSTAN_PATCH_ADMIN_TOKEN")) as api:
        if "rebase" in only:
            try:
                report["rebase"] = await measure_rebase(api, args, repos["upstream"], repos["fork"],
                                                        repos["shell_fork"], work_dir, sampler)
            except (BenchError, TimeoutError) as exc:
                log(f"rebase failed: {exc!r}")
                report["rebase"] = {"failed": str(exc) or type(exc).__name__, "patches": args.patches}
        if "burst" in only:
            try:
                report["burst"] = await measure_burst(api, args, repos["burst"], sampler)
            except (BenchError, TimeoutError) as exc:
                log(f"burst failed: {exc!r}")
                report["burst"] = {"failed": str(exc) or type(exc).__name__, "entries": args.burst}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if not only or only - {"rebase", "burst"}:
        parser.error("--only takes rebase and/or burst")
    if not (1 <= args.repeats <= 100 and 1 <= args.patches <= 500 and 1 <= args.burst <= 500):
        parser.error("out-of-range option: --repeats 1-100, --patches 1-500, --burst 1-500 (one poll hands on "
                     "at most 500 events)")
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM ends the run like Ctrl-C: the stack is stopped
    work_dir = Path(tempfile.mkdtemp(prefix="capstan-maintenance-"))
    os.chmod(work_dir, 0o755)  # embedded Postgres may run as its own system user under root
    report: dict[str, Any] = {}
    with BenchRun(work_dir, report, args.keep_data, render, args.json) as bench:
        repos_dir = work_dir / "repos"
        upstream = Upstream(repos_dir, "upstream")
        repos = {"upstream": upstream, "fork": make_fork(repos_dir, upstream, "fork", args.patches),
                 "shell_fork": make_fork(repos_dir, upstream, "shell-fork", args.patches),
                 "burst": Upstream(repos_dir, "burst-upstream")}
        sources = work_dir / "feed-sources.json"
        sources.write_text(json.dumps({"sources": [
            feed_source(REBASE_SOURCE, upstream, {"forkUrl": str(repos["fork"]), "patchBranch": PATCH_BRANCH}),
            feed_source(BURST_SOURCE, repos["burst"], {})]}))
        stack = bench.stack = DevStackProcess(args.python, args.workers, work_dir,
                                              {**os.environ, "CAPSTAN_FEED_SOURCES_PATH": str(sources)})
        stack.start()
        report["machine"] = machine_info(args.python, "Temporal dev server (SQLite file), started by capstan dev")
        report["other_dev_servers"] = other_dev_servers(process_tree(stack.pid))
        report["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                             if k not in ("json", "python")}
        measure_on_this_tree(report, run(args, only, stack, repos, work_dir, report))
    return bench.code


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
