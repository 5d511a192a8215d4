"""The ``docker`` runner: the runner image (``CAPSTAN_TASKS_WORKER_IMAGE``) in a container through the
docker CLI. The image does the runner contract itself (clone, agent, commit, push, ``capstan
task-callback``); Capstan starts it, waits for it, and kills it on stop or timeout.

Secrets reach the container as ``-e NAME`` (docker copies the value from the CLI's environment), so
they are never in an argv; the CLI gets only what it needs of the worker's environment besides them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess

from integrations.process import Heartbeat, run_process
from integrations.runners.spec import RunnerLaunch, RunnerSecrets, runner_env
from models.tasks.workflow_io import RunnerExit

OUTPUT_TAIL_LINES = 20
# What the docker CLI itself may need of the worker's environment (where the engine is, its config).
_CLI_ENVIRONMENT = ("PATH", "HOME", "XDG_RUNTIME_DIR", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG",
                    "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


def container_name(execution_id: str) -> str:
    return f"capstan-{execution_id}"


def docker_available(docker_binary: str = "docker") -> str | None:
    """None when the docker CLI is here and its engine answers, else why not (a test's skip reason)."""
    path = shutil.which(docker_binary)
    if path is None:
        return f"the docker CLI ({docker_binary}) is not installed"
    try:
        result = subprocess.run([path, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                                timeout=15)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"docker info failed: {exc}"
    if result.returncode != 0 or not result.stdout.strip():
        reason = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        return f"no docker engine answers: {reason}"
    return None


class DockerRunner:
    def __init__(self, docker_binary: str = "docker", *, heartbeat: Heartbeat | None = None) -> None:
        self.docker_binary = docker_binary
        self.heartbeat = heartbeat

    def run_args(self, launch: RunnerLaunch, env_names: list[str]) -> list[str]:
        names = [arg for name in env_names for arg in ("-e", name)]
        return [self.docker_binary, "run", "--rm", "--name", container_name(launch.execution_id), *names,
                launch.image]

    async def run(self, launch: RunnerLaunch, secrets: RunnerSecrets) -> RunnerExit:
        """Run the container to its end (heartbeating); a cancel kills it and re-raises."""
        env = runner_env(launch, secrets)
        name = container_name(launch.execution_id)
        cli_env = {name: os.environ[name] for name in _CLI_ENVIRONMENT if name in os.environ}
        try:
            result = await run_process(self.run_args(launch, sorted(env)), env={**cli_env, **env},
                                       merge_output=True, heartbeat=self.heartbeat,
                                       heartbeat_detail=f"docker {name}")
        except asyncio.CancelledError:
            await asyncio.shield(self.kill(launch.execution_id))
            raise
        tail = secrets.scrub(result.stdout).splitlines()[-OUTPUT_TAIL_LINES:]
        return RunnerExit(exit_code=result.returncode, reported=False,
                          message=f"container exited with code {result.returncode}. " + "\n".join(tail))

    async def kill(self, execution_id: str) -> None:
        """``docker kill`` the execution's container (gone already is fine: ``--rm`` removed it)."""
        with contextlib.suppress(OSError):
            await run_process([self.docker_binary, "kill", container_name(execution_id)],
                              env={name: os.environ[name] for name in _CLI_ENVIRONMENT if name in os.environ},
                              timeout=30)
