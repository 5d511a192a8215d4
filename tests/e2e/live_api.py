"""`capstan api` and `capstan worker` as deployed: real processes, configured by their environment.

For tests that speak HTTP to the whole system from synchronous code (schemathesis): nothing of the app
shares their interpreter, their event loop or their threads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

from capstan.devstack.ports import free_port
from capstan.devstack.process import spawn, stop_all, wait_until


class LiveApi:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_dir = log_dir
        self._env = {**os.environ, **env, "CAPSTAN_API_HOST": "127.0.0.1", "CAPSTAN_API_PORT": str(port)}
        self._children = []

    def __enter__(self) -> LiveApi:
        try:
            for role in ("worker", "api"):
                self._children.append(spawn([sys.executable, "-m", "capstan", role], env=self._env,
                                            log_path=self.log_dir / f"{role}.log"))
            wait_until(self._ready, self._children[-1], "API", timeout=60, log_path=self.log_dir / "api.log")
        except BaseException:
            stop_all(self._children)
            raise
        return self

    def __exit__(self, *_exc) -> None:
        stop_all(self._children)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
