"""``capstan dev`` as a user runs it: up, used, stopped, started again with the data intact;
a killed worker or API restarted, a crash loop stopped, a shutdown bounded."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from capstan.devstack.ports import free_port, port_is_free
from capstan.settings import TemporalSettings
from capstan.temporal import connect
from models.protocols.workflow_io import project_setup_workflow_id
from tests.e2e.protocols.support import event_types, step_file
from tests.support import git, make_bare_remote, make_git_repo, processes_with, remote_log, settle, workflow_result


class DevProcess:
    """``capstan dev`` in a subprocess; its output (stdout and stderr) is read line by line as it comes."""

    def __init__(self, data_dir: Path, ports: dict[str, int], env: dict[str, str] | None = None) -> None:
        self.ports = ports
        args = [sys.executable, "-m", "capstan", "dev", "--data-dir", str(data_dir),
                "--api-port", str(ports["api"]), "--temporal-port", str(ports["temporal"]),
                "--ui-port", str(ports["ui"]), "--postgres-port", str(ports["postgres"]),
                "--worker-metrics-port", "0"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True, env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def mark(self) -> int:
        """A place in the output: ``since=`` it, only what is printed afterwards counts."""
        with self._changed:
            return len(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 60.0, since: int = 0) -> re.Match:
        """The first output line (after ``since``) matching ``pattern``, awaited as it is printed."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = since
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    why = "exited" if self._ended else f"printed nothing like it within {timeout:.0f}s"
                    raise AssertionError(f"capstan dev {why}, awaiting {pattern!r}:\n{''.join(self.lines)}")
                self._changed.wait(remaining)

    async def line(self, pattern: str, timeout: float = 60.0, since: int = 0) -> re.Match:
        return await asyncio.to_thread(self.wait_for_line, pattern, timeout, since)

    def wait_until_up(self) -> None:
        self.wait_for_line(r"^Capstan is up", timeout=120)

    def pid_of(self, child: str) -> int:
        """The pid of ``child`` ("worker 1", "api") as the supervisor last announced it."""
        pids = re.findall(rf"{child} (?:re)?started \(pid (\d+)\)", self.output)
        return int(pids[-1])

    def wait(self, timeout: float = 120.0) -> int:
        self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.proc.returncode

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        return self.wait(60)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("api", "temporal", "ui", "postgres")}


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's tmp dir: as root, Postgres runs as another user that must traverse the path, and
    another pytest session starting meanwhile makes /tmp/pytest-of-root private again."""
    root = Path(tempfile.mkdtemp(prefix="capstan-dev-test-"))
    yield root / "data"
    shutil.rmtree(root, ignore_errors=True)


async def test_dev_stack_serves_and_keeps_data_across_restarts(ports, data_dir, tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    dev = DevProcess(data_dir, ports)
    try:
        dev.wait_until_up()
        async with httpx.AsyncClient(base_url=dev.api, timeout=10) as http:
            assert (await http.get("/health")).json()["status"] == "ok"
            assert (await http.get(f"http://127.0.0.1:{ports['ui']}/")).status_code == 200
            created = await http.post("/projects", json={"name": "kept", "git_url": str(repo),
                                                         "secrets": {"api_token": "kept-token"}},
                                      headers={"X-Request-ID": "dev-stack-req-1"})
            project = created.json()
            client = await connect(TemporalSettings(address=f"127.0.0.1:{ports['temporal']}"))
            await workflow_result(client, project_setup_workflow_id(project["id"]))
            events_before = (await http.get("/events", params={"project_id": project["id"]},
                                            headers={"X-Project-Token": "kept-token"})).json()
            assert events_before[0]["event_type"] == "setup_completed"
    finally:
        assert dev.stop() == 0
    output = dev.output
    assert "dev-stack-req-1" in output  # the request id is on the API's log line of that request
    assert "stopped in" in output

    again = DevProcess(data_dir, ports)
    try:
        again.wait_until_up()
        async with httpx.AsyncClient(base_url=again.api, timeout=10) as http:
            token = {"X-Project-Token": "kept-token"}  # its sealed secret still opens after the restart
            assert [p["name"] for p in (await http.get("/projects", headers=token)).json()] == ["kept"]
            assert (await http.get(f"/projects/{project['id']}", headers=token)).status_code == 200
            assert (await http.get("/events", params={"project_id": project["id"]}, headers=token)).json() \
                == events_before
            run = (await http.get(f"/projects/{project['id']}/protocols", headers=token)).json()[0]
            assert run["status"] == "completed"
        # Temporal kept its history too: the finished workflow is still there.
        client = await connect(TemporalSettings(address=f"127.0.0.1:{ports['temporal']}"))
        description = await client.get_workflow_handle(project_setup_workflow_id(project["id"])).describe()
        assert description.status.name == "COMPLETED"
    finally:
        assert again.stop() == 0


def test_taken_port_is_a_one_line_error(ports, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports["api"]))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "capstan", "dev", "--data-dir", str(tmp_path / "d"),
             "--api-port", str(ports["api"]), "--temporal-port", str(ports["temporal"]),
             "--ui-port", str(ports["ui"]), "--postgres-port", str(ports["postgres"])],
            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"capstan dev: port {ports['api']} (API) is already in use on 127.0.0.1; choose another with its option"]
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_temporal_cli_is_a_one_line_error_and_starts_nothing(ports, tmp_path):
    missing = tmp_path / "no-such-temporal"
    result = subprocess.run(
        [sys.executable, "-m", "capstan", "dev", "--data-dir", str(tmp_path / "d"),
         "--api-port", str(ports["api"]), "--temporal-port", str(ports["temporal"]),
         "--ui-port", str(ports["ui"]), "--postgres-port", str(ports["postgres"])],
        env={**os.environ, "CAPSTAN_DEV_TEMPORAL_CLI": str(missing)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"capstan dev: the Temporal CLI {missing} (CAPSTAN_DEV_TEMPORAL_CLI) was not found or is not executable"]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "d" / "postgres").exists()  # nothing was started


class StepGate:
    """A TCP server steps report to. A step's script connects, says its token and waits for "go": a held
    token gets no answer (the step runs until something kills it), a released one goes on at once."""

    def __init__(self) -> None:
        self.arrivals: asyncio.Queue[str] = asyncio.Queue()
        self.released: set[str] = set()
        self._held: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> StepGate:
        self.server = await asyncio.start_server(self._arrive, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_) -> None:
        self.server.close()
        for writer in self._held:
            writer.close()
        await self.server.wait_closed()

    async def _arrive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        token = (await reader.readline()).decode().strip()
        if token in self.released:
            writer.write(b"go\n")
            await writer.drain()
            writer.close()
        else:
            self._held.append(writer)
        await self.arrivals.put(token)

    async def arrival(self, timeout: float = 90.0) -> str:
        return await asyncio.wait_for(self.arrivals.get(), timeout)

    def script(self, token: str) -> str:
        """Shell that reports ``token`` and waits; the token is on its command line, to find its processes."""
        return (f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{self.port}; echo {token} >&3; "
                f"read -r answer <&3; [ \"$answer\" = go ]'")


def kill_leftovers(*tokens: str) -> None:
    for token in tokens:
        for pid in processes_with(token):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def request_in_flight(port: int) -> socket.socket:
    """A POST whose client has sent the headers and part of the body, and is still sending."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 200\r\n\r\n{\"name\": \"slow")
    return sock


async def test_killed_worker_and_api_are_restarted_the_step_completes_once_and_shutdown_is_prompt(ports, data_dir,
                                                                                                  tmp_path):
    held, stuck = f"held-step-{uuid.uuid4().hex}", f"stuck-qa-{uuid.uuid4().hex}"
    async with StepGate() as gate:
        remote = make_bare_remote(tmp_path, {
            ".protocols/0001-demo/01-held.md": step_file(f"{gate.script(held)}\necho done >> notes.txt",
                                                         qa=gate.script(stuck)),
            "README.md": "demo\n"})
        # A dead worker's activity is retried once its heartbeat is missed: 3 s here instead of 10.
        # The API and the worker get 2 s (instead of 5) to finish what is in flight when stopped.
        dev = DevProcess(data_dir, ports, env={"CAPSTAN_ACTIVITY_HEARTBEAT_TIMEOUT": "3",
                                               "CAPSTAN_API_SHUTDOWN_TIMEOUT": "2",
                                               "CAPSTAN_WORKER_SHUTDOWN_TIMEOUT": "2"})
        slow = None
        try:
            dev.wait_until_up()
            temporal = await connect(TemporalSettings(address=f"127.0.0.1:{ports['temporal']}"))
            async with httpx.AsyncClient(base_url=dev.api, timeout=30) as http:
                project = (await http.post("/projects", json={"name": "held", "git_url": str(remote)})).json()
                await workflow_result(temporal, project_setup_workflow_id(project["id"]))
                run = (await http.post(f"/projects/{project['id']}/protocols",
                                       json={"protocol_name": "0001-demo"})).json()
                assert (await http.post(f"/protocols/{run['id']}/actions/start")).status_code == 200
                assert await settle(temporal, run["id"]) == "planned"
                [step] = (await http.get(f"/protocols/{run['id']}/steps")).json()
                assert (await http.post(f"/protocols/{run['id']}/actions/run_next_step")).status_code == 200

                # The step is running on the worker: SIGKILL the worker.
                assert await gate.arrival() == held
                gate.released.add(held)  # its next attempt goes on
                worker = dev.pid_of("worker 1")
                os.kill(worker, signal.SIGKILL)
                await dev.line(rf"worker 1 \(pid {worker}\) died: killed by SIGKILL; restarting it in 0\.5s")
                await dev.line(r"worker 1 restarted \(pid \d+\)")
                assert (await http.get("/health")).json()["status"] == "ok"

                # Another worker attempt runs the step to its end, once.
                assert await gate.arrival() == held
                await settle(temporal, run["id"])
                assert (await http.get(f"/steps/{step['id']}")).json()["status"] == "needs_qa"
                assert (await event_types(http, run["id"])).count("step_completed") == 1
                assert [s for s in remote_log(remote, "0001-demo") if "step 0" in s] == [
                    "capstan: 0001-demo step 0 01-held.md"]
                assert git("show", "refs/heads/0001-demo:notes.txt", cwd=remote) == "done"
                assert processes_with(held) == [], "a process of the killed worker's step survived it"

                # The API dies too: restarted, and it serves again.
                api, since = dev.pid_of("api"), dev.mark()
                os.kill(api, signal.SIGKILL)
                await dev.line(rf"api \(pid {api}\) died: killed by SIGKILL; restarting it in", since=since)
                await dev.line(r"api restarted \(pid \d+\)", since=since)
                await dev.line(r"Uvicorn running on", since=since)  # listening again
                assert (await http.get(f"/protocols/{run['id']}")).status_code == 200

                # Stopping with QA running on the worker and a request still arriving at the API.
                assert (await http.post(f"/steps/{step['id']}/actions/run_qa")).status_code == 200
                assert await gate.arrival() == stuck
            slow = request_in_flight(ports["api"])
            started = time.monotonic()
            assert dev.stop() == 0
            assert time.monotonic() - started < 10, dev.output  # unbounded, uvicorn waits on the slow client
            assert processes_with(stuck) == []
        finally:
            if slow is not None:
                slow.close()
            dev.stop()
            kill_leftovers(held, stuck)


def test_a_worker_that_keeps_dying_stops_the_stack_with_the_reason(ports, data_dir):
    # A namespace the dev server does not have: every worker start fails its validation and exits.
    dev = DevProcess(data_dir, ports, env={"CAPSTAN_TEMPORAL_NAMESPACE": "no-such-namespace",
                                           "CAPSTAN_DEV_CRASH_LOOP_RESTARTS": "2",
                                           "CAPSTAN_DEV_RESTART_BACKOFF": "0.1"})
    try:
        assert dev.wait(180) == 1
    finally:
        dev.stop()
    output = dev.output
    assert len(re.findall(r"worker 1 \(pid \d+\) died: exit code 1; restarting it in", output)) == 2
    assert "capstan dev: worker 1 keeps dying (exit code 1 after 2 restarts within 60s); stopping" in output
    assert "stopped in" in output
    assert all(port_is_free(ports[name]) for name in ("api", "temporal", "postgres"))
