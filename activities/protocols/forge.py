"""The ``open_pull_request`` activity over the forge clients of ``integrations.forges``.

The token comes from the project's secrets or from settings, never from workflow input. A
``ForgeError`` becomes a Temporal ``ApplicationError`` whose type tells the workflow whether to retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity
from temporalio.exceptions import ApplicationError

from capstan.db import SessionFactory
from capstan.secrets import SecretBox, SecretsUnreadable
from integrations.forges import ForgeClient, ForgeError, ForgeErrorType
from models.protocols.forges import Forge, display_url, forge_for, forge_repository
from models.protocols.project import Project
from models.protocols.settings import ForgeSettings
from models.protocols.workflow_io import ActivityName, OpenPullRequestInput, PullRequestResult


@contextlib.asynccontextmanager
async def _heartbeating(note: str) -> AsyncIterator[None]:
    """Heartbeat while the body runs. Workflows give every activity a heartbeat timeout,
    which can be shorter than a slow forge call; heartbeats also let cancellation in."""
    timeout = activity.info().heartbeat_timeout
    interval = min(1.0, timeout.total_seconds() / 3) if timeout else 1.0

    async def beat() -> None:
        while True:
            activity.heartbeat(note)
            await asyncio.sleep(interval)

    beater = asyncio.create_task(beat())
    try:
        yield
    finally:
        beater.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beater


def forge_failure(error: ForgeError) -> ApplicationError:
    return ApplicationError(
        error.message, {"forge": error.forge, "status": error.status},
        type=ForgeErrorType.UNAVAILABLE if error.retryable else ForgeErrorType.REJECTED,
        non_retryable=not error.retryable, next_retry_delay=error.retry_delay)


def _not_configured(message: str) -> ApplicationError:
    return ApplicationError(message, type=ForgeErrorType.NOT_CONFIGURED, non_retryable=True)


class ForgeActivities:
    def __init__(self, sessions: SessionFactory, settings: ForgeSettings, secret_box: SecretBox) -> None:
        self.sessions = sessions
        self.settings = settings
        self.secret_box = secret_box

    @activity.defn(name=ActivityName.OPEN_PULL_REQUEST)
    async def open_pull_request(self, request: OpenPullRequestInput) -> PullRequestResult:
        """Open the protocol branch's pull/merge request, or return the one already open.

        An empty ``forge`` or ``repository`` in the input is worked out from the project
        (``ci_provider``, ``git_url``, ``forge_repository``), so a workflow need not.
        """
        async with _heartbeating(f"pull request for {request.head_branch}"):
            project = await self._project(request.project_id)
            forge, repository = self._target(request, project)
            token = self._token(project, forge)
            async with ForgeClient.for_forge(forge, self.settings, token) as client:
                try:
                    result = await client.open_pull_request(repository, request.head_branch, request.base_branch,
                                                            request.title, request.body)
                except ForgeError as error:
                    raise forge_failure(error) from None
        activity.logger.info("%s %s request %s for %s", "opened" if result.created else "found open",
                             Forge.LABELS[forge], result.url, request.head_branch)
        return result

    async def _project(self, project_id: int) -> Project:
        async with self.sessions() as session:
            project = await session.get(Project, project_id)
        if project is None:
            raise ApplicationError(f"project {project_id} does not exist",
                                   type=ForgeErrorType.PROJECT_NOT_FOUND, non_retryable=True)
        return project

    def _target(self, request: OpenPullRequestInput, project: Project) -> tuple[str, str]:
        forge = (request.forge or forge_for(project.ci_provider, project.git_url) or "").strip().lower()
        if forge not in Forge.ALL:
            raise _not_configured(
                f"project {project.id}: cannot tell which forge hosts {display_url(project.git_url)!r} "
                f"(forge {forge or 'unset'!r}); set the project's ci_provider to 'github' or 'gitlab'")
        if request.repository:
            repository = forge_repository("", request.repository, forge)
            given = request.repository
        else:
            repository = forge_repository(project.git_url, project.forge_repository, forge)
            given = project.forge_repository or display_url(project.git_url)
        if repository is None:
            shape = "owner/name" if forge == Forge.GITHUB else "group/name or group/subgroup/name"
            raise _not_configured(
                f"project {project.id}: {given!r} does not name a {Forge.LABELS[forge]} repository; "
                f"set the project's forge_repository to {shape}")
        return forge, repository

    def _token(self, project: Project, forge: str) -> str:
        """The project's ``<forge>_token`` secret, else the worker's configured token."""
        secret_name = f"{forge}_token"
        try:
            secret = self.secret_box.open(project.secrets).get(secret_name)
        except SecretsUnreadable as exc:
            raise _not_configured(f"project {project.id}: {exc}") from None
        if isinstance(secret, str) and secret.strip():
            return secret.strip()
        configured = self.settings.github_token if forge == Forge.GITHUB else self.settings.gitlab_token
        if configured is not None and configured.get_secret_value().strip():
            return configured.get_secret_value().strip()
        raise _not_configured(
            f"no {Forge.LABELS[forge]} token for project {project.id}: set the project secret "
            f"{secret_name!r} or CAPSTAN_{forge.upper()}_TOKEN on the workers")
