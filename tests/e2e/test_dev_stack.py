"""``capstan dev`` as a user runs it: up, used, stopped, started again with the data intact."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from capstan.devstack.ports import free_port
from capstan.settings import TemporalSettings
from capstan.temporal import connect
from models.workflow_io import project_setup_workflow_id
from tests.support import make_git_repo, workflow_result


class DevProcess:
    def __init__(self, data_dir: Path, ports: dict[str, int]) -> None:
        self.ports = ports
        args = [sys.executable, "-m", "capstan", "dev", "--data-dir", str(data_dir),
                "--api-port", str(ports["api"]), "--temporal-port", str(ports["temporal"]),
                "--ui-port", str(ports["ui"]), "--postgres-port", str(ports["postgres"]),
                "--worker-metrics-port", "0"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.output: list[str] = []

    def wait_until_up(self) -> None:
        for line in self.proc.stdout:  # the banner is the event: read until it appears
            self.output.append(line)
            if line.startswith("Capstan is up"):
                return
        raise AssertionError("capstan dev exited before it was up:\n" + "".join(self.output))

    def stop(self) -> int:
        os.killpg(self.proc.pid, signal.SIGTERM)
        rest, _ = self.proc.communicate(timeout=60)
        self.output.append(rest)
        return self.proc.returncode

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("api", "temporal", "ui", "postgres")}


async def test_dev_stack_serves_and_keeps_data_across_restarts(ports, tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    data_dir = tmp_path / "data"
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
    output = "".join(dev.output)
    assert "dev-stack-req-1" in output  # the request id is on the API's log line of that request
    assert "stopped in" in output

    again = DevProcess(data_dir, ports)
    try:
        again.wait_until_up()
        async with httpx.AsyncClient(base_url=again.api, timeout=10) as http:
            assert [p["name"] for p in (await http.get("/projects")).json()] == ["kept"]
            token = {"X-Project-Token": "kept-token"}  # its sealed secret still opens after the restart
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
