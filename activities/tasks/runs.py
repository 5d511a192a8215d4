"""Starting, running and destroying a task's runner, behind one interface chosen by
``CAPSTAN_TASKS_RUNNER``: ``local`` (a sandboxed process on this worker), ``docker`` (a container),
``fly`` (a Fly Machine of the requesting user's app).

Secrets (the GitHub token, the callback token, the user's provider keys, the Fly token) are
opened here, handed to the runner, and never returned to the workflow. The user is the one who
asked for this run (its execution's requester): a retry runs on the retrying user's keys and Fly
setup, never on those of whoever asked first.
"""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.common.heartbeat import activity_heartbeat
from activities.tasks.github_steps import NoGitHubAccess, TaskGitHub, requester_of
from capstan.db import SessionFactory
from capstan.secrets import SecretBox, tasks_callback_secret
from capstan.settings import Settings
from integrations.git import GitRunner
from integrations.github.client import GitHubError
from integrations.runners.callback import callback_token
from integrations.runners.docker import DockerRunner, docker_available
from integrations.runners.fly import FlyError, FlyMachines
from integrations.runners.local import LocalRunner
from integrations.runners.spec import RunnerSecrets, runner_env
from integrations.sandbox import Sandbox
from integrations.stores.task_runs import execution_and_task
from integrations.stores.task_users import opened_secrets, provider_env, secret_changes, stored_config
from models.tasks.agents import agent_catalog, blocked_reason, fly_blocked_reason
from models.tasks.status import RunnerKind
from models.tasks.workflow_io import (
    ActivityName,
    LaunchRequest,
    Readiness,
    RemoteRunner,
    RunnerExit,
    RunnerLaunch,
)

CALLBACK_PATH = "/api/callbacks/complete"


def callback_url(settings: Settings) -> str:
    base = settings.tasks.callback_base_url or settings.api.public_url or \
        f"http://{settings.api.host}:{settings.api.port}"
    return base.rstrip("/") + CALLBACK_PATH


class TaskRunners:
    def __init__(self, sessions: SessionFactory, settings: Settings, secret_box: SecretBox, github: TaskGitHub,
                 sandbox: Sandbox, git: GitRunner, workdir: Path) -> None:
        self.sessions = sessions
        self.settings = settings
        self.secret_box = secret_box
        self.github = github
        self.local = LocalRunner(sandbox, git, workdir)
        self.docker = DockerRunner(heartbeat=activity_heartbeat)

    @activity.defn(name=ActivityName.CHECK_READINESS)
    async def check_task_readiness(self, request: LaunchRequest) -> Readiness:
        """The agent known, enabled and with its credentials, the runner set up: the launch; else why not."""
        tasks = self.settings.tasks
        async with self.sessions() as session:
            found = await execution_and_task(session, request.execution_id)
            if found is None:
                raise ApplicationError(f"execution {request.execution_id} is not recorded", non_retryable=True)
            execution, task = found
            requester = requester_of(task, execution)
            config = await stored_config(session, requester)
            names = set(await secret_changes(session, requester))
        catalog = agent_catalog(tasks.agents)
        blocked = blocked_reason(execution.agent, catalog, config, names)
        if blocked is None and execution.runner == RunnerKind.FLY:
            blocked = fly_blocked_reason(config, names)
        if blocked is None and tasks_callback_secret(self.settings) is None:
            blocked = "Task blocked: no callback secret (set CAPSTAN_TASKS_CALLBACK_SECRET or CAPSTAN_SECRETS_KEY)."
        if blocked is not None:
            return Readiness(blocked=blocked)
        return Readiness(launch=RunnerLaunch(
            execution_id=execution.id, task_id=task.id, repo_full_name=f"{task.repo_owner}/{task.repo_name}",
            clone_url=task.clone_url, issue_number=task.issue_number, agent=execution.agent,
            agent_command=catalog[execution.agent].command, prompt=request.prompt, branch=execution.branch,
            base_branch=execution.base_branch, callback_url=callback_url(self.settings), image=tasks.worker_image,
            cpus=tasks.machine_cpus, memory_mb=tasks.machine_memory_mb))

    async def _secrets(self, launch: RunnerLaunch) -> RunnerSecrets:
        async with self.sessions() as session:
            found = await execution_and_task(session, launch.execution_id)
            if found is None:
                raise ApplicationError(f"execution {launch.execution_id} is not recorded", non_retryable=True)
            execution, task = found
            requester = requester_of(task, execution)
            secrets = await opened_secrets(session, self.secret_box, requester)
            config = await stored_config(session, requester)
        try:
            token = await self.github.token_for(task, execution)
        except (GitHubError, NoGitHubAccess) as error:
            raise ApplicationError(f"getting a GitHub token: {error}", non_retryable=True) from None
        return RunnerSecrets(github_token=token,
                             callback_token=callback_token(tasks_callback_secret(self.settings) or "",
                                                           launch.execution_id),
                             provider_env=provider_env(secrets), fly_token=secrets.get("flyToken"),
                             fly_app=str(config.get("flyAppName") or "") or None)

    @activity.defn(name=ActivityName.RUN_RUNNER_PROCESS)
    async def run_task_runner_process(self, launch: RunnerLaunch) -> RunnerExit:
        """The whole local or docker run; cancelling the activity kills the runner."""
        secrets = await self._secrets(launch)
        if self.settings.tasks.runner == RunnerKind.DOCKER:
            if (reason := docker_available()) is not None:
                raise ApplicationError(f"docker runner unavailable: {reason}", non_retryable=True)
            return await self.docker.run(launch, secrets)
        return await self.local.run(launch, secrets)

    @activity.defn(name=ActivityName.START_REMOTE_RUNNER)
    async def start_task_remote_runner(self, launch: RunnerLaunch) -> RemoteRunner:
        secrets = await self._secrets(launch)
        if not secrets.fly_token or not secrets.fly_app:
            raise ApplicationError("missing Fly setup", non_retryable=True)
        machines = FlyMachines(self.settings.tasks.fly_api_url, secrets.fly_token, secrets.fly_app,
                               timeout=self.settings.tasks.provider_timeout_seconds)
        try:
            machine_id = await machines.create(launch, runner_env(launch, secrets))
        except FlyError as error:
            # Fly may quote what it refused (an env value): no secret of the run goes into the error,
            # which history, the task's errorMessage and the worker's log all keep.
            raise ApplicationError(secrets.scrub(f"Fly refused the machine: {error}"),
                                   non_retryable=error.status is not None and 400 <= error.status < 500) from None
        return RemoteRunner(execution_id=launch.execution_id, runner=RunnerKind.FLY, ref=machine_id,
                            app=secrets.fly_app)

    @activity.defn(name=ActivityName.DESTROY_RUNNER)
    async def destroy_task_runner(self, remote: RemoteRunner) -> None:
        """Destroy the machine in the app it was started in, with the user's Fly token."""
        token, app = await self._fly_setup(remote.execution_id)
        app = remote.app or app
        if not token or not app:
            return
        machines = FlyMachines(self.settings.tasks.fly_api_url, token, app,
                               timeout=self.settings.tasks.provider_timeout_seconds)
        try:
            await machines.destroy(remote.ref)
        except FlyError as error:
            raise ApplicationError(f"Fly did not destroy machine {remote.ref}: {error}") from None

    async def _fly_setup(self, execution_id: str) -> tuple[str | None, str | None]:
        """The Fly token and app of who asked for the run, as they are now."""
        async with self.sessions() as session:
            found = await execution_and_task(session, execution_id)
            if found is None:
                return None, None
            execution, task = found
            requester = requester_of(task, execution)
            secrets = await opened_secrets(session, self.secret_box, requester)
            config = await stored_config(session, requester)
        return secrets.get("flyToken"), str(config.get("flyAppName") or "") or None
