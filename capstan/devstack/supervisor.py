"""``capstan dev``: the whole stack on one machine, in the foreground.

Order: Postgres, migrations, Temporal dev server, workers, API. Ctrl-C or
SIGTERM stops them in reverse order; so does any child dying on its own. All
state lives under the data dir, so starting again resumes where it stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from capstan.devstack import DevStackError
from capstan.devstack.ports import require_free_port
from capstan.devstack.postgres import EmbeddedPostgres
from capstan.devstack.process import spawn, stop, wait_until
from capstan.devstack.temporal_server import TemporalDevServer
from capstan.migrate import upgrade_to_head
from capstan.secrets import SecretBox


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


class DevStack:
    def __init__(self, options: DevOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir.resolve()
        self.postgres = EmbeddedPostgres(self.data_dir, options.postgres_port, host=options.host)
        self.temporal = TemporalDevServer(options.temporal_port, options.ui_port, self.data_dir / "temporal.db",
                                          self.data_dir / "temporal.log", host=options.host,
                                          cli=options.temporal_cli)
        self.children: list[tuple[str, subprocess.Popen]] = []
        self._stopping = threading.Event()

    def secrets_key(self) -> str:
        """The key sealing project secrets: from the environment, else kept in the data dir."""
        if os.environ.get("CAPSTAN_SECRETS_KEY"):
            return os.environ["CAPSTAN_SECRETS_KEY"]
        key_file = self.data_dir / "secrets.key"
        if not key_file.exists():
            key_file.touch(mode=0o600)
            key_file.write_text(SecretBox.generate_key())
        return key_file.read_text().strip()

    def child_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CAPSTAN_SECRETS_KEY": self.secrets_key(),
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
        for i in range(self.options.workers):
            metrics = self.options.worker_metrics_base_port + i if self.options.worker_metrics_base_port else 0
            env = {**base_env, "CAPSTAN_GIT_CACHE_DIR": str(self.data_dir / "git-cache" / f"worker-{i + 1}"),
                   "CAPSTAN_WORKER_METRICS_PORT": str(metrics)}
            self.children.append((f"worker {i + 1}", spawn([sys.executable, "-m", "capstan", "worker"], env=env)))
        api = spawn([sys.executable, "-m", "capstan", "api"], env=base_env)
        self.children.append(("api", api))
        wait_until(self._api_ready, api, "API", timeout=60)

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
            f"  Postgres        {self.postgres.url}",
            f"  Workers         {self.options.workers}",
            f"  Data            {self.data_dir}",
            "Press Ctrl-C to stop.",
        ]
        return "\n".join(lines)

    def wait(self) -> int:
        """Block until a signal arrives or a child exits; returns the exit code for the CLI."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopping.set())
        while not self._stopping.wait(0.5):
            for name, proc in self.children:
                if proc.poll() is not None:
                    print(f"capstan dev: {name} exited with code {proc.returncode}; stopping", file=sys.stderr)
                    return 1
            if self.temporal.proc and self.temporal.proc.poll() is not None:
                print("capstan dev: Temporal dev server exited; stopping", file=sys.stderr)
                return 1
            if self.postgres.proc and self.postgres.proc.poll() is not None:
                print("capstan dev: Postgres exited; stopping", file=sys.stderr)
                return 1
        return 0

    def shutdown(self) -> None:
        for _, proc in reversed(self.children):
            stop(proc)
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
