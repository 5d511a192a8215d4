"""Real repositories for the maintenance tests: an upstream that tags releases, and a fork whose
``patches`` branch carries three commits on an older tag."""

from __future__ import annotations

import asyncio
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from temporalio.client import Client

from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.maintenance.workflow_io import DispatchOutcome, flow_event_dispatch_workflow_id, workspace_run_workflow_id
from tests.support import git, make_git_repo

PATCH_SUBJECTS = ["patch: add feature one", "patch: tune config", "patch: add feature two"]


@dataclass
class Repos:
    upstream_work: Path
    upstream: Path
    fork: Path


def upstream_and_fork(root: Path) -> Repos:
    work = make_git_repo(root / "upstream-work", {"app.txt": "app v1\n", "config.txt": "setting = a\n"})
    git("tag", "v1.0.0", cwd=work)
    upstream = root / "upstream.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(upstream)], check=True)
    git("remote", "add", "origin", str(upstream), cwd=work)
    fork = root / "fork.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(upstream), str(fork)], check=True)
    fork_work = root / "fork-work"
    subprocess.run(["git", "clone", "-q", str(fork), str(fork_work)], check=True)
    git("checkout", "-q", "-b", "patches", "v1.0.0", cwd=fork_work)
    changes = [("feature-one.txt", "one\n"), ("config.txt", "setting = patched\n"), ("feature-two.txt", "two\n")]
    for (name, content), subject in zip(changes, PATCH_SUBJECTS, strict=True):
        (fork_work / name).write_text(content)
        git("add", name, cwd=fork_work)
        git("commit", "-q", "-m", subject, cwd=fork_work)
    git("push", "-q", "origin", "patches", cwd=fork_work)
    return Repos(work, upstream, fork)


def release(repos: Repos, tag: str, files: dict[str, str]) -> str:
    """Commit ``files`` upstream, tag it ``tag``, push both; the tagged commit's sha."""
    for name, content in files.items():
        (repos.upstream_work / name).write_text(content)
        git("add", name, cwd=repos.upstream_work)
    git("commit", "-q", "-m", f"release {tag}", cwd=repos.upstream_work)
    git("tag", tag, cwd=repos.upstream_work)
    git("push", "-q", "origin", "HEAD:refs/heads/main", tag, cwd=repos.upstream_work)
    return git("rev-parse", "HEAD", cwd=repos.upstream_work)


def git_release_source(source_id: str, repos: Repos, **target_payload: Any) -> dict[str, Any]:
    return {"id": source_id, "provider": "git", "url": str(repos.upstream), "event": "release",
            "repo": {"owner": "acme", "name": "widget", "fullName": "acme/widget",
                     "webUrl": "https://git.example.invalid/acme/widget"},
            "target": {"mode": "workspace_flow", "eventType": "upstream.release",
                       "payload": {"forkUrl": str(repos.fork), "patchBranch": "patches", **target_payload}}}


def write_sources(path: Path, *sources: dict[str, Any]) -> None:
    path.write_text(json.dumps({"sources": list(sources)}))


def seg(identifier: str) -> str:
    """An id as one path segment, the way clients send it."""
    return quote(identifier, safe="")


async def finished_dispatch(client: Client, settings: Settings, event_id: str, timeout: float = 90) -> DispatchOutcome:
    """Await the intake's dispatch of ``event_id`` and every built-in run it started."""
    queue = surface_task_queue(settings.temporal, WorkerSurfaceName.MAINTENANCE)
    handle = client.get_workflow_handle(flow_event_dispatch_workflow_id(queue, event_id),
                                        result_type=DispatchOutcome)
    outcome = await asyncio.wait_for(handle.result(), timeout)
    await finished_runs(client, settings, [start.run_id for start in outcome.start_runs], timeout)
    return outcome


async def finished_runs(client: Client, settings: Settings, run_ids: list[str], timeout: float = 90) -> list[str]:
    queue = surface_task_queue(settings.temporal, WorkerSurfaceName.MAINTENANCE)
    return [await asyncio.wait_for(client.get_workflow_handle(workspace_run_workflow_id(queue, run_id)).result(),
                                   timeout) for run_id in run_ids]


def remote_refs(bare: Path, pattern: str = "refs/heads/candidates/") -> dict[str, str]:
    out = git("for-each-ref", "--format=%(refname) %(objectname)", pattern, cwd=bare)
    return dict(line.split(" ", 1) for line in out.splitlines()) if out else {}
