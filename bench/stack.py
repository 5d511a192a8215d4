"""The stack a benchmark measures and the machine it runs on: ``capstan dev`` on free loopback
ports, machine info, and CPU and memory per process role read from ``/proc`` (Linux only;
empty elsewhere).

Stable API (other benchmark scripts import it): ``DevStackProcess``, ``free_ports``,
``CpuSampler``, ``rss_by_role``, ``process_tree``, ``machine_info``, ``other_dev_servers``,
``tree_fingerprint``, ``loadavg``, ``log``, ``BenchError``, ``REPO``, ``VENV_PYTHON``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
STACK_START_TIMEOUT = 240.0   # seconds, until the "Capstan is up" banner
STACK_STOP_TIMEOUT = 90.0     # seconds, after SIGTERM


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """The benchmark cannot go on (the stack did not start, setup failed); said in one line."""


# --- the machine ---------------------------------------------------------------------------------

def run_text(args: list[str], cwd: Path | None = None) -> str | None:
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
    head = run_text(["git", "rev-parse", "HEAD"], cwd=REPO)
    if head is None:
        return None
    diff = subprocess.run(["git", "diff", "HEAD", "--", *CODE_PATHS], cwd=REPO, capture_output=True, timeout=30,
                          check=False).stdout
    untracked = run_text(["git", "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS],
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
    commit = run_text(["git", "rev-parse", "--short", "HEAD"], cwd=REPO)
    dirty = run_text(["git", "status", "--porcelain", "--", *CODE_PATHS], cwd=REPO)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "nproc": affinity,
        "python": platform.python_version(),
        "temporal_cli": (run_text([cli, "--version"]) if cli else None) or "unknown",
        "temporal_mode": temporal_mode,
        "temporalio": temporalio.__version__,
        "httpx": httpx.__version__,
        "git": run_text(["git", "--version"]),
        "commit": f"{commit}{' (with uncommitted changes)' if dirty else ''}" if commit else None,
        "loadavg_at_start": loadavg(),
    }


# --- processes: CPU and memory by role -----------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: The roles a stack's processes are counted under.
ROLES = ("temporal", "api", "worker", "postgres", "supervisor")


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


def process_role(argv: list[str], parent_role: str) -> str:
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


def roles_in_tree(root_pid: int, procs: dict[int, tuple[int, float, list[str]]] | None = None) -> dict[int, str]:
    """pid → role for ``root_pid`` and all its descendants."""
    procs = read_processes() if procs is None else procs
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    roles: dict[int, str] = {}
    stack = [(root_pid, "supervisor")]
    while stack:
        pid, parent_role = stack.pop()
        if pid not in procs or pid in roles:
            continue
        role = roles[pid] = process_role(procs[pid][2], parent_role)
        stack.extend((child, role) for child in children.get(pid, []))
    return roles


def process_tree(root_pid: int) -> set[int]:
    """``root_pid`` and all its descendants that are alive."""
    return set(roles_in_tree(root_pid))


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_by_role(root_pid: int) -> dict[str, int]:
    """Resident memory in bytes per role (summed over the role's processes) of the stack under
    ``root_pid``. Shared pages (Postgres' shared buffers) count once per process."""
    out: Counter[str] = Counter()
    for pid, role in roles_in_tree(root_pid).items():
        out[role] += rss_bytes(pid)
    return dict(out)


def rss_by_process(root_pid: int) -> list[dict[str, Any]]:
    """One entry per process of the stack: pid, role, argv (shortened) and RSS in bytes."""
    procs = read_processes()
    return [{"pid": pid, "role": role, "argv": " ".join(procs[pid][2])[:160], "rss_bytes": rss_bytes(pid)}
            for pid, role in sorted(roles_in_tree(root_pid, procs).items())]


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
            for pid, role in roles_in_tree(self.root_pid, procs).items():
                roles[role] += procs[pid][1]
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


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class DevStackProcess:
    """``python -m capstan dev`` as a child process, on free loopback ports and a temporary data dir.

    ``start()`` returns once the ``Capstan is up`` banner is printed; ``stop()`` sends SIGTERM and
    waits. Also a context manager (start on enter, stop on exit). ``proc.pid`` is the root of the
    stack's process tree (for ``CpuSampler`` and ``rss_by_role``).
    """

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

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

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

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def end_run(stack: DevStackProcess | None, work_dir: Path, report: dict[str, Any], keep_data: bool) -> None:
    """Stop the stack, note the load at the end, and delete (or keep) the run's data dir."""
    if stack is not None:
        stack.stop()
    if report.get("machine"):
        report["machine"]["loadavg_at_end"] = loadavg()
    if keep_data:
        log(f"data kept in {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)


def fmt(value: Any, spec: str = "") -> str:
    """A figure for a report's table: ``-`` where it was not measured."""
    return "-" if value is None else format(value, spec)


def publish_report(report: dict[str, Any], rendered: Callable[[dict[str, Any]], str], json_path: Path | None) -> None:
    """Print the report (when the stack came up) and write it as JSON when asked."""
    if report.get("machine"):
        print(rendered(report), flush=True)
    if json_path and report:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        log(f"figures written to {json_path}")


TREE_CHANGED = ("the working tree changed during the run (commit or uncommitted files): a stack started from it "
                "may have run old and new code together; run again on a quiet tree")


def measure_on_this_tree(report: dict[str, Any], measurements: Coroutine[Any, Any, Any]) -> None:
    """Run the measurements, and warn in the report if the working tree changed meanwhile."""
    tree = tree_fingerprint()
    asyncio.run(measurements)
    if tree != tree_fingerprint():
        report.setdefault("warnings", []).append(TREE_CHANGED)


class BenchRun:
    """The end of every bench run, as ``with BenchRun(...) as run:`` around its body. A ``BenchError`` or an
    interrupt ends the body with exit code 1 or 130; whatever happened, the stack (once ``run.stack`` is set)
    is stopped and the data dir deleted or kept; then the report is printed (not after another error, which
    goes on up)."""

    def __init__(self, work_dir: Path, report: dict[str, Any], keep_data: bool,
                 rendered: Callable[[dict[str, Any]], str], json_path: Path | None) -> None:
        self.work_dir, self.report, self.keep_data = work_dir, report, keep_data
        self.rendered, self.json_path = rendered, json_path
        self.stack: DevStackProcess | None = None
        self.code = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> bool:
        if isinstance(error, BenchError):
            print(f"bench: {error}", file=sys.stderr)
            self.code = 1
        elif isinstance(error, KeyboardInterrupt):
            print("bench: interrupted", file=sys.stderr)
            self.code = 130
        end_run(self.stack, self.work_dir, self.report, self.keep_data)
        handled = error is None or self.code != 0
        if handled:
            publish_report(self.report, self.rendered, self.json_path)
        return handled
