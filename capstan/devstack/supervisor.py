"""``capstan dev``: the whole stack on one machine, in the foreground.

Order: Postgres, migrations, Temporal dev server, workers, API. A worker or the
API that dies is restarted with backoff (``RestartPolicy``); a crash loop, or
Postgres or Temporal dying, stops the stack with the reason. Ctrl-C or SIGTERM
stops the API and workers together (each bounds its own graceful shutdown),
then Temporal, then Postgres. All state lives under the data dir, so starting
again resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from capstan.devstack import DevStackError
from capstan.devstack.ports import require_free_port
from capstan.devstack.postgres import EmbeddedPostgres
from capstan.devstack.process import kill_group, spawn, stop_all, wait_until
from capstan.devstack.restarts import RestartLimits, RestartPolicy, describe_exit
from capstan.devstack.temporal_server import TemporalDevServer
from capstan.migrate import upgrade_to_head
from capstan.secrets import SecretBox

log = logging.getLogger(__name__)

#: How often the supervisor looks at its children.
POLL_SECONDS = 0.2


@dataclass
class DevOptions:
    data_dir: Path
    api_port: int
    temporal_port: int
    ui_port: int
    postgres_port: int
    workers: int
    worker_metrics_base_port: int
    host: str = "127.0.0.1"
    temporal_cli: str | None = None
    restart_limits: RestartLimits = field(default_factory=RestartLimits)


#: Where `capstan dev` keeps the JWT key it made (read by `capstan token`).
JWT_SECRET_FILE = "jwt.secret"

class SupervisedChild:
    """A worker or the API: started, watched, restarted after a backoff when it dies."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], limits: RestartLimits,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.clock = clock
        self.policy = RestartPolicy(limits, clock)
        self.proc: subprocess.Popen | None = None
        self.restart_at: float | None = None

    def start(self, again: bool = False) -> subprocess.Popen:
        self.proc = spawn(self.args, env=self.env)
        self.policy.started()
        self.restart_at = None
        log.info("%s %s (pid %d)", self.name, "restarted" if again else "started", self.proc.pid)
        return self.proc

    def supervise(self) -> str | None:
        """Restart the child when it has died and its backoff is over; the reason to stop on a crash loop."""
        if self.restart_at is not None:
            if self.clock() >= self.restart_at:
                self.start(again=True)
            return None
        if self.proc is None or self.proc.poll() is None:
            return None
        kill_group(self.proc)  # what it started in its process group goes with it
        how = describe_exit(self.proc.returncode)
        delay = self.policy.on_death()
        limits = self.policy.limits
        if delay is None:
            restarts = limits.crash_loop_restarts
            return (f"{self.name} keeps dying ({how} after {restarts} restart{'' if restarts == 1 else 's'} "
                    f"within {limits.crash_loop_window_seconds:g}s)")
        log.warning("%s (pid %d) died: %s; restarting it in %.1fs (restart %d within %gs)", self.name,
                    self.proc.pid, how, delay, self.policy.recent_restarts, limits.crash_loop_window_seconds)
        self.restart_at = self.clock() + delay
        return None


class DevStack:
    def __init__(self, options: DevOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir.resolve()
        self.postgres = EmbeddedPostgres(self.data_dir, options.postgres_port,
                                         password=self._kept_secret("postgres.password", secrets.token_urlsafe),
                                         host=options.host)
        self.temporal = TemporalDevServer(options.temporal_port, options.ui_port, self.data_dir / "temporal.db",
                                          self.data_dir / "temporal.log", host=options.host,
                                          cli=options.temporal_cli)
        self.children: list[SupervisedChild] = []
        self._stopping = threading.Event()

    def _kept_secret(self, name: str, generate: Callable[[], str]) -> str:
        """A secret made once and kept in the data dir (mode 0600), so a restart finds the same one."""
        path = self.data_dir / name
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(generate())
        return path.read_text().strip()

    def secrets_key(self) -> str:
        """The key sealing project secrets: from the environment, else kept in the data dir."""
        return os.environ.get("CAPSTAN_SECRETS_KEY") or self._kept_secret("secrets.key", SecretBox.generate_key)

    def jwt_secret(self) -> str:
        """The HS256 key of the platform API's JWTs: from the environment, else kept in the data dir (where
        ``capstan token`` finds it)."""
        return os.environ.get("CAPSTAN_JWT_SECRET") or os.environ.get("JWT_SECRET") or \
            self._kept_secret(JWT_SECRET_FILE, lambda: secrets.token_urlsafe(48))

    def child_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CAPSTAN_SECRETS_KEY": self.secrets_key(),
            "CAPSTAN_JWT_SECRET": self.jwt_secret(),
            "CAPSTAN_DATABASE_URL": self.postgres.url,
            "CAPSTAN_TEMPORAL_ADDRESS": self.temporal.address,
            "CAPSTAN_TEMPORAL_UI_URL": self.temporal.ui_url or "",
            "CAPSTAN_API_HOST": self.options.host,
            "CAPSTAN_API_PORT": str(self.options.api_port),
        }

    @property
    def api_url(self) -> str:
        return f"http://{self.options.host}:{self.options.api_port}"

    def check_ports(self) -> None:
        require_free_port(self.options.api_port, "API", self.options.host)
        for i in range(self.options.workers):
            if self.options.worker_metrics_base_port:
                require_free_port(self.options.worker_metrics_base_port + i, f"worker {i + 1} metrics")

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.check_ports()
        self.postgres.start()
        upgrade_to_head(self.postgres.url)
        self.temporal.start()
        base_env = self.child_env()
        limits = self.options.restart_limits
        for i in range(self.options.workers):
            metrics = self.options.worker_metrics_base_port + i if self.options.worker_metrics_base_port else 0
            env = {**base_env, "CAPSTAN_GIT_CACHE_DIR": str(self.data_dir / "git-cache" / f"worker-{i + 1}"),
                   "CAPSTAN_WORKER_METRICS_PORT": str(metrics)}
            worker = SupervisedChild(f"worker {i + 1}", [sys.executable, "-m", "capstan", "worker"], env, limits)
            self.children.append(worker)
            worker.start()
        api = SupervisedChild("api", [sys.executable, "-m", "capstan", "api"], base_env, limits)
        self.children.append(api)
        wait_until(self._api_ready, api.start(), "API", timeout=60)

    def _api_ready(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def banner(self) -> str:
        lines = [
            "Capstan is up.",
            f"  API             {self.api_url}",
            f"  API docs        {self.api_url}/docs",
            f"  Temporal Web UI {self.temporal.ui_url}",
            f"  Temporal gRPC   {self.temporal.address}",
            f"  Postgres        {self.postgres.display_url}",
            f"  Workers         {self.options.workers}",
            f"  Data            {self.data_dir}",
            "Press Ctrl-C to stop.",
        ]
        return "\n".join(lines)

    def wait(self) -> int:
        """Supervise until a signal arrives or the stack cannot go on; returns the exit code for the CLI."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopping.set())
        while not self._stopping.wait(POLL_SECONDS):
            reason = self._stop_reason()
            if reason:
                print(f"capstan dev: {reason}; stopping", file=sys.stderr, flush=True)
                return 1
        return 0

    def _stop_reason(self) -> str | None:
        # Postgres and Temporal hold the state everything else works on: one of them dying on its own
        # (disk full, killed, out of memory) needs a person, and a restart of the stack resumes from disk.
        for name, proc in (("Temporal dev server", self.temporal.proc), ("Postgres", self.postgres.proc)):
            if proc is not None and proc.poll() is not None:
                return f"{name} exited ({describe_exit(proc.returncode)})"
        for child in self.children:
            reason = child.supervise()
            if reason:
                return reason
        return None

    def shutdown(self) -> None:
        stop_all([child.proc for child in self.children if child.proc is not None])
        self.children.clear()
        self.temporal.stop()
        self.postgres.stop()


def run_dev(options: DevOptions) -> int:
    try:
        stack = DevStack(options)
    except DevStackError as exc:
        print(f"capstan dev: {exc}", file=sys.stderr)
        return 2
    try:
        stack.start()
    except DevStackError as exc:
        stack.shutdown()
        print(f"capstan dev: {exc}", file=sys.stderr)
        return 2
    except BaseException:
        stack.shutdown()
        raise
    print(stack.banner(), flush=True)
    try:
        return stack.wait()
    finally:
        started = time.monotonic()
        stack.shutdown()
        print(f"capstan dev: stopped in {time.monotonic() - started:.1f}s", flush=True)
