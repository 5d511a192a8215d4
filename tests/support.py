"""Helpers shared by the tests: real git repositories and waiting on real workflows."""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
from pathlib import Path
from typing import Any

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
    return await asyncio.wait_for(handle.result(), timeout)


async def settle(client: Client, protocol_run_id: int, timeout: float = 120.0) -> str | None:
    """Await the end of the work a protocol run's actions started (the ``wait_idle`` update).
    Returns the run's status, or None when its workflow had already finished."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from models.protocols.workflow_io import Update, protocol_run_workflow_id

    handle = client.get_workflow_handle(protocol_run_workflow_id(protocol_run_id))
    try:
        return await asyncio.wait_for(handle.execute_update(Update.WAIT_IDLE, result_type=str), timeout)
    except (WorkflowUpdateFailedError, RPCError) as exc:
        if "completed" in str(exc).lower() or "not found" in str(exc).lower():
            return None
        raise


def make_bare_remote(tmp_path: Path, files: dict[str, str], name: str = "remote.git") -> Path:
    """A bare repository (the project's remote) holding ``files`` on main."""
    work = make_git_repo(tmp_path / f"{name}-work", files)
    bare = tmp_path / name
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(bare)], check=True)
    return bare


def remote_log(bare: Path, branch: str) -> list[str]:
    """Subjects of the commits on ``branch`` of a bare repository, newest first."""
    out = git("log", "--format=%s", f"refs/heads/{branch}", cwd=bare)
    return out.splitlines()


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is ``status`` in the one error shape (with ``code`` when given)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "detail", "request_id"}
    if code:
        assert body["error"] == code
    return body


#: GitHub's real webhook payloads (copied from the project's shared fixtures; see tests/fixtures/README.md).
GITHUB_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "github"


def github_fixture(event: str, name: str = "payload") -> dict[str, Any]:
    """``github_fixture("workflow_run", "completed.payload")`` → the parsed payload."""
    return json.loads((GITHUB_FIXTURES / event / f"{name}.json").read_text())


def processes_with(token: str) -> list[int]:
    """Pids of the live processes whose command line holds ``token``, seen from outside any sandbox."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class ProcessWatch:
    """pidfds of running processes, opened at once, so their end can be awaited without racing pid reuse."""

    def __init__(self, pids: list[int]) -> None:
        self.fds = [os.pidfd_open(pid) for pid in pids]

    def still_running(self, timeout: float = 10.0) -> int:
        """How many are still running after waiting at most ``timeout`` seconds for each; closes the pidfds."""
        try:
            return sum(1 for fd in self.fds if not select.select([fd], [], [], timeout)[0])
        finally:
            for fd in self.fds:
                os.close(fd)
