"""``patch-stack-rebase``: replay a fork's patch branch onto a new upstream release or push, in real git.

Each run works in ``work_root/<run id>``: a scratch repository whose object store borrows the cached
mirrors' (git alternates), so nothing is copied and the mirrors are never written. The stack is
cherry-picked there one commit at a time with each patch's own committer and date, so replaying the same
stack onto the same upstream commit always gives the same shas: a retried run recognises its own earlier
push on the fork. The optional check runs in the sandbox on a second checkout of the candidate, never in
the repository Capstan pushes from (a check could otherwise plant git configuration that runs on push).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.exceptions import ApplicationError

from integrations.git import RepositoryCache
from integrations.sandbox import Sandbox, SandboxUnavailable, SandboxView, shell
from models.maintenance.status import AttemptStatus

CANDIDATE_BRANCH_PREFIX = "candidates/"
OUTPUT_TAIL_CHARS = 4000
PUSH_FAILED = "CandidatePushFailed"
_SHA = re.compile(r"[0-9a-fA-F]{4,40}")
# A push the fork refused on purpose: trying again will not help, so it is the run's result.
_PUSH_REFUSED = re.compile(r"\[rejected\]|\[remote rejected\]|denied|not allowed|protected", re.IGNORECASE)


class Blocked(Exception):
    """The run cannot start on this payload or these repositories."""


class RunFailed(Exception):
    """The run stopped for a reason another try would not change."""


@dataclass
class Upstream:
    url: str
    kind: str  # "release" | "branch"
    tag: str | None
    sha: str | None
    ref: str | None


@dataclass
class RebaseRequest:
    fork_url: str
    patch_branch: str
    check_command: str | None
    upstream: Upstream

    @classmethod
    def from_payload(cls, payload: dict) -> RebaseRequest:
        fork_url = _text(payload, "forkUrl")
        if not fork_url:
            raise Blocked("payload.forkUrl is required: the fork whose patch branch is rebased")
        upstream_url = _text(payload, "upstreamUrl") or _text(payload, "url")
        if not upstream_url:
            raise Blocked("payload names no upstream remote (upstreamUrl or url)")
        for url in (fork_url, upstream_url):
            if url.startswith("-"):  # git would read it as an option
                raise Blocked(f"{url!r} is not a git remote")
        tag, sha, ref = _text(payload, "tag"), _text(payload, "sha"), _text(payload, "ref")
        if not (tag or sha or ref):
            raise Blocked("payload names no upstream tag, sha or ref")
        if not tag and sha and not _SHA.fullmatch(sha):
            raise Blocked(f"payload.sha {sha!r} is not a commit id")
        upstream = Upstream(upstream_url, "release" if tag else "branch", tag, sha if not tag else None, ref)
        return cls(fork_url, _text(payload, "patchBranch") or "patches", _text(payload, "checkCommand"), upstream)


def _text(payload: dict, key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Blocked(f"payload.{key} must be a string")
    return value.strip() or None


@dataclass
class Patch:
    sha: str
    subject: str
    committer_name: str
    committer_email: str
    committer_date: str


@dataclass
class Outcome:
    """The result payload being built: ``artifacts`` grows as the run learns more."""

    artifacts: dict = field(default_factory=lambda: {"applied": []})

    def result(self, status: AttemptStatus, message: str, **artifacts) -> dict:
        return {"status": str(status), "message": message, "artifacts": {**self.artifacts, **artifacts}}


class PatchStackRebase:
    def __init__(self, repositories: RepositoryCache, sandbox: Sandbox, work_root: Path,
                 check_timeout_seconds: float) -> None:
        self.repositories = repositories
        self.git = repositories.git
        self.sandbox = sandbox
        self.work_root = work_root
        self.check_timeout_seconds = check_timeout_seconds

    async def run(self, payload: dict, *, run_id: str) -> dict:
        outcome = Outcome()
        workdir = self.work_root / (re.sub(r"[^A-Za-z0-9_-]", "_", run_id) or "_")
        try:
            request = RebaseRequest.from_payload(payload)
            upstream = request.upstream
            outcome.artifacts.update(upstreamKind=upstream.kind)
            if upstream.tag or upstream.sha:
                outcome.artifacts.update(upstreamLabel=upstream.tag or upstream.sha[:12])
            await _remove(workdir)
            return await self._rebase(request, workdir, outcome)
        except Blocked as blocked:
            return outcome.result(AttemptStatus.BLOCKED, str(blocked))
        except RunFailed as failed:
            return outcome.result(AttemptStatus.FAILED, str(failed))
        finally:
            await _remove(workdir)

    async def _rebase(self, request: RebaseRequest, workdir: Path, outcome: Outcome) -> dict:
        upstream_mirror, upstream_sha = await self._upstream_commit(request.upstream)
        label = request.upstream.tag or upstream_sha[:12]
        candidate_ref = f"refs/heads/{CANDIDATE_BRANCH_PREFIX}{label}"
        outcome.artifacts.update(upstreamLabel=label, upstreamSha=upstream_sha)
        fork_mirror, patch_head, candidate_head = await self._fork_heads(request, label)

        repo = workdir / "repo"
        await self._scratch_repository(repo, [upstream_mirror / "objects", fork_mirror / "objects"], upstream_sha)
        merge_base = await self.git.run("merge-base", patch_head, upstream_sha, cwd=repo, check=False)
        base_sha = merge_base.stdout.strip()
        if not base_sha:
            raise Blocked(f"patch branch {request.patch_branch!r} shares no history with {label}")
        outcome.artifacts.update(baseSha=base_sha)
        if base_sha == upstream_sha:
            return outcome.result(AttemptStatus.COMPLETED, f"{request.patch_branch} is already based on {label} "
                                                           f"({upstream_sha[:12]}); nothing to rebase")
        stack = await self._stack(repo, base_sha, patch_head)
        if not stack:
            return outcome.result(AttemptStatus.COMPLETED, f"every commit of {request.patch_branch} is already "
                                                           f"in {label}; nothing to rebase")

        already_upstream: list[dict] = []
        for patch in stack:
            conflict = await self._cherry_pick(repo, patch)
            if conflict is None:
                head = (await self.git.run("rev-parse", "HEAD", cwd=repo)).stdout.strip()
                outcome.artifacts["applied"].append({"sha": head, "subject": patch.subject})
            elif conflict == []:
                already_upstream.append({"sha": patch.sha, "subject": patch.subject})
            else:
                return outcome.result(
                    AttemptStatus.NEEDS_INTERVENTION,
                    f"patch {patch.sha[:12]} {patch.subject!r} conflicts with {label} in {', '.join(conflict)}",
                    conflict={"commit": patch.sha, "subject": patch.subject, "files": conflict})
        if already_upstream:
            outcome.artifacts.update(alreadyUpstream=already_upstream)
        if not outcome.artifacts["applied"]:
            return outcome.result(AttemptStatus.COMPLETED, f"every patch of {request.patch_branch} is already "
                                                           f"in {label}; nothing to push")

        tip = (await self.git.run("rev-parse", "HEAD", cwd=repo)).stdout.strip()
        pushed = {"candidateRefs": [{"kind": "branch", "repo": request.fork_url, "remote": request.fork_url,
                                     "ref": candidate_ref, "sha": tip, "pushed": True}]}
        applied = len(outcome.artifacts["applied"])
        changed_message = (f"rebased {applied} patch(es) of {request.patch_branch} onto {label} "
                           f"({upstream_sha[:12]}){', checkCommand passed,' if request.check_command else ''} "
                           f"and pushed {candidate_ref} ({tip[:12]})")
        if candidate_head == tip:  # this run's own push, before a retry
            return outcome.result(AttemptStatus.CHANGED, changed_message, **pushed)
        if candidate_head and await self._tree(repo, candidate_head) == await self._tree(repo, tip):
            return outcome.result(AttemptStatus.COMPLETED, f"{candidate_ref} on the fork already holds the same "
                                                           f"tree ({candidate_head[:12]}); nothing pushed")

        if request.check_command:
            # A passing check leaves no artifact, so a retry that finds its own push answers the same.
            check = await self._check(workdir / "check", repo, tip, request.check_command,
                                      [upstream_mirror / "objects", fork_mirror / "objects"])
            timed_out = check.pop("timedOut")
            if timed_out or check["exitCode"] != 0:
                reason = (f"timed out after {self.check_timeout_seconds:g} s" if timed_out
                          else f"exited with {check['exitCode']}")
                return outcome.result(AttemptStatus.FAILED, f"checkCommand {reason}; nothing pushed", check=check)

        await self._push(repo, request.fork_url, tip, candidate_ref)
        return outcome.result(AttemptStatus.CHANGED, changed_message, **pushed)

    async def _upstream_commit(self, upstream: Upstream) -> tuple[Path, str]:
        async with self.repositories.lock(upstream.url):
            mirror = await self._sync(upstream.url, "upstream", with_tags=True)
            if upstream.tag:
                sha = await self._commit(mirror, f"refs/tags/{upstream.tag}")
                missing = f"tag {upstream.tag!r} does not exist in {upstream.url}"
            elif upstream.sha:
                sha = await self._commit(mirror, upstream.sha)
                missing = f"commit {upstream.sha[:12]} is not in {upstream.url}"
            else:
                ref = upstream.ref or ""
                names = [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
                sha = None
                for name in names:
                    sha = sha or await self._commit(mirror, name)
                missing = f"ref {ref!r} does not exist in {upstream.url}"
        if sha is None:
            raise Blocked(missing)
        return mirror, sha

    async def _fork_heads(self, request: RebaseRequest, label: str) -> tuple[Path, str, str | None]:
        async with self.repositories.lock(request.fork_url):
            mirror = await self._sync(request.fork_url, "fork")
            patch_head = await self.repositories.branch_head(mirror, request.patch_branch)
            candidate_head = await self.repositories.branch_head(mirror, CANDIDATE_BRANCH_PREFIX + label)
        if patch_head is None:
            raise Blocked(f"patch branch {request.patch_branch!r} does not exist in {request.fork_url}")
        return mirror, patch_head, candidate_head

    async def _sync(self, url: str, role: str, *, with_tags: bool = False) -> Path:
        try:
            return await self.repositories.sync(url, with_tags=with_tags)
        except ApplicationError as error:
            raise Blocked(f"{role} unreachable: {error.message}") from None

    async def _commit(self, repo: Path, name: str) -> str | None:
        result = await self.git.run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", cwd=repo, check=False)
        return result.stdout.strip() or None

    async def _scratch_repository(self, path: Path, object_stores: list[Path], sha: str) -> None:
        """A repository reading the given object stores, its work tree at ``sha`` (detached)."""
        await self.git.run("init", "--quiet", str(path))
        alternates = path / ".git" / "objects" / "info" / "alternates"
        alternates.parent.mkdir(parents=True, exist_ok=True)
        alternates.write_text("".join(f"{store.resolve()}\n" for store in dict.fromkeys(object_stores)))
        await self.git.run("checkout", "--quiet", "--detach", sha, cwd=path)

    async def _stack(self, repo: Path, base: str, head: str) -> list[Patch]:
        log = await self.git.run("log", "--no-merges", "--reverse", "--format=%H%x00%cn%x00%ce%x00%ct %cz%x00%s",
                                 f"{base}..{head}", cwd=repo)
        patches = []
        for line in log.stdout.splitlines():
            sha, name, email, date, subject = line.split("\x00", 4)
            patches.append(Patch(sha, subject, name, email, f"@{date}"))
        return patches

    async def _cherry_pick(self, repo: Path, patch: Patch) -> list[str] | None:
        """None when applied; the conflicting files on a conflict (aborted); [] when the patch is already
        upstream (its change is empty here, so it is left out)."""
        committer = {"GIT_COMMITTER_NAME": patch.committer_name, "GIT_COMMITTER_EMAIL": patch.committer_email,
                     "GIT_COMMITTER_DATE": patch.committer_date}
        result = await self.git.run("-c", "commit.gpgSign=false", "cherry-pick", "--allow-empty", patch.sha,
                                    cwd=repo, check=False, env=committer)
        if result.returncode == 0:
            return None
        unmerged = await self.git.run("diff", "--name-only", "--diff-filter=U", cwd=repo)
        files = sorted(set(unmerged.stdout.split("\n")) - {""})
        if files:
            await self.git.run("cherry-pick", "--abort", cwd=repo)
            return files
        pending = await self.git.run("status", "--porcelain", "--untracked-files=no", cwd=repo)
        if pending.stdout.strip():
            raise RunFailed(f"cherry-pick of {patch.sha[:12]} {patch.subject!r} failed: "
                            f"{result.stderr.strip()[-500:]}")
        await self.git.run("cherry-pick", "--skip", cwd=repo, env=committer)
        return []

    async def _tree(self, repo: Path, sha: str) -> str | None:
        result = await self.git.run("rev-parse", "--verify", "--quiet", f"{sha}^{{tree}}", cwd=repo, check=False)
        return result.stdout.strip() or None

    async def _check(self, checkout: Path, repo: Path, tip: str, command: str, object_stores: list[Path]) -> dict:
        """Run ``command`` in the sandbox on a checkout of ``tip`` of its own."""
        await self._scratch_repository(checkout, [repo / ".git" / "objects"], tip)
        view = SandboxView(worktree=checkout, read_only=tuple(
            store.resolve() for store in dict.fromkeys([repo / ".git" / "objects", *object_stores])))
        try:
            result = await self.sandbox.run(shell(command), view, timeout=self.check_timeout_seconds,
                                            heartbeat="checkCommand")
        except SandboxUnavailable as error:
            raise RunFailed(f"checkCommand cannot run: {error}; nothing pushed") from None
        return {"command": command, "exitCode": result.returncode, "outputTail": result.output[-OUTPUT_TAIL_CHARS:],
                "timedOut": result.timed_out}

    async def _push(self, repo: Path, fork_url: str, sha: str, ref: str) -> None:
        result = await self.git.run("push", "--force", "--quiet", fork_url, f"{sha}:{ref}", cwd=repo, check=False)
        if result.returncode == 0:
            return
        reason = result.stderr.strip()[-500:]
        if _PUSH_REFUSED.search(reason):
            raise RunFailed(f"the fork refused {ref}: {reason}")
        raise ApplicationError(f"push of {ref} to the fork failed: {reason}", type=PUSH_FAILED)


async def _remove(path: Path) -> None:
    if path.exists():
        await asyncio.to_thread(shutil.rmtree, path, True)
