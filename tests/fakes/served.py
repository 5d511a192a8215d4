"""What every fake server shares: uvicorn in a daemon thread on a free port, started and stopped
with ``with``. A fake subclasses ``ServedInThread``, names itself in ``label`` and builds its app in
``asgi()``."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp

from capstan.devstack.ports import free_port


@dataclass
class ReceivedRequest:
    """One request a fake received, as tests read it back."""

    method: str
    path: str                    # as the fake's routes see it (each fake's docstring says: decoded or not)
    query: dict[str, str]
    headers: dict[str, str]      # lower-case names
    json: Any                    # the JSON (or form) body; None without one


class _BackgroundServer(uvicorn.Server):
    """uvicorn in a thread, announcing the end of startup (success or not) with an event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_finished = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.startup_finished.set()


class ServedInThread:
    #: Names the fake in its thread's name and in the error when it cannot start.
    label = "fake server"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        """``port`` None: a free port (tests); a number: that one (a demo the user points things at)."""
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self._server: _BackgroundServer | None = None
        self._thread: threading.Thread | None = None

    def asgi(self) -> ASGIApp:
        raise NotImplementedError

    def start(self, timeout: float = 10.0) -> Self:
        config = uvicorn.Config(self.asgi(), host=self.host, port=self.port, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2)
        self._server = _BackgroundServer(config)
        self._thread = threading.Thread(target=self._server.run, name=f"{self.label.replace(' ', '-')}-{self.port}",
                                        daemon=True)
        self._thread.start()
        if not self._server.startup_finished.wait(timeout) or not self._server.started:
            self.stop()
            raise RuntimeError(f"{self.label} did not start on {self.url}")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
