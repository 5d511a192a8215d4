"""The ``local`` runner: the agent as a sandboxed process on the worker, with trusted git around it.

Two repositories per execution under ``<workdir>/<executionId>/``:

- ``trusted.git`` (bare, shallow): cloned from the task's repository with the GitHub token, and the one
  Capstan pushes from. The agent never sees it, so nothing the agent writes (hooks, config, symlinks)
  ever runs or is read by Capstan's own git.
- ``repo``: the agent's working copy, cloned from ``trusted.git``, on the task branch. The agent runs in
  the repository-code sandbox (integrations/sandbox.py) with ``repo`` as its only writable place
  and the agent environment of ``spec.agent_env`` (no GitHub token, no worker setting).

After the agent, a second sandboxed command commits what it left and bundles its commits beyond the base;
Capstan reads that one regular file, fetches it into ``trusted.git`` and pushes the branch. The token
reaches git only through the environment of those trusted commands (an ``http.extraHeader``), never an
argv, a clone's config, a message or the agent. Cancelling ``run`` (what a Temporal activity cancel
raises) kills the agent's whole process tree; the directory is removed in every case.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from integrations.git import GitRunner
from integrations.runners.callback import DEFAULT_WAITS, post_completion
from integrations.runners.spec import RunnerLaunch, RunnerSecrets, agent_env
from integrations.sandbox import Sandbox, SandboxUnavailable, SandboxView, shell
from models.tasks.agents import MOCK_AGENT_SCRIPT
from models.tasks.workflow_io import RunnerExit

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 80
RESULT_BUNDLE = ".capstan-result.bundle"
# Runs in the sandbox after the agent: commit what it left, print HEAD, bundle the commits beyond the base.
FINISH_SCRIPT = r"""
base=$1; message=$2
git add -A
if ! git diff --cached --quiet; then git -c commit.gpgSign=false commit -q --no-verify -m "$message"; fi
head=$(git rev-parse HEAD)
echo "head=$head"
if [ "$head" != "$base" ]; then git bundle create -q .capstan-result.bundle "$base..HEAD"; fi
"""


class RunnerFailed(Exception):
    """A step of the run failed; ``str()`` is the error reported through the callback."""


def git_auth_env(clone_url: str, token: str) -> dict[str, str]:
    """The environment that makes git send ``token`` to an https remote (as GitHub's ``x-access-token``
    basic credentials), without putting it in an argv or a repository's config. Empty for other URLs."""
    if not clone_url.startswith("https://") or not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}


class LocalRunner:
    def __init__(self, sandbox: Sandbox, git: GitRunner, workdir: Path, *, author_name: str | None = None,
                 author_email: str | None = None, callback_waits: tuple[float, ...] = DEFAULT_WAITS) -> None:
        """The commits' author defaults to the git runner's (``CAPSTAN_GIT_AUTHOR_NAME``/``_EMAIL``)."""
        self.sandbox = sandbox
        self.git = git
        self.workdir = workdir
        author_name = author_name or git.env["GIT_AUTHOR_NAME"]
        author_email = author_email or git.env["GIT_AUTHOR_EMAIL"]
        self.author = {"GIT_AUTHOR_NAME": author_name, "GIT_AUTHOR_EMAIL": author_email,
                       "GIT_COMMITTER_NAME": author_name, "GIT_COMMITTER_EMAIL": author_email}
        self.callback_waits = callback_waits

    def log_path(self, execution_id: str) -> Path:
        """Where the agent's output of an execution is kept (the clone itself is removed)."""
        return self.workdir / "logs" / f"{execution_id}.log"

    async def run(self, launch: RunnerLaunch, secrets: RunnerSecrets) -> RunnerExit:
        root = self.workdir / launch.execution_id
        try:
            try:
                report = await self._run(launch, secrets, root)
            except RunnerFailed as failure:
                report = {"status": "failed", "error": secrets.scrub(str(failure)),
                          "summary": secrets.scrub(str(failure))}
            payload = {"execution_id": launch.execution_id, "task_id": launch.execution_id,
                       "branch_name": launch.branch, "base_branch": launch.base_branch, "pr_exists": 0, **report}
            status = await post_completion(launch.callback_url, secrets.callback_token, payload,
                                           waits=self.callback_waits)
            reported = status is not None and 200 <= status < 300
            message = report.get("summary") or report.get("error") or ""
            return RunnerExit(exit_code=0 if report["status"] == "complete" else 1, reported=reported,
                              message=message)
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, root, True))

    async def _run(self, launch: RunnerLaunch, secrets: RunnerSecrets, root: Path) -> dict[str, Any]:
        auth = git_auth_env(launch.clone_url, secrets.github_token)
        if root.exists():  # a retried activity starts over
            await asyncio.to_thread(shutil.rmtree, root, True)
        root.mkdir(parents=True)
        trusted, repo = root / "trusted.git", root / "repo"

        base = await self._existing_base(launch.clone_url, launch.base_branch, auth, root)
        cloned = await self.git.run("clone", "--quiet", "--bare", "--depth", "1", "--branch", base,
                                    launch.clone_url, str(trusted), cwd=root, check=False, env=auth)
        if cloned.returncode != 0:
            raise RunnerFailed("Failed to clone repository.")
        await self.git.run("clone", "--quiet", "--no-local", f"file://{trusted}", str(repo), cwd=root)
        await self.git.run("remote", "set-url", "origin", launch.clone_url, cwd=repo)
        await self.git.run("checkout", "--quiet", "-B", launch.branch, cwd=repo)
        base_sha = (await self.git.run("rev-parse", "HEAD", cwd=repo)).stdout.strip()

        await self._run_agent(launch, secrets, repo)
        head = await self._finish(launch, repo, base_sha)
        if head == base_sha:
            raise RunnerFailed("agent made no changes")
        await self._take_result(repo, trusted, launch.branch, root)
        pushed = await self.git.run("push", "--quiet", "--force", launch.clone_url,
                                    f"refs/heads/{launch.branch}:refs/heads/{launch.branch}",
                                    cwd=trusted, check=False, env=auth)
        if pushed.returncode != 0:
            log.warning("push of %s failed: %s", launch.branch, secrets.scrub(pushed.stderr.strip()[-500:]))
            raise RunnerFailed(f"Agent completed but failed to push branch {launch.branch}.")
        short = (await self.git.run("rev-parse", "--short", f"refs/heads/{launch.branch}", cwd=trusted)).stdout.strip()
        return {"status": "complete", "commit_hash": short,
                "summary": f"Agent completed successfully. Branch {launch.branch} pushed at {short}."}

    async def _existing_base(self, url: str, base: str, auth: dict[str, str], cwd: Path) -> str:
        for candidate in dict.fromkeys([base, "master"]):
            found = await self.git.run("ls-remote", "--exit-code", "--heads", url, candidate, cwd=cwd, check=False,
                                       env=auth)
            if found.returncode == 0:
                return candidate
        raise RunnerFailed(f"Could not find base branch ({base} or master).")

    async def _run_agent(self, launch: RunnerLaunch, secrets: RunnerSecrets, repo: Path) -> None:
        command = launch.agent_command or MOCK_AGENT_SCRIPT
        env = {**agent_env(launch, secrets), **self.author}
        try:
            result = await self.sandbox.run(shell(command), SandboxView(repo), env=env,
                                            heartbeat=f"agent {launch.agent}")
        except SandboxUnavailable as error:
            raise RunnerFailed(f"the agent cannot run on this worker: {error}") from None
        log_file = self.log_path(launch.execution_id)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(secrets.scrub(result.output))
        if result.returncode != 0:
            tail = "\n".join(secrets.scrub(result.output).splitlines()[-LOG_TAIL_LINES:])
            raise RunnerFailed(f"agent exited with code {result.returncode}. {tail}".rstrip())

    async def _finish(self, launch: RunnerLaunch, repo: Path, base_sha: str) -> str:
        """Commit what the agent left and bundle its commits, in the sandbox (the repository is the
        agent's now: its hooks and config must not run outside). Returns HEAD."""
        argv = ["sh", "-e", "-c", FINISH_SCRIPT, "capstan-finish", base_sha, f"capstan: {launch.task_id}"]
        result = await self.sandbox.run(argv, SandboxView(repo), env=self.author, heartbeat="commit")
        heads = [line[5:] for line in result.output.splitlines() if line.startswith("head=")]
        if result.returncode != 0 or not heads:
            tail = "\n".join(result.output.splitlines()[-LOG_TAIL_LINES:])
            raise RunnerFailed(f"could not commit the agent's changes: {tail}".rstrip())
        return heads[-1].strip()

    async def _take_result(self, repo: Path, trusted: Path, branch: str, root: Path) -> None:
        """Copy the bundle out (a regular file, never a link the agent planted) and fetch it as the branch."""
        copy = root / "result.bundle"
        try:
            await asyncio.to_thread(_copy_regular_file, repo / RESULT_BUNDLE, copy)
        except OSError:
            raise RunnerFailed("the agent's commits could not be read") from None
        fetched = await self.git.run("fetch", "--quiet", "--no-tags", "--update-shallow", str(copy),
                                     f"+HEAD:refs/heads/{branch}", cwd=trusted, check=False)
        if fetched.returncode != 0:
            raise RunnerFailed(f"the agent's commits could not be read: {fetched.stderr.strip()[-300:]}")


def _copy_regular_file(source: Path, target: Path) -> None:
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            raise OSError(f"{source.name} is not a regular file")
        with open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
