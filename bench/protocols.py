#!/usr/bin/env python3
"""Capstan protocol benchmarks: what the API facade costs on top of Temporal, and what a
whole protocol costs on top of plain git.

Three measurements, each printed with the machine it ran on:

1. actions   POST /protocols/{id}/actions/pause|resume, alternating, from --clients concurrent
             HTTP clients (one protocol run each), beside the same "pause"/"resume" Temporal
             Updates sent directly with a temporalio client. Target: API/direct >= 0.8.
2. webhooks  signed GitHub ``workflow_run`` deliveries (POST /webhooks/github?protocol_run_id=),
             beside the same ``ci_report`` Signals sent directly. Target: API/direct >= 0.7.
3. e2e       a 5-step ``script`` protocol through the API (create, start, run_next_step, run_qa,
             approve; waiting with the ``wait_idle`` Update), beside a plain shell script doing
             the same git work. Reported as an overhead ratio (median of --repeats).

By default the benchmark starts its own stack (``python -m capstan dev`` on free loopback ports
in a temporary data dir, with a generated webhook secret) and stops it with SIGTERM at the end;
``--api``/``--temporal`` use a stack that is already running instead. All traffic goes to
loopback (or the URLs given); every phase is bounded by --seconds and --requests, every call
by a timeout, and the run stops by itself.

    make bench
    make bench ARGS="--seconds 10 --only actions --json /tmp/bench.json"
    .venv/bin/python bench/protocols.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the project's packages importable
    sys.path.insert(0, str(REPO))

VENV_PYTHON = REPO / ".venv" / "bin" / "python"
ACTIONS_TARGET = 0.8
WEBHOOKS_TARGET = 0.7
REQUEST_TIMEOUT = 60.0        # seconds, every single HTTP call or Temporal RPC
SETTLE_TIMEOUT = 180.0        # seconds, one wait_idle
STACK_START_TIMEOUT = 240.0   # seconds, until the "Capstan is up" banner
STACK_STOP_TIMEOUT = 90.0     # seconds, after SIGTERM
GIT_ENV = {"GIT_AUTHOR_NAME": "Capstan Bench", "GIT_AUTHOR_EMAIL": "bench@capstan.invalid",
           "GIT_COMMITTER_NAME": "Capstan Bench", "GIT_COMMITTER_EMAIL": "bench@capstan.invalid",
           "GIT_TERMINAL_PROMPT": "0"}
E2E_STEPS = 5
E2E_PROTOCOL = "bench"
STEP_FILE = """---
engine_id: script
---
# Bench step {n}

```sh
echo "line {n}" >> notes.txt
```

## QA

```sh
grep -q "line {n}" notes.txt
```
"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """The benchmark cannot go on (the stack did not start, setup failed); said in one line."""


# --- the machine ---------------------------------------------------------------------------------

def _run_text(args: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30, cwd=cwd, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip() if out.returncode == 0 else None


def loadavg() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def temporal_cli(python: Path) -> str | None:
    beside = python.parent / "temporal"
    return str(beside) if beside.exists() else shutil.which("temporal")


def other_dev_servers(exclude: set[int]) -> int:
    """``temporal server start-dev`` processes on this machine that are not ours: a hint that
    other test suites run at the same time."""
    count = 0
    for pid, (_, _, argv) in read_processes().items():
        if pid not in exclude and argv[:1] and argv[0].endswith("temporal") and "start-dev" in argv:
            count += 1
    return count


#: What the stack runs: changes elsewhere (bench/, docs/) do not make the figures stale.
CODE_PATHS = [".", ":!bench", ":!docs"]


def tree_fingerprint() -> str | None:
    """HEAD plus the uncommitted changes: the stack runs this working tree's code, and a
    worker whose files change under it fails its workflow tasks."""
    head = _run_text(["git", "rev-parse", "HEAD"], cwd=REPO)
    if head is None:
        return None
    diff = subprocess.run(["git", "diff", "HEAD", "--", *CODE_PATHS], cwd=REPO, capture_output=True, timeout=30,
                          check=False).stdout
    untracked = _run_text(["git", "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS],
                          cwd=REPO) or ""
    return f"{head}:{hashlib.sha256(diff + untracked.encode()).hexdigest()[:16]}"


def machine_info(python: Path, temporal_mode: str) -> dict[str, Any]:
    import httpx
    import temporalio

    cli = temporal_cli(python)
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count()
    commit = _run_text(["git", "rev-parse", "--short", "HEAD"], cwd=REPO)
    dirty = _run_text(["git", "status", "--porcelain", "--", *CODE_PATHS], cwd=REPO)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "nproc": affinity,
        "python": platform.python_version(),
        "temporal_cli": (_run_text([cli, "--version"]) if cli else None) or "unknown",
        "temporal_mode": temporal_mode,
        "temporalio": temporalio.__version__,
        "httpx": httpx.__version__,
        "git": _run_text(["git", "--version"]),
        "commit": f"{commit}{' (with uncommitted changes)' if dirty else ''}" if commit else None,
        "loadavg_at_start": loadavg(),
    }


# --- CPU accounting (Linux /proc; empty elsewhere) -----------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_processes() -> dict[int, tuple[int, float, list[str]]]:
    """pid → (ppid, CPU seconds of the process and its reaped children, argv)."""
    procs: dict[int, tuple[int, float, list[str]]] = {}
    if not os.path.isdir("/proc"):
        return procs
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            argv = [a.decode(errors="replace") for a in Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
                    if a]
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        # state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
        ticks = sum(int(x) for x in fields[11:15])
        procs[int(entry.name)] = (int(fields[1]), ticks / CLK_TCK, argv)
    return procs


def _role(argv: list[str], parent_role: str) -> str:
    head = argv[0] if argv else ""
    if head.startswith("postgres") or head.endswith("/postgres"):
        return "postgres"
    if head.endswith("temporal") and "server" in argv:
        return "temporal"
    if "capstan" in argv:
        for role in ("worker", "api", "dev"):
            if role in argv:
                return "supervisor" if role == "dev" else role
    return parent_role  # git, sh and other helpers count for the process that ran them


def system_cpu() -> tuple[float, float]:
    """(busy, total) core-seconds of the whole machine since boot."""
    try:
        with open("/proc/stat") as fh:
            values = [int(x) for x in fh.readline().split()[1:9]]
    except OSError:
        return 0.0, 0.0
    total = sum(values)
    busy = total - values[3] - values[4]  # minus idle and iowait
    return busy / CLK_TCK, total / CLK_TCK


class CpuSampler:
    """CPU used per stack role (API, worker, Temporal, Postgres), by this benchmark process
    and by the rest of the machine, between two snapshots."""

    def __init__(self, root_pid: int | None) -> None:
        self.root_pid = root_pid

    def snapshot(self) -> dict[str, float]:
        roles: Counter[str] = Counter()
        if self.root_pid is not None:
            procs = read_processes()
            children: dict[int, list[int]] = {}
            for pid, (ppid, _, _) in procs.items():
                children.setdefault(ppid, []).append(pid)
            stack = [(self.root_pid, "supervisor")]
            while stack:
                pid, parent_role = stack.pop()
                if pid not in procs:
                    continue
                _, cpu, argv = procs[pid]
                role = _role(argv, parent_role)
                roles[role] += cpu
                stack.extend((child, role) for child in children.get(pid, []))
        times = os.times()
        roles["bench"] = times.user + times.system
        busy, total = system_cpu()
        roles["_busy"], roles["_total"] = busy, total
        roles["_wall"] = time.monotonic()
        return dict(roles)

    @staticmethod
    def usage(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """Percent of one core per role; ``machine_busy`` in percent of all cores; ``other`` =
        core-percent used on the machine outside the stack and this benchmark."""
        wall = after["_wall"] - before["_wall"]
        if wall <= 0:
            return {}
        out = {role: round(100 * (after.get(role, 0.0) - before.get(role, 0.0)) / wall, 1)
               for role in after if not role.startswith("_")}
        busy = after["_busy"] - before["_busy"]
        total = after["_total"] - before["_total"]
        if total > 0:
            cores = os.cpu_count() or 1
            out["machine_busy"] = round(100 * busy / total, 1)
            out["other"] = round(max(0.0, 100 * busy / total * cores - sum(
                v for k, v in out.items() if k not in ("machine_busy",))), 1)
        return out


# --- the stack -----------------------------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


class DevStackProcess:
    """``python -m capstan dev`` as a child process, on free loopback ports and a temporary data dir."""

    def __init__(self, python: Path, workers: int, work_dir: Path, env: dict[str, str]) -> None:
        self.python = python
        self.workers = workers
        self.data_dir = work_dir / "stack"
        self.log_path = work_dir / "capstan-dev.log"
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.ready = threading.Event()
        self.reader: threading.Thread | None = None
        api, temporal, ui, postgres = free_ports(4)
        self.api_url = f"http://127.0.0.1:{api}"
        self.temporal_address = f"127.0.0.1:{temporal}"
        self.ports = {"api": api, "temporal": temporal, "ui": ui, "postgres": postgres}

    def command(self) -> list[str]:
        p = self.ports
        return [str(self.python), "-m", "capstan", "dev", "--data-dir", str(self.data_dir),
                "--api-port", str(p["api"]), "--temporal-port", str(p["temporal"]), "--ui-port", str(p["ui"]),
                "--postgres-port", str(p["postgres"]), "--worker-metrics-port", "0", "--workers", str(self.workers)]

    def _pump(self) -> None:
        """Copy the stack's output (banner, API and worker logs) to the log file; the pipe
        must never fill up or the stack would block on writing its logs."""
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_path, "ab") as out:
            for line in self.proc.stdout:
                out.write(line)
                if not self.ready.is_set():
                    out.flush()
                    if b"Capstan is up" in line:
                        self.ready.set()

    def start(self) -> None:
        log(f"starting the stack: {' '.join(self.command())}")
        started = time.monotonic()
        self.proc = subprocess.Popen(self.command(), cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.reader = threading.Thread(target=self._pump, name="capstan-dev-log", daemon=True)
        self.reader.start()
        deadline = started + STACK_START_TIMEOUT
        while not self.ready.wait(0.5):
            if self.proc.poll() is not None:
                raise BenchError(f"capstan dev exited with code {self.proc.returncode} while starting; "
                                 f"see {self.log_path}:\n{tail(self.log_path)}")
            if time.monotonic() > deadline:
                raise BenchError(f"capstan dev did not print its banner within {STACK_START_TIMEOUT:.0f}s; "
                                 f"see {self.log_path}")
        log(f"stack up in {time.monotonic() - started:.1f}s (API {self.api_url}, Temporal {self.temporal_address}, "
            f"log {self.log_path})")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        log("stopping the stack (SIGTERM)")
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STACK_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log(f"capstan dev (pid {self.proc.pid}) did not stop within {STACK_STOP_TIMEOUT:.0f}s; killing it. "
                "Its children may outlive it; see the log")
            self.proc.kill()
            self.proc.wait(10)
        if self.reader is not None:
            self.reader.join(10)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- git -----------------------------------------------------------------------------------------

def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                            env={**os.environ, **GIT_ENV}, check=False)
    if result.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


def make_bare_remote(root: Path, name: str, files: dict[str, str]) -> Path:
    """A bare repository holding ``files`` in one commit on main."""
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    for path, content in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "initial", cwd=work)
    bare = root / f"{name}.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    shutil.rmtree(work)
    return bare


def e2e_files() -> dict[str, str]:
    files = {f".protocols/{E2E_PROTOCOL}/{n:02d}-step.md": STEP_FILE.format(n=n) for n in range(1, E2E_STEPS + 1)}
    files["README.md"] = "bench\n"
    return files


SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def shell_baseline_script(remote: Path, work: Path, files: dict[str, str]) -> str:
    """The same git work as the protocol, as a plain shell script: clone once, then per step
    run its sh block, commit, push the protocol branch and run its QA block."""
    lines = ["set -eu", f"git clone -q '{remote}' '{work}'", f"cd '{work}'", f"git checkout -q -b {E2E_PROTOCOL}"]
    for n in range(1, E2E_STEPS + 1):
        script, qa = SH_BLOCK.findall(files[f".protocols/{E2E_PROTOCOL}/{n:02d}-step.md"])
        lines += [f"# step {n}", script.strip(), "git add -A", f"git commit -q -m 'bench step {n}'",
                  f"git push -q origin {E2E_PROTOCOL}", qa.strip()]
    return "\n".join(lines) + "\n"


# --- measuring -----------------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str                 # "ok" | "conflict" | "error"
    detail: str | None = None


OK = Outcome("ok")


@dataclass
class PhaseResult:
    measurement: str
    path: str                 # "api" | "direct"
    round: int
    clients: int
    wall_seconds: float = 0.0
    ok: int = 0
    conflicts: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)   # successful calls only
    cpu: dict[str, float] = field(default_factory=dict)
    drain_seconds: float | None = None
    cpu_with_drain: dict[str, float] = field(default_factory=dict)   # phase + drain, % of one core
    timed_out: bool = False
    cpu_before: dict[str, float] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        return {"measurement": self.measurement, "path": self.path, "round": self.round, "clients": self.clients,
                "wall_seconds": round(self.wall_seconds, 3), "ok": self.ok, "conflicts": self.conflicts,
                "errors": self.errors, "ok_per_second": round(rate(self.ok, self.wall_seconds), 1),
                **percentiles(self.latencies_ms), "error_kinds": self.error_kinds,
                "error_samples": self.error_samples, "cpu_percent_of_one_core": self.cpu,
                "drain_seconds": self.drain_seconds, "cpu_with_drain_percent_of_one_core": self.cpu_with_drain,
                "timed_out": self.timed_out}


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))  # nearest rank
    return ordered[index]


def percentiles(latencies: list[float]) -> dict[str, float | None]:
    def r(v: float | None) -> float | None:
        return round(v, 1) if v is not None else None
    return {"p50_ms": r(percentile(latencies, 50)), "p99_ms": r(percentile(latencies, 99)),
            "max_ms": r(max(latencies) if latencies else None)}


async def closed_loop(result: PhaseResult, seconds: float, max_requests: int | None,
                      op: Callable[[int], Awaitable[Outcome]], sampler: CpuSampler) -> PhaseResult:
    """``result.clients`` clients each send one request at a time until ``seconds`` have passed
    or ``max_requests`` were sent in all."""
    issued = 0
    started = time.monotonic()
    deadline = started + seconds

    async def client(i: int) -> None:
        nonlocal issued
        while time.monotonic() < deadline and (max_requests is None or issued < max_requests):
            issued += 1
            t0 = time.perf_counter()
            try:
                outcome = await op(i)
            except Exception as exc:  # noqa: BLE001 - counted, never fatal
                outcome = Outcome("error", f"{type(exc).__name__}: {exc}")
            elapsed_ms = (time.perf_counter() - t0) * 1000
            if outcome.kind == "ok":
                result.ok += 1
                result.latencies_ms.append(elapsed_ms)
            elif outcome.kind == "conflict":
                result.conflicts += 1
            else:
                result.errors += 1
                key = (outcome.detail or "error").split(":")[0][:80]
                result.error_kinds[key] = result.error_kinds.get(key, 0) + 1
                if len(result.error_samples) < 5:
                    result.error_samples.append((outcome.detail or "")[:300])

    before = result.cpu_before = sampler.snapshot()
    tasks = [asyncio.create_task(client(i)) for i in range(result.clients)]
    _, pending = await asyncio.wait(tasks, timeout=seconds + REQUEST_TIMEOUT + 30)
    for task in pending:  # only if a call outlived its own timeout
        task.cancel()
        result.timed_out = True
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    result.wall_seconds = time.monotonic() - started
    result.cpu = CpuSampler.usage(before, sampler.snapshot())
    return result


def combine(phases: list[PhaseResult]) -> dict[str, Any]:
    """One path's rounds taken together: requests over total wall time, latencies pooled."""
    wall = sum(p.wall_seconds for p in phases)
    latencies = [x for p in phases for x in p.latencies_ms]
    ok = sum(p.ok for p in phases)
    cpu_roles = {k for p in phases for k in p.cpu}
    cpu = {k: round(sum(p.cpu.get(k, 0.0) * p.wall_seconds for p in phases) / wall, 1) if wall else 0.0
           for k in sorted(cpu_roles)}
    drains = [p.drain_seconds for p in phases if p.drain_seconds is not None]
    kinds: Counter[str] = Counter()
    for p in phases:
        kinds.update(p.error_kinds)
    # CPU milliseconds each role spent per successful request (during the phase itself).
    per_ok = {k: round(v / 100 * wall * 1000 / ok, 2) for k, v in cpu.items() if k != "machine_busy"} if ok else {}
    out = {"rounds": len(phases), "wall_seconds": round(wall, 2), "ok": ok,
           "conflicts": sum(p.conflicts for p in phases), "errors": sum(p.errors for p in phases),
           "ok_per_second": round(rate(ok, wall), 1), **percentiles(latencies), "error_kinds": dict(kinds),
           "cpu_percent_of_one_core": cpu, "cpu_ms_per_ok": per_ok}
    if drains:
        out["drain_seconds"] = round(sum(drains), 2)
        out["processed_per_second"] = round(rate(ok, wall + sum(drains)), 1)
        # CPU ms per request until the backlog was processed (phase + drain).
        spans = [(p.wall_seconds + (p.drain_seconds or 0.0), p.cpu_with_drain) for p in phases]
        roles = {k for _, c in spans for k in c if k != "machine_busy"}
        out["cpu_ms_per_ok_with_drain"] = {k: round(sum(c.get(k, 0.0) / 100 * t for t, c in spans) * 1000 / ok, 2)
                                           for k in sorted(roles)} if ok else {}
    return out


# --- talking to the stack ------------------------------------------------------------------------

@dataclass
class Target:
    api_url: str
    temporal_address: str
    namespace: str
    api_token: str | None
    webhook_secret: str | None


class Bench:
    def __init__(self, args: argparse.Namespace, target: Target, work_dir: Path, sampler: CpuSampler) -> None:
        self.args = args
        self.target = target
        self.work_dir = work_dir
        self.sampler = sampler
        self.headers = {"Authorization": f"Bearer {target.api_token}"} if target.api_token else {}
        self.http = None
        self.temporal = None

    # plumbing

    async def __aenter__(self) -> Self:
        import httpx
        from temporalio.client import Client
        from temporalio.contrib.pydantic import pydantic_data_converter

        self.http = httpx.AsyncClient(base_url=self.target.api_url, headers=self.headers,
                                      timeout=REQUEST_TIMEOUT, trust_env=False)
        # The same payload converter as the API and the worker.
        self.temporal = await asyncio.wait_for(
            Client.connect(self.target.temporal_address, namespace=self.target.namespace,
                           data_converter=pydantic_data_converter), REQUEST_TIMEOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.aclose()

    def client_pool(self) -> list:
        """One keep-alive HTTP client per benchmark client, as separate callers would have."""
        import httpx

        return [httpx.AsyncClient(base_url=self.target.api_url, headers=self.headers, timeout=REQUEST_TIMEOUT,
                                  trust_env=False, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
                for _ in range(self.args.clients)]

    async def post(self, path: str, expect: int = 200, **kwargs) -> dict[str, Any]:
        response = await self.http.post(path, **kwargs)
        if response.status_code != expect:
            raise BenchError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def get(self, path: str, **kwargs) -> Any:
        response = await self.http.get(path, **kwargs)
        if response.status_code != 200:
            raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def check_api(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(Exception):  # retried until the deadline
                if (await self.http.get("/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise BenchError(f"the API at {self.target.api_url} does not answer /healthz")
            await asyncio.sleep(0.5)

    async def create_project(self, name: str, remote: Path) -> dict[str, Any]:
        return await self.post("/projects", json={"name": name, "git_url": str(remote), "base_branch": "main"})

    async def wait_project_setup(self, project_id: int) -> None:
        """Let the setup workflow (a clone into the worker's cache) finish before measuring."""
        from models.protocols.workflow_io import project_setup_workflow_id

        handle = self.temporal.get_workflow_handle(project_setup_workflow_id(project_id))
        with contextlib.suppress(Exception):
            await handle.result(rpc_timeout=timedelta(seconds=SETTLE_TIMEOUT))

    async def create_runs(self, project_id: int, prefix: str, count: int) -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(4)

        async def one(i: int) -> dict[str, Any]:
            async with gate:
                return await self.post(f"/projects/{project_id}/protocols",
                                       json={"protocol_name": f"{prefix}-{i:03d}", "description": "benchmark run"})
        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def settle(self, run_id: int) -> str | None:
        """The ``wait_idle`` Update: returns once the work the run's actions started is done."""
        from models.protocols.workflow_io import Update, protocol_run_workflow_id

        handle = self.temporal.get_workflow_handle(protocol_run_workflow_id(run_id))
        return await handle.execute_update(Update.WAIT_IDLE, result_type=str,
                                           rpc_timeout=timedelta(seconds=SETTLE_TIMEOUT))

    async def drain(self, run_ids: list[int], timeout: float) -> float:
        """Wait until no run has a pending activity or workflow task (the signals sent are
        processed); returns the seconds it took."""
        from models.protocols.workflow_io import protocol_run_workflow_id

        started = time.monotonic()
        gate = asyncio.Semaphore(8)

        async def busy(run_id: int) -> bool:
            async with gate:
                desc = await self.temporal.get_workflow_handle(protocol_run_workflow_id(run_id)).describe(
                    rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT))
            raw = desc.raw_description
            if raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt >= 3:
                # A failing workflow task never drains (e.g. the code changed under a running worker).
                raise BenchError(f"workflow tasks of protocol run {run_id} are failing (attempt "
                                 f"{raw.pending_workflow_task.attempt}); see the worker log")
            return bool(raw.pending_activities) or raw.HasField("pending_workflow_task")

        while time.monotonic() - started < timeout:
            flags = await asyncio.gather(*(busy(r) for r in run_ids), return_exceptions=True)
            failing = next((f for f in flags if isinstance(f, BenchError)), None)
            if failing is not None:
                raise failing
            if not any(f is True or isinstance(f, Exception) for f in flags):
                return time.monotonic() - started
            await asyncio.sleep(0.5)
        log(f"runs still busy after {timeout:.0f}s of draining; going on")
        return time.monotonic() - started

    # shared by 1. and 2.

    def paths(self) -> list[str]:
        return ["api", "direct"] + (["with_start"] if self.args.diagnose else [])

    def start_kwargs(self, project: dict[str, Any], run: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The workflow input and start options the API sends with every action and CI report
        (``api/services/protocol_workflows.py``), built once from the records the API returned,
        for the ``with_start`` diagnostic path."""
        from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

        from models.common import search_attributes as sa
        from models.protocols.workflow_io import (
            ProjectSnapshot,
            ProtocolRunInput,
            ProtocolRunSnapshot,
            RunOptions,
            protocol_run_workflow_id,
        )

        wf_input = ProtocolRunInput(
            project=ProjectSnapshot(id=project["id"], name=project["name"], git_url=project["git_url"],
                                    base_branch=project["base_branch"], ci_provider=project.get("ci_provider")),
            run=ProtocolRunSnapshot(id=run["id"], protocol_name=run["protocol_name"], status=run["status"],
                                    base_branch=run["base_branch"], description=run.get("description")),
            options=RunOptions())
        kwargs = {"id": protocol_run_workflow_id(run["id"]), "task_queue": self.args.task_queue,
                  "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
                  "search_attributes": TypedSearchAttributes([
                      SearchAttributePair(sa.PROJECT_ID, project["id"]),
                      SearchAttributePair(sa.PROTOCOL_RUN_ID, run["id"]),
                      SearchAttributePair(sa.RUN_KIND, "protocol_run"),
                      SearchAttributePair(sa.STATUS, run["status"])])}
        return wf_input, kwargs

    async def run_paths(self, measurement: str, ops: Callable[[str], Awaitable[Callable[[int], Awaitable[Outcome]]]],
                        after: Callable[[PhaseResult], Awaitable[None]] | None = None) -> dict[str, list[PhaseResult]]:
        """Every path once per round, the order rotating from round to round so that no path
        always runs first (on a cold server) or last (on a grown database)."""
        paths = self.paths()
        phases: dict[str, list[PhaseResult]] = {p: [] for p in paths}
        for round_no in range(self.args.rounds):
            shift = round_no % len(paths)
            for path in paths[shift:] + paths[:shift]:
                op = await ops(path)
                log(f"{measurement} round {round_no + 1}/{self.args.rounds}: {path} ...")
                result = await closed_loop(PhaseResult(measurement, path, round_no + 1, self.args.clients),
                                           self.args.seconds, self.args.requests, op, self.sampler)
                if after is not None:
                    await after(result)
                phases[path].append(result)
                drained = f", backlog drained in {result.drain_seconds:.1f}s" if result.drain_seconds is not None \
                    else ""
                log(f"  {path}: {rate(result.ok, result.wall_seconds):.1f} ok/s, "
                    f"p50 {percentile(result.latencies_ms, 50) or 0:.0f} ms, {result.conflicts} conflicts, "
                    f"{result.errors} errors{drained}")
        return phases

    def summarize(self, phases: dict[str, list[PhaseResult]], target: float) -> dict[str, Any]:
        out: dict[str, Any] = {"clients": self.args.clients, "seconds_per_phase": self.args.seconds}
        for path, results in phases.items():
            out[path] = combine(results)
        direct = out["direct"]["ok_per_second"]
        ratio = out["api"]["ok_per_second"] / direct if direct else None
        out.update({"ratio": round(ratio, 3) if ratio is not None else None, "target": target,
                    "met": ratio is not None and ratio >= target})
        if "with_start" in out and out["with_start"]["ok_per_second"]:
            out["ratio_api_to_with_start"] = round(out["api"]["ok_per_second"] / out["with_start"]["ok_per_second"],
                                                   3)
        out["phases"] = [p.summary() for results in phases.values() for p in results]
        return out

    # 1. actions

    async def measure_actions(self) -> dict[str, Any]:
        from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
        from temporalio.exceptions import ApplicationError

        from models.protocols.workflow_io import Update, UpdateErrorType, WorkflowName, protocol_run_workflow_id

        n = self.args.clients
        remote = make_bare_remote(self.work_dir, "actions", {"README.md": "bench\n"})
        project = await self.create_project("bench-actions", remote)
        await self.wait_project_setup(project["id"])
        runs = await self.create_runs(project["id"], f"bench-actions-{project['id']}", n)
        run_ids = [r["id"] for r in runs]
        log(f"actions: {n} protocol runs created (ids {min(run_ids)}..{max(run_ids)})")
        handles = [self.temporal.get_workflow_handle(protocol_run_workflow_id(r)) for r in run_ids]
        starts = [self.start_kwargs(project, r) for r in runs]
        next_action = [Update.PAUSE] * n

        def flip(i: int) -> None:
            next_action[i] = Update.RESUME if next_action[i] == Update.PAUSE else Update.PAUSE

        # Warm-up: one action per run through each path (pause via the API, resume directly).
        await asyncio.gather(*(self.post(f"/protocols/{r}/actions/pause") for r in run_ids))
        await asyncio.gather(*(h.execute_update(Update.RESUME, result_type=dict,
                                                rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT)) for h in handles))
        pool = self.client_pool()

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
            return await temporal_update(i, lambda: self.temporal.execute_update_with_start_workflow(
                next_action[i], start_workflow_operation=operation, result_type=dict,
                rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT)))

        async def ops(path: str) -> Callable[[int], Awaitable[Outcome]]:
            await self.drain(run_ids, 30)  # every run idle and healthy before a phase
            return {"api": via_api, "direct": direct, "with_start": with_start}[path]

        try:
            phases = await self.run_paths("actions", ops)
        finally:
            await asyncio.gather(*(c.aclose() for c in pool))
        return self.summarize(phases, ACTIONS_TARGET)

    # 2. webhooks

    def signed_delivery(self, branch: str) -> tuple[bytes, dict[str, str]]:
        payload = {"action": "completed",
                   "workflow_run": {"conclusion": "success", "status": "completed", "head_branch": branch}}
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "workflow_run",
                   "X-GitHub-Delivery": str(uuid.uuid4())}
        if self.target.webhook_secret:
            digest = hmac.new(self.target.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        return body, headers

    async def measure_webhooks(self) -> dict[str, Any]:
        from models.protocols.workflow_io import CiOutcome, CiReport, Signal, WorkflowName, protocol_run_workflow_id

        n = self.args.clients
        remote = make_bare_remote(self.work_dir, "webhooks", {"README.md": "bench\n"})
        project = await self.create_project("bench-webhooks", remote)
        await self.wait_project_setup(project["id"])

        # Is the route there? One signed delivery to a throwaway run.
        [probe] = await self.create_runs(project["id"], f"bench-probe-{project['id']}", 1)
        body, headers = self.signed_delivery(probe["protocol_name"])
        answer = await self.http.post("/webhooks/github", params={"protocol_run_id": probe["id"]}, content=body,
                                      headers=headers)
        if answer.status_code != 200:
            reason = f"POST /webhooks/github answered {answer.status_code}: {answer.text[:200]}"
            log(f"webhooks: skipped; {reason}")
            return {"skipped": True, "reason": reason}

        def report(branch: str) -> CiReport:
            return CiReport(outcome=CiOutcome.SUCCESS, source="github", event_name="workflow_run", status="success",
                            delivery_id=str(uuid.uuid4()), branch=branch)

        pool = self.client_pool()
        current: dict[str, list[int]] = {}
        phase_no = 0

        async def ops(path: str) -> Callable[[int], Awaitable[Outcome]]:
            # Fresh runs for every phase: no phase works on a history another one grew.
            nonlocal phase_no
            phase_no += 1
            runs = await self.create_runs(project["id"], f"bench-hooks-{project['id']}-{phase_no}", n)
            ids = [r["id"] for r in runs]
            names = [r["protocol_name"] for r in runs]
            handles = [self.temporal.get_workflow_handle(protocol_run_workflow_id(r)) for r in ids]
            starts = [self.start_kwargs(project, r) for r in runs]
            current["ids"] = ids
            await self.drain(ids, 60)

            async def via_api(i: int) -> Outcome:
                body, headers = self.signed_delivery(names[i])
                response = await pool[i].post("/webhooks/github", params={"protocol_run_id": ids[i]},
                                              content=body, headers=headers)
                if response.status_code == 200 and response.json().get("message") == "Webhook recorded":
                    return OK
                return Outcome("error", f"HTTP {response.status_code}: {response.text[:200]}")

            async def direct(i: int) -> Outcome:
                await handles[i].signal(Signal.CI_REPORT, report(names[i]),
                                        rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT))
                return OK

            async def with_start(i: int) -> Outcome:
                """What the API sends: signal-with-start, the whole workflow input attached."""
                wf_input, kwargs = starts[i]
                await self.temporal.start_workflow(WorkflowName.PROTOCOL_RUN, wf_input, start_signal=Signal.CI_REPORT,
                                                   start_signal_args=[report(names[i])],
                                                   rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT), **kwargs)
                return OK

            return {"api": via_api, "direct": direct, "with_start": with_start}[path]

        async def after(result: PhaseResult) -> None:
            # Signals return before the workflow acts on them: wait for the backlog, so the
            # next phase does not pay for this one, and report how long it took.
            result.drain_seconds = round(await self.drain(current["ids"], max(120.0, 8 * self.args.seconds)), 2)
            result.cpu_with_drain = CpuSampler.usage(result.cpu_before, self.sampler.snapshot())

        try:
            phases = await self.run_paths("webhooks", ops, after)
        finally:
            await asyncio.gather(*(c.aclose() for c in pool))
        out = self.summarize(phases, WEBHOOKS_TARGET)
        direct = out["direct"].get("processed_per_second")
        if direct:
            out["processed_ratio"] = round(out["api"]["processed_per_second"] / direct, 3)
        return out

    # 3. end to end

    def run_shell_baseline(self, remote: Path, files: dict[str, str], repeat: int) -> float:
        work = self.work_dir / f"shell-{repeat}"
        script = self.work_dir / f"shell-{repeat}.sh"
        script.write_text(shell_baseline_script(remote, work, files))
        started = time.perf_counter()
        result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                                env={**os.environ, **GIT_ENV}, cwd=self.work_dir, check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise BenchError(f"the shell baseline failed: {result.stderr.strip()[-300:]}")
        return elapsed

    async def run_protocol(self, remote: Path, repeat: int) -> dict[str, float]:
        """Create, plan, execute and QA every step, approve the last: timed per stage."""
        stages: dict[str, float] = {}
        t = time.perf_counter()
        started = t

        def lap(stage: str) -> None:
            nonlocal t
            now = time.perf_counter()
            stages[stage] = stages.get(stage, 0.0) + now - t
            t = now

        project_id = (await self.create_project(f"bench-e2e-{repeat}", remote))["id"]
        run = await self.post(f"/projects/{project_id}/protocols",
                              json={"protocol_name": E2E_PROTOCOL, "description": "benchmark protocol"})
        rid = run["id"]
        lap("create")
        await self.post(f"/protocols/{rid}/actions/start")
        status = await self.settle(rid)
        lap("plan")
        if status != "planned":
            raise BenchError(f"planning ended in {status!r}, not 'planned'")
        steps = await self.get(f"/protocols/{rid}/steps")
        if len(steps) != E2E_STEPS:
            raise BenchError(f"planned {len(steps)} steps, expected {E2E_STEPS}")
        lap("plan")
        for step in steps:
            await self.post(f"/protocols/{rid}/actions/run_next_step")
            await self.settle(rid)
            lap("execute")
            await self.post(f"/steps/{step['id']}/actions/run_qa")
            await self.settle(rid)
            lap("qa")
        await self.post(f"/steps/{steps[-1]['id']}/actions/approve")
        lap("approve")
        stages["total"] = time.perf_counter() - started
        final = await self.get(f"/protocols/{rid}")
        statuses = [s["status"] for s in await self.get(f"/protocols/{rid}/steps")]
        if final["status"] != "completed" or set(statuses) != {"completed"}:
            raise BenchError(f"run {rid} ended {final['status']} with steps {statuses}")
        notes = git("show", f"refs/heads/{E2E_PROTOCOL}:notes.txt", cwd=remote).splitlines()
        if notes != [f"line {n}" for n in range(1, E2E_STEPS + 1)]:
            raise BenchError(f"the protocol branch holds {notes!r}")
        return {k: round(v, 3) for k, v in stages.items()}

    async def measure_e2e(self) -> dict[str, Any]:
        files = e2e_files()
        repeats = []
        for repeat in range(1, self.args.repeats + 1):
            shell_remote = make_bare_remote(self.work_dir, f"e2e-shell-{repeat}", files)
            capstan_remote = make_bare_remote(self.work_dir, f"e2e-capstan-{repeat}", files)
            shell = self.run_shell_baseline(shell_remote, files, repeat)
            before = self.sampler.snapshot()
            stages = await asyncio.wait_for(self.run_protocol(capstan_remote, repeat),
                                            SETTLE_TIMEOUT * (2 * E2E_STEPS + 2))
            cpu = CpuSampler.usage(before, self.sampler.snapshot())
            ratio = stages["total"] / shell if shell > 0 else None
            repeats.append({"repeat": repeat, "capstan_seconds": stages["total"], "shell_seconds": round(shell, 3),
                            "ratio": round(ratio, 1) if ratio else None, "stages": stages,
                            "cpu_percent_of_one_core": cpu})
            log(f"e2e {repeat}/{self.args.repeats}: capstan {stages['total']:.2f}s, shell {shell:.3f}s, "
                f"x{ratio:.0f}; stages {stages}")
        capstan = statistics.median(r["capstan_seconds"] for r in repeats)
        shell = statistics.median(r["shell_seconds"] for r in repeats)
        stage_names = [k for k in repeats[0]["stages"] if k != "total"]
        return {"steps": E2E_STEPS, "repeats": repeats, "capstan_median_seconds": round(capstan, 3),
                "shell_median_seconds": round(shell, 3),
                "ratio_median": round(statistics.median(r["ratio"] for r in repeats), 1),
                "overhead_median_seconds": round(capstan - shell, 3),
                "stage_medians": {k: round(statistics.median(r["stages"][k] for r in repeats), 3)
                                  for k in stage_names},
                "actions": 2 + 2 * E2E_STEPS, "waits": 1 + 2 * E2E_STEPS}


# --- report --------------------------------------------------------------------------------------

def fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def cpu_line(cpu: dict[str, float]) -> str:
    order = ["temporal", "api", "worker", "postgres", "supervisor", "bench", "other"]
    parts = [f"{k} {cpu[k]:.0f}%" for k in order if k in cpu and (cpu[k] >= 0.5 or k in ("temporal", "api"))]
    busy = f"; machine {cpu['machine_busy']:.0f}% busy" if "machine_busy" in cpu else ""
    return f"CPU (% of one core): {', '.join(parts)}{busy}" if parts else ""


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "",
        "Capstan protocol benchmark",
        f"  date {m['date']}   commit {m['commit']}",
        f"  {m['platform']}, {m['cpu_count']} CPUs (nproc {m['nproc']}), Python {m['python']}",
        f"  {m['temporal_cli']}; mode: {m['temporal_mode']}",
        (f"  load average at start {fmt(m.get('loadavg_at_start'))}; other Temporal dev servers running on this "
         f"machine: {report.get('other_dev_servers', '?')}"),
        f"  stack: {report['stack']}",
    ]
    titles = [("actions", "1. Actions: POST .../actions/pause|resume vs the same Temporal Updates", "actions"),
              ("webhooks", "2. Webhooks: signed POST /webhooks/github vs the same ci_report Signals", "deliveries")]
    for key, title, unit in titles:
        data = report.get(key)
        if data is None:
            continue
        lines += ["", title]
        if data.get("skipped"):
            lines.append(f"  skipped: {data['reason']}")
            continue
        if data.get("failed"):
            lines.append(f"  failed: {data['failed']}")
            continue
        lines.append(f"  {data['clients']} clients, {data['api']['rounds']} x {data['seconds_per_phase']:g}s per path")
        header = f"  {'path':<8}{unit + '/s':>15}{'p50 ms':>9}{'p99 ms':>9}{'ok':>8}{'409':>6}{'errors':>8}"
        if key == "webhooks":
            header += f"{'drain s':>9}{'processed/s':>13}"
        lines.append(header)
        for path in ("api", "direct", "with_start"):
            if path not in data:
                continue
            d = data[path]
            row = (f"  {path:<8}{d['ok_per_second']:>15.1f}{fmt(d['p50_ms'], '.1f'):>9}{fmt(d['p99_ms'], '.1f'):>9}"
                   f"{d['ok']:>8}{d['conflicts']:>6}{d['errors']:>8}")
            if key == "webhooks":
                row += f"{fmt(d.get('drain_seconds'), '.1f'):>9}{fmt(d.get('processed_per_second'), '.1f'):>13}"
            lines.append(row)
            if d["error_kinds"]:
                lines.append(f"      errors: {d['error_kinds']}")
            if cpu_line(d["cpu_percent_of_one_core"]):
                lines.append(f"      {cpu_line(d['cpu_percent_of_one_core'])}")
                per = d.get("cpu_ms_per_ok", {})
                roles = [k for k in ("temporal", "api", "worker", "postgres", "bench") if per.get(k, 0) >= 0.05]
                if roles:
                    lines.append("      CPU ms per request: " + ", ".join(f"{k} {per[k]:.1f}" for k in roles))
                per = d.get("cpu_ms_per_ok_with_drain", {})
                roles = [k for k in ("temporal", "api", "worker", "postgres", "bench") if per.get(k, 0) >= 0.05]
                if roles:
                    lines.append("      ... until processed: " + ", ".join(f"{k} {per[k]:.1f}" for k in roles)
                                 + f" (total {sum(per[k] for k in roles):.1f})")
        verdict = "met" if data["met"] else "NOT met"
        lines.append(f"  ratio api/direct = {fmt(data['ratio'], '.2f')} (target >= {data['target']:.1f}: {verdict})")
        if "processed_ratio" in data:
            lines.append(f"  ratio api/direct counting until the backlog was processed = {data['processed_ratio']:.2f}")
        if "ratio_api_to_with_start" in data:
            lines.append(f"  ratio api/with_start (same Temporal calls as the API, sent directly) = "
                         f"{data['ratio_api_to_with_start']:.2f}")
    e2e = report.get("e2e")
    if e2e is not None:
        lines += ["", f"3. End to end: a {E2E_STEPS}-step script protocol through the API vs a plain shell script"]
        if e2e.get("failed"):
            lines.append(f"  failed: {e2e['failed']}")
        else:
            lines.append(f"  {'repeat':<8}{'capstan s':>11}{'shell s':>10}{'ratio':>8}")
            for r in e2e["repeats"]:
                lines.append(f"  {r['repeat']:<8}{r['capstan_seconds']:>11.2f}{r['shell_seconds']:>10.3f}"
                             f"{fmt(r['ratio'], '.0f'):>8}")
            lines.append(f"  {'median':<8}{e2e['capstan_median_seconds']:>11.2f}{e2e['shell_median_seconds']:>10.3f}"
                         f"{fmt(e2e['ratio_median'], '.0f'):>8}")
            stages = ", ".join(f"{k} {v:.2f}s" for k, v in e2e["stage_medians"].items())
            lines.append(f"  median stages: {stages}")
            lines.append(f"  overhead {e2e['overhead_median_seconds']:.2f}s over {e2e['actions']} API actions and "
                         f"{e2e['waits']} waits")
    for warning in report.get("warnings", []):
        lines += ["", f"WARNING: {warning}"]
    lines.append("")
    return "\n".join(lines)


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
    load.add_argument("--only", default="actions,webhooks,e2e",
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
    if not only or only - {"actions", "webhooks", "e2e"}:
        parser.error("--only takes actions, webhooks and/or e2e")
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
    async with Bench(args, target, work_dir, sampler) as bench:
        await bench.check_api()
        for name, measure in (("actions", bench.measure_actions), ("webhooks", bench.measure_webhooks),
                              ("e2e", bench.measure_e2e)):
            if name not in only:
                continue
            try:
                report[name] = await measure()
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
    code = 0
    try:
        if args.api:
            secret = args.webhook_secret or os.environ.get("CAPSTAN_WEBHOOK_TOKEN") or os.environ.get(
                "DEKSDENFLOW_WEBHOOK_TOKEN")
            target = Target(args.api.rstrip("/"), args.temporal, args.namespace, args.api_token, secret)
            mode, sampler, stack_desc = args.temporal_mode, CpuSampler(None), f"external: {args.api}, {args.temporal}"
        else:
            secret = args.webhook_secret or secrets.token_hex(16)
            env = {**os.environ, "CAPSTAN_WEBHOOK_TOKEN": secret}
            stack = DevStackProcess(args.python, args.workers, work_dir, env)
            stack.start()
            target = Target(stack.api_url, stack.temporal_address, "default", args.api_token, secret)
            mode = ("Temporal dev server (temporal server start-dev) persisting to a SQLite file, "
                    "started by capstan dev")
            sampler = CpuSampler(stack.proc.pid)
            stack_desc = (f"capstan dev, {args.workers} worker(s), API {stack.api_url}, Temporal "
                          f"{stack.temporal_address}, embedded Postgres")
        ours = _tree(stack.proc.pid) if stack is not None else set()  # an external stack's server counts too
        report["machine"] = machine_info(args.python, mode)
        report["other_dev_servers"] = other_dev_servers(ours)
        report["stack"] = stack_desc
        report["options"] = {"clients": args.clients, "seconds": args.seconds, "requests": args.requests,
                             "rounds": args.rounds, "repeats": args.repeats, "workers": args.workers,
                             "diagnose": args.diagnose,
                             "only": sorted(only)}
        tree = tree_fingerprint()
        asyncio.run(run_measurements(args, only, target, work_dir, sampler, report))
        if tree != tree_fingerprint():
            report["warnings"] = report.get("warnings", []) + [
                "the working tree changed during the run (commit or uncommitted files): a stack started from it "
                "may have run old and new code together; run again on a quiet tree"]
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        code = 130
    finally:
        if stack is not None:
            stack.stop()
        if report.get("machine"):
            report["machine"]["loadavg_at_end"] = loadavg()
        if args.keep_data:
            log(f"data kept in {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    if report.get("machine"):
        print(render(report), flush=True)
    if args.json and report:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        log(f"figures written to {args.json}")
    return code


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _tree(root: int) -> set[int]:
    procs = read_processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, []))
    return seen


if __name__ == "__main__":
    sys.exit(main())
