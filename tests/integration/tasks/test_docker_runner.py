"""The docker runner through the docker CLI: what it hands the container (secrets as ``-e NAME`` from
its environment, never in an argv), and that a cancel kills the container.

No docker engine runs on the CI machine, so the CLI is a stand-in script that keeps what it was asked
(the real CLI's job is only to pass this on to the engine); a run against a real engine is below, and
skips, saying why, where none answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import sys
from pathlib import Path

import pytest

from integrations.runners.docker import DockerRunner, container_name, docker_available
from integrations.runners.spec import RunnerSecrets
from tests.integration.tasks.runner_support import EXECUTION_ID, launch_for
from tests.integration.workers import read_fifo

SECRETS = RunnerSecrets(github_token="ghs_installation-token", callback_token="cb-token-0123456789",
                        provider_env={"ANTHROPIC_API_KEY": "sk-ant-secret"})

FAKE_DOCKER = """#!{python}
import json, os, signal, sys, time
record = {record!r}
command = sys.argv[1]
if command == "info":
    print("28.2.2")
elif command == "run":
    names = [sys.argv[i + 1] for i, arg in enumerate(sys.argv) if arg == "-e"]
    with open(record + ".run", "w") as out:
        json.dump({{"argv": sys.argv, "env": {{name: os.environ.get(name) for name in names}},
                   "pid": os.getpid()}}, out)
    if os.environ.get("AGENT") == "hang":
        with open(record + ".started", "w") as started:  # a FIFO the test reads
            started.write("started")
        while True:
            time.sleep(60)
    print("cloned, ran the agent, called back with", os.environ.get("CALLBACK_TOKEN"))
    sys.exit(int(os.environ.get("EXIT_CODE", "0")))
elif command == "kill":
    with open(record + ".kill", "w") as out:
        json.dump(sys.argv, out)
    run = json.load(open(record + ".run"))
    os.kill(run["pid"], signal.SIGKILL)
"""


@pytest.fixture
def fake_docker(tmp_path: Path) -> tuple[Path, Path]:
    record = tmp_path / "docker-calls"
    cli = tmp_path / "docker"
    cli.write_text(FAKE_DOCKER.format(python=sys.executable, record=str(record)))
    cli.chmod(0o755)
    return cli, record


async def test_the_container_gets_the_runner_contract_by_name_and_no_secret_is_in_the_argv(fake_docker):
    cli, record = fake_docker
    launch = launch_for("https://github.com/acme/widgets.git", "http://capstan.test/api/callbacks/complete")
    launch.image = "registry.example/capstan-runner:1"

    result = await DockerRunner(str(cli)).run(launch, SECRETS)

    run = json.loads(Path(f"{record}.run").read_text())
    argv = run["argv"]
    assert argv[1:5] == ["run", "--rm", "--name", container_name(EXECUTION_ID)]
    assert argv[-1] == "registry.example/capstan-runner:1"
    for secret in ("ghs_installation-token", "cb-token-0123456789", "sk-ant-secret"):
        assert not any(secret in arg for arg in argv), "a secret in docker's argv is visible to every user"
    assert run["env"]["GITHUB_TOKEN"] == "ghs_installation-token"
    assert run["env"]["CALLBACK_TOKEN"] == "cb-token-0123456789"
    assert run["env"]["ANTHROPIC_API_KEY"] == "sk-ant-secret"
    assert run["env"]["TASK_ID"] == EXECUTION_ID and run["env"]["CAPSTAN_TASK_ID"] == "acme/widgets#7"
    assert result.exit_code == 0 and not result.reported
    assert "cb-token-0123456789" not in result.message and "***" in result.message


async def test_cancelling_the_run_kills_the_container(fake_docker):
    cli, record = fake_docker
    launch = launch_for("https://github.com/acme/widgets.git", "http://capstan.test/api/callbacks/complete")
    launch.agent = "hang"
    os.mkfifo(f"{record}.started")
    run = asyncio.create_task(DockerRunner(str(cli)).run(launch, SECRETS))
    assert await asyncio.wait_for(asyncio.to_thread(read_fifo, Path(f"{record}.started")), 30) == "started"
    pid = json.loads(Path(f"{record}.run").read_text())["pid"]
    pidfd = os.pidfd_open(pid)

    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    try:
        assert json.loads(Path(f"{record}.kill").read_text())[1:] == ["kill", container_name(EXECUTION_ID)]
        ended, _, _ = select.select([pidfd], [], [], 10)
        assert ended, "the container still runs"
    finally:
        os.close(pidfd)


def test_docker_available_says_why_not(tmp_path: Path):
    assert docker_available(str(tmp_path / "no-such-docker")) == f"the docker CLI ({tmp_path / 'no-such-docker'}) " \
                                                                 "is not installed"


@pytest.mark.skipif(docker_available() is not None, reason=f"no docker engine here: {docker_available()}")
async def test_a_real_engine_runs_and_kills_the_container():
    launch = launch_for("https://github.com/acme/widgets.git", "http://127.0.0.1:9/api/callbacks/complete")
    launch.image = "busybox"
    name = container_name(EXECUTION_ID)
    events = await asyncio.create_subprocess_exec("docker", "events", "--filter", f"container={name}", "--filter",
                                                  "event=start", stdout=asyncio.subprocess.PIPE)
    run = asyncio.create_task(DockerRunner().run(launch, SECRETS))
    try:
        await asyncio.wait_for(events.stdout.readline(), 120)  # the container started
    finally:
        events.kill()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    listed = await asyncio.create_subprocess_exec("docker", "ps", "-q", "--filter", f"name={name}",
                                                  stdout=asyncio.subprocess.PIPE)
    out, _ = await listed.communicate()
    assert out.strip() == b""
