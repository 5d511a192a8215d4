"""The ``open_pull_request`` activity against a fake GitHub/GitLab over real HTTP, with projects in Postgres."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.protocols.forge import ForgeActivities
from capstan.db import SessionFactory, create_session_factory, session_scope
from capstan.devstack.ports import free_port
from capstan.secrets import SecretBox
from integrations.forges import ForgeErrorType
from models.protocols.project import Project
from models.protocols.settings import ForgeSettings
from models.protocols.workflow_io import OpenPullRequestInput, PullRequestResult
from tests.fakes.forge import FAKE_FORGE_TOKEN, FakeForge

# Secrets are sealed in Postgres as the API stores them.
BOX = SecretBox(SecretBox.generate_key())
GITHUB_URL = "https://github.com/acme/widgets.git"
GITLAB_URL = "https://gitlab.example.com/group/sub/widgets.git"


@pytest.fixture
def sessions(db_engine, clean_tables) -> SessionFactory:
    return create_session_factory(db_engine)


async def add_project(sessions: SessionFactory, git_url: str = GITHUB_URL, **fields: Any) -> int:
    async with session_scope(sessions) as session:
        if "secrets" in fields:
            fields["secrets"] = BOX.seal(fields["secrets"])
        project = Project(name="widgets", git_url=git_url, **fields)
        session.add(project)
        await session.flush()
        assert project.id is not None
        return project.id


def pr_input(project_id: int, forge: str = "github", repository: str = "acme/widgets",
             head: str = "protocol-0001-login") -> OpenPullRequestInput:
    return OpenPullRequestInput(project_id=project_id, protocol_run_id=7, forge=forge, repository=repository,
                                head_branch=head, base_branch="main", title="Protocol 0001: login",
                                body="Opened by Capstan for protocol run 7.")


async def open_pr(sessions: SessionFactory, settings: ForgeSettings,
                  request: OpenPullRequestInput) -> PullRequestResult:
    return await ActivityEnvironment().run(ForgeActivities(sessions, settings, BOX).open_pull_request, request)


async def open_pr_error(sessions: SessionFactory, settings: ForgeSettings,
                        request: OpenPullRequestInput) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await open_pr(sessions, settings, request)
    return caught.value


def assert_token_absent(error: ApplicationError, token: str) -> None:
    assert token not in str(error) and token not in repr(error.details)
    assert error.__cause__ is None and error.__suppress_context__


async def test_github_pull_request_is_created(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions)
    result = await open_pr(sessions, fake_forge.forge_settings(), pr_input(project_id))

    assert result == PullRequestResult(url=f"{fake_forge.url}/acme/widgets/pull/1", number=1, created=True)
    [pull] = fake_forge.pulls["acme/widgets"]
    assert (pull.title, pull.head, pull.base, pull.body) == (
        "Protocol 0001: login", "protocol-0001-login", "main", "Opened by Capstan for protocol run 7.")
    [sent] = fake_forge.requests
    assert (sent.method, sent.path) == ("POST", "/repos/acme/widgets/pulls")
    assert sent.json == {"title": "Protocol 0001: login", "head": "protocol-0001-login", "base": "main",
                         "body": "Opened by Capstan for protocol run 7."}
    assert sent.headers["authorization"] == f"Bearer {FAKE_FORGE_TOKEN}"
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert sent.headers["x-github-api-version"] == "2022-11-28"


async def test_second_run_returns_the_same_pull_request(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions)
    first = await open_pr(sessions, fake_forge.forge_settings(), pr_input(project_id))
    second = await open_pr(sessions, fake_forge.forge_settings(), pr_input(project_id))

    assert second == PullRequestResult(url=first.url, number=first.number, created=False)
    assert len(fake_forge.pulls["acme/widgets"]) == 1
    lookup = fake_forge.requests[-1]
    assert (lookup.method, lookup.query) == ("GET", {"head": "acme:protocol-0001-login", "state": "open"})


async def test_closed_pull_request_is_not_reused(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions)
    await open_pr(sessions, fake_forge.forge_settings(), pr_input(project_id))
    fake_forge.set_state("acme/widgets", 1, "closed")
    again = await open_pr(sessions, fake_forge.forge_settings(), pr_input(project_id))
    assert (again.number, again.created) == (2, True)


async def test_gitlab_merge_request_in_a_subgroup(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions, GITLAB_URL)
    request = pr_input(project_id, forge="gitlab", repository="group/sub/widgets")
    result = await open_pr(sessions, fake_forge.forge_settings(), request)

    assert result == PullRequestResult(url=f"{fake_forge.url}/group/sub/widgets/-/merge_requests/1",
                                       number=1, created=True)
    [sent] = fake_forge.requests
    assert (sent.method, sent.path) == ("POST", "/api/v4/projects/group%2Fsub%2Fwidgets/merge_requests")
    assert sent.headers["private-token"] == FAKE_FORGE_TOKEN
    assert "authorization" not in sent.headers
    assert sent.json == {"source_branch": "protocol-0001-login", "target_branch": "main",
                         "title": "Protocol 0001: login", "description": "Opened by Capstan for protocol run 7."}

    again = await open_pr(sessions, fake_forge.forge_settings(), request)
    assert again == PullRequestResult(url=result.url, number=1, created=False)
    assert fake_forge.requests[-1].query == {"source_branch": "protocol-0001-login", "state": "opened"}


async def test_forge_and_repository_can_come_from_the_project(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions, "/srv/mirror/widgets", ci_provider="gitlab",
                                   forge_repository="team/widgets")
    result = await open_pr(sessions, fake_forge.forge_settings(), pr_input(project_id, forge="", repository=""))
    assert result.created and "team/widgets" in fake_forge.pulls


async def test_project_secret_token_wins_over_settings(sessions) -> None:
    with FakeForge(tokens={"project-token"}) as forge:
        project_id = await add_project(sessions, secrets={"github_token": "project-token"})
        result = await open_pr(sessions, forge.forge_settings(github_token="settings-token"), pr_input(project_id))
        assert result.created
        assert forge.requests[0].headers["authorization"] == "Bearer project-token"


async def test_missing_token_is_not_configured(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions, secrets={"gitlab_token": "for-the-other-forge"})
    error = await open_pr_error(sessions, fake_forge.forge_settings(github_token=None), pr_input(project_id))
    assert (error.type, error.non_retryable) == (ForgeErrorType.NOT_CONFIGURED, True)
    assert "github_token" in error.message and "CAPSTAN_GITHUB_TOKEN" in error.message
    assert fake_forge.requests == []


async def test_unusable_repository_is_not_configured(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions, "/srv/mirror/widgets")
    error = await open_pr_error(sessions, fake_forge.forge_settings(), pr_input(project_id, forge="", repository=""))
    assert (error.type, error.non_retryable) == (ForgeErrorType.NOT_CONFIGURED, True)

    error = await open_pr_error(sessions, fake_forge.forge_settings(), pr_input(project_id, repository="a/b/c"))
    assert (error.type, error.non_retryable) == (ForgeErrorType.NOT_CONFIGURED, True)
    assert "owner/name" in error.message
    assert fake_forge.requests == []


async def test_unknown_project_is_not_retried(sessions, fake_forge: FakeForge) -> None:
    error = await open_pr_error(sessions, fake_forge.forge_settings(), pr_input(999_999))
    assert (error.type, error.non_retryable) == (ForgeErrorType.PROJECT_NOT_FOUND, True)


async def test_rejected_token_is_not_retried_and_not_shown(sessions, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_token = "ghp_wrongwrongwrong123"
    with FakeForge(tokens={"another-token"}) as forge:
        project_id = await add_project(sessions, secrets={"github_token": wrong_token})
        error = await open_pr_error(sessions, forge.forge_settings(), pr_input(project_id))
    assert (error.type, error.non_retryable) == (ForgeErrorType.REJECTED, True)
    assert "GitHub" in error.message and "401" in error.message and "Bad credentials" in error.message
    assert error.details == ({"forge": "github", "status": 401},)
    assert_token_absent(error, wrong_token)
    assert wrong_token not in caplog.text


async def test_token_echoed_by_the_forge_is_redacted(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions, GITLAB_URL)
    fake_forge.fail_next(403, {"message": f"token {FAKE_FORGE_TOKEN} lacks the api scope"})
    error = await open_pr_error(sessions, fake_forge.forge_settings(),
                                pr_input(project_id, forge="gitlab", repository="group/sub/widgets"))
    assert (error.type, error.non_retryable) == (ForgeErrorType.REJECTED, True)
    assert "GitLab" in error.message and "403" in error.message and "lacks the api scope" in error.message
    assert_token_absent(error, FAKE_FORGE_TOKEN)


async def test_server_error_is_retried(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions)
    fake_forge.fail_next(502)
    error = await open_pr_error(sessions, fake_forge.forge_settings(), pr_input(project_id))
    assert (error.type, error.non_retryable) == (ForgeErrorType.UNAVAILABLE, False)
    assert "502" in error.message and "GitHub" in error.message
    assert_token_absent(error, FAKE_FORGE_TOKEN)

    result = await open_pr(sessions, fake_forge.forge_settings(), pr_input(project_id))  # the retry
    assert result.created


async def test_rate_limit_is_retried_after_the_forge_says(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions)
    fake_forge.fail_next(429, {"message": "API rate limit exceeded"})
    error = await open_pr_error(sessions, fake_forge.forge_settings(), pr_input(project_id))
    assert (error.type, error.non_retryable) == (ForgeErrorType.UNAVAILABLE, False)
    assert error.next_retry_delay is None  # no Retry-After header: the retry policy decides


async def test_slow_forge_times_out_and_is_retried(sessions, fake_forge: FakeForge) -> None:
    project_id = await add_project(sessions)
    fake_forge.delay_next(1.0)
    error = await open_pr_error(sessions, fake_forge.forge_settings(timeout_seconds=0.3), pr_input(project_id))
    assert (error.type, error.non_retryable) == (ForgeErrorType.UNAVAILABLE, False)
    assert "0.3s" in error.message


async def test_heartbeats_while_the_forge_is_slow(sessions, fake_forge: FakeForge) -> None:
    """Workflows give the activity a heartbeat timeout shorter than a slow forge call."""
    project_id = await add_project(sessions)
    fake_forge.delay_next(0.6)
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, heartbeat_timeout=timedelta(seconds=0.3))
    beats: list[Any] = []
    environment.on_heartbeat = lambda *details: beats.append(details)
    activities = ForgeActivities(sessions, fake_forge.forge_settings(), BOX)
    result = await environment.run(activities.open_pull_request, pr_input(project_id))
    assert result.created
    assert len(beats) >= 3


async def test_unreachable_forge_is_retried(sessions) -> None:
    project_id = await add_project(sessions)
    settings = ForgeSettings(github_api_url=f"http://127.0.0.1:{free_port()}", github_token="t0ken-t0ken")
    error = await open_pr_error(sessions, settings, pr_input(project_id))
    assert (error.type, error.non_retryable) == (ForgeErrorType.UNAVAILABLE, False)
    assert "unreachable" in error.message
    assert_token_absent(error, "t0ken-t0ken")


def test_retry_after_becomes_the_next_retry_delay() -> None:
    from activities.protocols.forge import forge_failure
    from integrations.forges import ForgeError

    error = forge_failure(ForgeError("GitHub returned HTTP 503", 503, forge="github", retry_after=12))
    assert (error.non_retryable, error.next_retry_delay) == (False, timedelta(seconds=12))


async def test_a_secret_sealed_with_another_key_is_a_clear_non_retryable_error(sessions, fake_forge):
    project_id = await add_project(sessions, secrets={"github_token": FAKE_FORGE_TOKEN})
    other_key = SecretBox(SecretBox.generate_key())
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            ForgeActivities(sessions, fake_forge.forge_settings(github_token=None), other_key).open_pull_request,
            pr_input(project_id))
    assert caught.value.non_retryable and "cannot be opened with this key" in caught.value.message
    assert FAKE_FORGE_TOKEN not in str(caught.value)
