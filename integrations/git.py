"""Git: real ``git`` on real repositories, through a per-worker cache of mirror clones.

Activities work from the remote: they fetch into the cache, read or build what
they need, and push back. The remote is the state, so any worker can take any
activity and running one twice is harmless.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from filelock import AsyncFileLock
from temporalio.exceptions import ApplicationError

from integrations.process import Heartbeat, ProcessResult, child_env, run_process


class GitErrorType:
    REPOSITORY_UNREACHABLE = "RepositoryUnreachable"
    BRANCH_NOT_FOUND = "BaseBranchNotFound"
    GIT_FAILED = "GitCommandFailed"


# Failures that another try cannot fix: the repository is not there at all.
_PERMANENT_FETCH_FAILURE = re.compile(
    r"does not appear to be a git repository|does not exist|not found|No such file|"
    r"not a git repository|Invalid path|unable to find remote helper", re.IGNORECASE)


class GitRunner:
    """Runs git with no terminal prompts, calling ``heartbeat`` while a command runs."""

    def __init__(self, git_binary: str = "git", author_name: str = "Capstan",
                 author_email: str = "capstan@localhost", *, heartbeat: Heartbeat | None = None) -> None:
        self.git_binary = git_binary
        self.heartbeat = heartbeat
        self.env = child_env(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C",
                             GIT_AUTHOR_NAME=author_name, GIT_AUTHOR_EMAIL=author_email,
                             GIT_COMMITTER_NAME=author_name, GIT_COMMITTER_EMAIL=author_email)

    async def run(self, *args: str, cwd: Path | None = None, check: bool = True,
                  env: Mapping[str, str] | None = None) -> ProcessResult:
        """``env`` adds to (or overrides) the runner's environment for this one command."""
        result = await run_process([self.git_binary, *args], cwd=cwd, env={**self.env, **env} if env else self.env,
                                   heartbeat=self.heartbeat, heartbeat_detail=f"git {args[0]}")
        if check and result.returncode != 0:
            raise ApplicationError(
                f"git {args[0]} failed: {result.stderr.strip()[-500:]}", type=GitErrorType.GIT_FAILED)
        return result


def branch_not_found(branch: str, git_url: str) -> ApplicationError:
    return ApplicationError(f"branch {branch!r} does not exist in {git_url}", type=GitErrorType.BRANCH_NOT_FOUND,
                            non_retryable=True)


def detect_ci_provider(paths: list[str]) -> str | None:
    """The CI a repository uses, from the files at its branch tip."""
    if any(p.startswith(".github/workflows/") for p in paths):
        return "github"
    if ".gitlab-ci.yml" in paths:
        return "gitlab"
    return None


class RepositoryCache:
    """Mirror clones keyed by URL, one lock per mirror so concurrent activities do not collide."""

    def __init__(self, root: Path, git: GitRunner) -> None:
        self.root = root
        self.git = git

    def mirror_path(self, git_url: str) -> Path:
        digest = hashlib.sha256(git_url.encode()).hexdigest()[:20]
        return self.root / f"{digest}.git"

    def lock(self, git_url: str) -> AsyncFileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return AsyncFileLock(str(self.mirror_path(git_url)) + ".lock")

    async def sync(self, git_url: str, *, with_tags: bool = False) -> Path:
        """Clone the mirror, or fetch its branches (and its tags ``with_tags``) if it exists.
        The caller holds ``lock(git_url)``."""
        mirror = self.mirror_path(git_url)
        if (mirror / "HEAD").exists():
            refspecs = ["+refs/heads/*:refs/heads/*", *(["+refs/tags/*:refs/tags/*"] if with_tags else [])]
            result = await self.git.run("fetch", "--prune", "--force", "origin", *refspecs, cwd=mirror, check=False)
        else:
            tmp = mirror.with_suffix(".tmp")
            if tmp.exists():
                await asyncio.to_thread(shutil.rmtree, tmp, True)
            result = await self.git.run("clone", "--mirror", "--quiet", git_url, str(tmp), check=False)
            if result.returncode == 0:
                tmp.rename(mirror)
        if result.returncode != 0:
            message = f"cannot fetch {git_url}: {result.stderr.strip()[-500:]}"
            raise ApplicationError(message, type=GitErrorType.REPOSITORY_UNREACHABLE,
                                   non_retryable=bool(_PERMANENT_FETCH_FAILURE.search(result.stderr)))
        return mirror

    async def branch_head(self, mirror: Path, branch: str) -> str | None:
        result = await self.git.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}",
                                    cwd=mirror, check=False)
        return result.stdout.strip() or None


    async def add_worktree(self, mirror: Path, sha: str, path: Path) -> None:
        """A detached worktree: no local branch is checked out, so fetches into the mirror never clash."""
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.git.run(f"--git-dir={mirror}", "worktree", "add", "--detach", "--force", str(path), sha)

    async def remove_worktree(self, mirror: Path, path: Path) -> None:
        await self.git.run(f"--git-dir={mirror}", "worktree", "remove", "--force", str(path), check=False)
        if path.exists():
            await asyncio.to_thread(shutil.rmtree, path, True)
        await self.git.run(f"--git-dir={mirror}", "worktree", "prune", check=False)

    async def commit_message(self, mirror: Path, sha: str) -> str:
        return (await self.git.run("log", "-1", "--format=%B", sha, cwd=mirror)).stdout
