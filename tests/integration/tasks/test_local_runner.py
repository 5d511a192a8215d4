"""The local runner end to end: a real bare repository, the agent under real bubblewrap, trusted git
around it, and the completion callback over real HTTP."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from capstan.settings import SandboxSettings
from integrations.git import GitRunner
from integrations.runners.callback import callback_token
from integrations.runners.local import LocalRunner, git_auth_env
from integrations.runners.spec import RunnerSecrets
from integrations.sandbox import Sandbox
from tests.integration.tasks.runner_support import BRANCH, EXECUTION_ID, CallbackReceiver, launch_for
from tests.support import ProcessWatch, git, make_bare_remote, processes_with, remote_log

GITHUB_TOKEN = "ghs_installation-token-never-for-the-agent"
CALLBACK_SECRET = "callback-secret-of-the-test"
CALLBACK_TOKEN = callback_token(CALLBACK_SECRET, EXECUTION_ID)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as served:
        yield served


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """Read-only for the agent: where the FIFO goes that tells the test the agent is running."""
    path = tmp_path / "shared"
    path.mkdir()
    return path


@pytest.fixture
def runner(tmp_path: Path, shared: Path) -> LocalRunner:
    sandbox = Sandbox(SandboxSettings(mode="bubblewrap", read_only_paths=[shared]))
    return LocalRunner(sandbox, GitRunner(), tmp_path / "work", author_name="Capstan Bot",
                       author_email="bot@capstan.invalid", callback_waits=(0, 0, 0, 0))


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_bare_remote(tmp_path, {"README.md": "# widgets\nteh typo\n"})


def secrets(**provider_env: str) -> RunnerSecrets:
    return RunnerSecrets(github_token=GITHUB_TOKEN, callback_token=CALLBACK_TOKEN, provider_env=provider_env)


def show(remote: Path, path: str) -> str:
    return git("show", f"refs/heads/{BRANCH}:{path}", cwd=remote)


def branches(remote: Path) -> list[str]:
    return git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=remote).splitlines()


async def test_mock_agent_pushes_its_commit_on_the_task_branch_and_calls_back(runner, remote, receiver, tmp_path):
    launch = launch_for(str(remote), receiver.callback_url, instructions="fix the typo\nin the README")

    result = await runner.run(launch, secrets())

    assert result.exit_code == 0 and result.reported, result
    mock_file = show(remote, "capstan-mock.txt")
    assert "acme/widgets#7" in mock_file
    assert "fix the typo\nin the README" in mock_file
    assert remote_log(remote, BRANCH) == ["capstan: acme/widgets#7", "initial"]
    assert git("log", "-1", "--format=%an <%ae>", f"refs/heads/{BRANCH}", cwd=remote) == \
        "Capstan Bot <bot@capstan.invalid>"
    short = git("rev-parse", "--short", f"refs/heads/{BRANCH}", cwd=remote)

    [post] = receiver.posts
    assert post.headers["x-capstan-callback-token"] == CALLBACK_TOKEN
    assert post.json == {
        "execution_id": EXECUTION_ID, "task_id": EXECUTION_ID, "status": "complete",
        "summary": f"Agent completed successfully. Branch {BRANCH} pushed at {short}.", "commit_hash": short,
        "branch_name": BRANCH, "base_branch": "main", "pr_exists": 0,
        "callback_attempt": 1, "callback_max_attempts": 5}
    assert result.message == post.json["summary"]
    # The clone is gone; the agent's output is kept for the operator.
    assert not (tmp_path / "work" / EXECUTION_ID).exists()
    assert runner.log_path(EXECUTION_ID).exists()


async def test_the_agent_sees_the_runner_contract_but_no_github_token_and_no_worker_setting(
        runner, remote, receiver, monkeypatch):
    monkeypatch.setenv("CAPSTAN_SECRETS_KEY", "worker-secrets-key-value")
    monkeypatch.setenv("CAPSTAN_DATABASE_URL", "postgresql://capstan:pw@db/capstan")
    launch = launch_for(str(remote), receiver.callback_url,
                        command="env > agent-env.txt; cat .git/config > agent-git-config.txt")

    result = await runner.run(launch, secrets(ANTHROPIC_API_KEY="sk-ant-test-key"))

    assert result.exit_code == 0, result
    env = dict(line.split("=", 1) for line in show(remote, "agent-env.txt").splitlines() if "=" in line)
    assert env["TASK_ID"] == env["CAPSTAN_EXECUTION_ID"] == EXECUTION_ID
    assert env["CAPSTAN_TASK_ID"] == "acme/widgets#7"
    assert env["CALLBACK_URL"] == receiver.callback_url and env["CALLBACK_TOKEN"] == CALLBACK_TOKEN
    assert env["BRANCH_NAME"] == env["BRANCH"] == BRANCH and env["BASE_BRANCH"] == "main"
    assert env["REPO_FULL_NAME"] == "acme/widgets" and env["ISSUE_NUMBER"] == "7" and env["AGENT"] == "custom"
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-test-key"
    assert "GITHUB_TOKEN" not in env
    assert sorted(name for name in env if name.startswith("CAPSTAN_")) == ["CAPSTAN_EXECUTION_ID", "CAPSTAN_TASK_ID"]
    everything_the_agent_saw = show(remote, "agent-env.txt") + show(remote, "agent-git-config.txt")
    for secret in (GITHUB_TOKEN, "worker-secrets-key-value", "postgresql://"):
        assert secret not in everything_the_agent_saw


async def test_an_agent_that_commits_itself_gets_no_extra_commit(runner, remote, receiver):
    command = 'sed -i s/teh/the/ README.md && git commit -qam "fix: the typo"'

    result = await runner.run(launch_for(str(remote), receiver.callback_url, command=command), secrets())

    assert result.exit_code == 0, result
    assert remote_log(remote, BRANCH) == ["fix: the typo", "initial"]
    assert show(remote, "README.md") == "# widgets\nthe typo"


async def test_a_failing_agent_is_reported_with_its_exit_code_and_output_and_nothing_is_pushed(
        runner, remote, receiver):
    command = "echo working on it; echo 'cannot reach the model' >&2; touch half-done.txt; exit 3"

    result = await runner.run(launch_for(str(remote), receiver.callback_url, command=command), secrets())

    assert result.exit_code == 1 and result.reported
    [post] = receiver.posts
    assert post.json["status"] == "failed"
    assert post.json["error"].startswith("agent exited with code 3. ")
    assert "working on it" in post.json["error"] and "cannot reach the model" in post.json["error"]
    assert BRANCH not in branches(remote)


async def test_an_agent_that_changes_nothing_fails_without_pushing(runner, remote, receiver):
    result = await runner.run(launch_for(str(remote), receiver.callback_url, command="true"), secrets())

    assert result.exit_code == 1 and result.reported
    assert receiver.posts[0].json["status"] == "failed"
    assert receiver.posts[0].json["error"] == "agent made no changes"
    assert BRANCH not in branches(remote)


async def test_a_missing_base_branch_falls_back_to_master_then_fails(runner, tmp_path, receiver):
    master_only = make_bare_remote(tmp_path, {"README.md": "x\n"}, name="master-only.git")
    git("branch", "-m", "main", "master", cwd=master_only)

    result = await runner.run(launch_for(str(master_only), receiver.callback_url, base="develop"), secrets())
    assert result.exit_code == 0, result
    assert git("rev-parse", f"refs/heads/{BRANCH}~1", cwd=master_only) == \
        git("rev-parse", "refs/heads/master", cwd=master_only)

    git("branch", "-m", "master", "trunk", cwd=master_only)
    result = await runner.run(launch_for(str(master_only), receiver.callback_url, base="develop"), secrets())
    assert result.exit_code == 1
    assert receiver.posts[-1].json["error"] == "Could not find base branch (develop or master)."


async def test_cancelling_a_run_kills_the_agent_and_every_process_it_started(runner, remote, receiver, shared,
                                                                             tmp_path):
    fifo = shared / "agent-started"
    os.mkfifo(fifo)
    marker = f"600.{random.randrange(10**8):08d}"  # names this test's processes in the host's process table
    command = f"sleep {marker} & printf started > {fifo}; wait"
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    run = asyncio.create_task(runner.run(launch_for(str(remote), receiver.callback_url, command=command), secrets()))
    try:
        await asyncio.wait_for(_readable(reader), timeout=60)
    finally:
        os.close(reader)
    pids = processes_with(marker)
    assert len(pids) >= 2, "the agent's shell and its sleep are running"
    watch = ProcessWatch(pids)

    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    assert watch.still_running() == 0, "a cancelled run left processes behind"
    assert not (tmp_path / "work" / EXECUTION_ID).exists()
    assert receiver.posts == [] and BRANCH not in branches(remote)


def test_the_github_token_reaches_git_only_as_an_https_header():
    env = git_auth_env("https://github.com/acme/widgets.git", GITHUB_TOKEN)
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    assert GITHUB_TOKEN not in str(env)
    assert git_auth_env("/srv/git/widgets.git", GITHUB_TOKEN) == {}
    assert git_auth_env("file:///srv/git/widgets.git", GITHUB_TOKEN) == {}


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)
