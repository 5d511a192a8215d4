"""patch-stack-rebase on real repositories: an upstream with releases, a bare fork carrying a patch branch."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from capstan.settings import SandboxSettings
from integrations.git import GitRunner, RepositoryCache
from integrations.sandbox import Sandbox
from integrations.workspaces.rebase import PatchStackRebase
from tests.support import git, make_git_repo

PATCH_SUBJECTS = ["patch 1: add patch1.txt", "patch 2: tune shared.txt", "patch 3: add patch3.txt"]


@dataclass
class Repos:
    upstream_work: Path
    upstream: Path
    fork: Path
    fork_work: Path

    def sha(self, name: str) -> str:
        return git("rev-parse", f"{name}^{{commit}}", cwd=self.upstream)

    def fork_refs(self, prefix: str = "refs/heads/candidates/") -> dict[str, str]:
        out = git("for-each-ref", "--format=%(refname) %(objectname)", prefix, cwd=self.fork)
        return dict(line.split(" ") for line in out.splitlines())

    def release(self, tag: str, files: dict[str, str]) -> None:
        """A new upstream commit changing ``files``, tagged ``tag`` and pushed."""
        for name, content in files.items():
            (self.upstream_work / name).write_text(content)
        git("add", "-A", cwd=self.upstream_work)
        git("commit", "-q", "-m", f"release {tag}", cwd=self.upstream_work)
        git("tag", tag, cwd=self.upstream_work)
        git("push", "-q", str(self.upstream), "main", tag, cwd=self.upstream_work)


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    upstream_work = make_git_repo(tmp_path / "upstream-work", {"README.md": "# lib\n", "shared.txt": "one\ntwo\n"})
    git("tag", "v1.0.0", cwd=upstream_work)
    upstream = tmp_path / "upstream.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(upstream_work), str(upstream)], check=True)
    repos = Repos(upstream_work, upstream, tmp_path / "fork.git", tmp_path / "fork-work")
    repos.release("v1.1.0", {"README.md": "# lib\n\nversion 1.1\n"})

    subprocess.run(["git", "clone", "--quiet", "--bare", str(upstream), str(repos.fork)], check=True)
    subprocess.run(["git", "clone", "--quiet", str(repos.fork), str(repos.fork_work)], check=True)
    git("checkout", "-q", "-b", "patches", "v1.0.0", cwd=repos.fork_work)
    for subject, (name, content) in zip(PATCH_SUBJECTS, [("patch1.txt", "1\n"), ("shared.txt", "one\nTWO\n"),
                                                         ("patch3.txt", "3\n")], strict=True):
        (repos.fork_work / name).write_text(content)
        git("add", "-A", cwd=repos.fork_work)
        git("commit", "-q", "-m", subject, cwd=repos.fork_work)
    git("push", "-q", "origin", "patches", cwd=repos.fork_work)
    return repos


@pytest.fixture
def rebase(tmp_path: Path) -> PatchStackRebase:
    git_runner = GitRunner()
    return PatchStackRebase(RepositoryCache(tmp_path / "git-cache", git_runner),
                            Sandbox(SandboxSettings(mode="bubblewrap")), tmp_path / "work", check_timeout_seconds=30)


def release_payload(repos: Repos, tag: str = "v1.1.0", **extra) -> dict:
    return {"provider": "git", "event": "release", "url": str(repos.upstream), "ref": tag, "tag": tag,
            "forkUrl": str(repos.fork), **extra}


async def test_rebases_the_patch_stack_onto_a_release_and_pushes_one_candidate(repos, rebase, tmp_path):
    patches_before = git("rev-parse", "refs/heads/patches", cwd=repos.fork)

    result = await rebase.run(release_payload(repos), run_id="run-1")

    assert result["status"] == "changed", result
    candidate = repos.fork_refs()["refs/heads/candidates/v1.1.0"]
    subjects = git("log", "--format=%s", "-3", candidate, cwd=repos.fork).splitlines()
    assert subjects == list(reversed(PATCH_SUBJECTS))
    assert git("rev-parse", f"{candidate}~3", cwd=repos.fork) == repos.sha("v1.1.0")
    artifacts = result["artifacts"]
    assert artifacts["upstreamKind"] == "release"
    assert artifacts["upstreamLabel"] == "v1.1.0"
    assert artifacts["upstreamSha"] == repos.sha("v1.1.0")
    assert artifacts["baseSha"] == repos.sha("v1.0.0")
    assert [patch["subject"] for patch in artifacts["applied"]] == PATCH_SUBJECTS
    assert artifacts["applied"][-1]["sha"] == candidate
    assert artifacts["candidateRefs"] == [{"kind": "branch", "repo": str(repos.fork), "remote": str(repos.fork),
                                           "ref": "refs/heads/candidates/v1.1.0", "sha": candidate, "pushed": True}]
    assert git("rev-parse", "refs/heads/patches", cwd=repos.fork) == patches_before
    assert not (tmp_path / "work" / "run-1").exists()

    # A retry (a worker died after the push) replays to the same commits and answers the same.
    again = await rebase.run(release_payload(repos), run_id="run-1")
    assert again == result
    assert repos.fork_refs() == {"refs/heads/candidates/v1.1.0": candidate}


async def test_a_push_event_names_the_candidate_after_the_upstream_commit(repos, rebase):
    head = repos.sha("main")
    payload = {"url": str(repos.upstream), "ref": "refs/heads/main", "sha": head, "forkUrl": str(repos.fork)}

    result = await rebase.run(payload, run_id="push-run")

    assert result["status"] == "changed", result
    assert result["artifacts"]["upstreamKind"] == "branch"
    assert result["artifacts"]["upstreamLabel"] == head[:12]
    assert list(repos.fork_refs()) == [f"refs/heads/candidates/{head[:12]}"]


async def test_a_later_release_that_took_a_patch_gets_the_rest_of_the_stack(repos, rebase):
    assert (await rebase.run(release_payload(repos), run_id="first"))["status"] == "changed"
    repos.release("v1.2.0", {"patch1.txt": "1\n"})  # upstream merged patch 1; the mirror must learn the new tag

    result = await rebase.run(release_payload(repos, "v1.2.0"), run_id="second")

    assert result["status"] == "changed", result
    assert [patch["subject"] for patch in result["artifacts"]["applied"]] == PATCH_SUBJECTS[1:]
    assert [patch["subject"] for patch in result["artifacts"]["alreadyUpstream"]] == PATCH_SUBJECTS[:1]
    candidate = repos.fork_refs()["refs/heads/candidates/v1.2.0"]
    assert git("rev-parse", f"{candidate}~2", cwd=repos.fork) == repos.sha("v1.2.0")


async def test_a_conflicting_patch_needs_intervention_and_nothing_is_pushed(repos, rebase):
    repos.release("v1.2.0", {"shared.txt": "one\nzwei\n"})
    patches_before = git("rev-parse", "refs/heads/patches", cwd=repos.fork)
    conflicting = git("rev-parse", "patches~1", cwd=repos.fork_work)

    result = await rebase.run(release_payload(repos, "v1.2.0"), run_id="conflict-run")

    assert result["status"] == "needs_intervention", result
    assert "shared.txt" in result["message"]
    assert conflicting[:12] in result["message"] and PATCH_SUBJECTS[1] in result["message"]
    assert result["artifacts"]["conflict"] == {"commit": conflicting, "subject": PATCH_SUBJECTS[1],
                                               "files": ["shared.txt"]}
    assert repos.fork_refs() == {}
    assert git("rev-parse", "refs/heads/patches", cwd=repos.fork) == patches_before


async def test_a_stack_already_on_the_release_completes_without_pushing(repos, rebase):
    result = await rebase.run(release_payload(repos, "v1.0.0"), run_id="noop-run")

    assert result["status"] == "completed", result
    assert result["artifacts"]["baseSha"] == result["artifacts"]["upstreamSha"] == repos.sha("v1.0.0")
    assert repos.fork_refs() == {}


async def test_someone_elses_candidate_with_the_same_tree_completes(repos, rebase):
    git("checkout", "-q", "--detach", "origin/main", cwd=repos.fork_work)
    git("cherry-pick", "-x", "v1.0.0..patches", cwd=repos.fork_work)  # other messages: other commits
    git("push", "-q", "origin", "HEAD:refs/heads/candidates/v1.1.0", cwd=repos.fork_work)
    theirs = repos.fork_refs()

    result = await rebase.run(release_payload(repos), run_id="theirs-run")

    assert result["status"] == "completed", result
    assert "same" in result["message"]
    assert repos.fork_refs() == theirs


async def test_a_failing_check_fails_the_run_with_its_output_and_pushes_nothing(repos, rebase):
    command = "echo checking the candidate; ls patch3.txt; exit 3"

    result = await rebase.run(release_payload(repos, checkCommand=command), run_id="check-fails")

    assert result["status"] == "failed", result
    check = result["artifacts"]["check"]
    assert check["command"] == command and check["exitCode"] == 3
    assert "checking the candidate" in check["outputTail"] and "patch3.txt" in check["outputTail"]
    assert repos.fork_refs() == {}


async def test_a_passing_check_lets_the_candidate_through(repos, rebase):
    # The check sees the candidate's files and its history.
    command = f"test -f patch1.txt && git log -1 --format=%s | grep -q '{PATCH_SUBJECTS[-1]}'"
    payload = release_payload(repos, checkCommand=command)

    result = await rebase.run(payload, run_id="check-passes")

    assert result["status"] == "changed", result
    assert "checkCommand passed" in result["message"]
    assert list(repos.fork_refs()) == ["refs/heads/candidates/v1.1.0"]
    assert await rebase.run(payload, run_id="check-passes") == result


async def test_a_fork_that_refuses_the_candidate_fails_the_run(repos, rebase):
    hook = repos.fork / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'no candidates here' >&2\nexit 1\n")
    hook.chmod(0o755)

    result = await rebase.run(release_payload(repos), run_id="refused-run")

    assert result["status"] == "failed", result
    assert "refused refs/heads/candidates/v1.1.0" in result["message"] and "no candidates here" in result["message"]
    assert repos.fork_refs() == {}


@pytest.mark.parametrize(("change", "reason"), [
    ({"forkUrl": None}, "forkUrl is required"),
    ({"tag": "v9.9.9"}, "tag 'v9.9.9' does not exist"),
    ({"forkUrl": "/nowhere/fork.git"}, "fork unreachable"),
    ({"url": "/nowhere/upstream.git"}, "upstream unreachable"),
    ({"patchBranch": "no-such-branch"}, "patch branch 'no-such-branch' does not exist"),
    ({"forkUrl": "--upload-pack=touch pwned"}, "is not a git remote"),
])
async def test_what_the_run_cannot_work_on_is_blocked(repos, rebase, change, reason):
    payload = {key: value for key, value in {**release_payload(repos), **change}.items() if value is not None}

    result = await rebase.run(payload, run_id="blocked-run")

    assert result["status"] == "blocked", result
    assert reason in result["message"]
    assert repos.fork_refs() == {}
