"""Helpers shared by the tests: real git repositories and waiting on real workflows."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client

GIT_ENV = {"GIT_AUTHOR_NAME": "Capstan Test", "GIT_AUTHOR_EMAIL": "test@capstan.invalid",
           "GIT_COMMITTER_NAME": "Capstan Test", "GIT_COMMITTER_EMAIL": "test@capstan.invalid"}


def git(*args: str, cwd: Path) -> str:
    import os

    result = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                            env={**os.environ, **GIT_ENV})
    return result.stdout.strip()


def make_git_repo(path: Path, files: dict[str, str] | None = None, branch: str = "main") -> Path:
    """A real repository with one commit on ``branch`` holding ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", branch, cwd=path)
    for name, content in (files or {"README.md": "# demo\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "initial", cwd=path)
    return path


async def workflow_result(client: Client, workflow_id: str, timeout: float = 60.0):
    """Await a workflow's result: the event a test waits on, with a bound."""
    handle = client.get_workflow_handle(workflow_id)
    return await handle.result(rpc_timeout=timedelta(seconds=timeout))
