"""Workspace activities: plan a protocol from its step files, execute a step, run its QA.

Each works from the remote: fetch into this worker's mirror, check out a
detached worktree at the protocol branch (or the base branch), do the work,
push the branch back, remove the worktree. A retried execution recognises its
own pushed commit by the ``Capstan-Execution`` trailer and does not run twice.

Repository code runs in the sandbox (integrations/sandbox.py), which sees the worktree
(writable) and the project's mirror (read-only, its config hidden: ``git status`` and
``git log`` work, commits do not). Whatever a step leaves in the worktree is untrusted
afterwards: Capstan's own git names the worktree's git dir explicitly instead of
following its ``.git`` file, pushes from the mirror, and reads step files only when
they do not lead outside the worktree.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from integrations.git import RepositoryCache, branch_not_found
from integrations.protocols.engines import DEFAULT_ENGINE, Engine, EngineContext, EngineOutcome, run_shell
from integrations.protocols.stepfile import StepFile, StepFileError, parse_step_file
from integrations.sandbox import Sandbox, SandboxView
from integrations.stores.artifacts import ArtifactStore
from models.protocols.artifact import ArtifactKind
from models.protocols.workflow_io import ActivityName, NewStep
from models.protocols.workspace_io import (
    BranchInput,
    ExecuteStepResult,
    PlanInput,
    PlanResult,
    QaResult,
    StepWorkInput,
    default_protocol_root,
)

EXECUTION_TRAILER = "Capstan-Execution"


class WorkspaceErrorType:
    INVALID_STEP_FILE = "InvalidStepFile"
    INVALID_PROTOCOL_ROOT = "InvalidProtocolRoot"
    PUSH_REJECTED = "PushRejected"


def normalize_root(root: str) -> str:
    """A repository-relative folder; absolute paths and ``..`` are refused."""
    clean = posixpath.normpath(root.strip().strip("/")) if root.strip("/ ") else ""
    if root.startswith("/") or clean.startswith("..") or clean in ("", "."):
        raise ApplicationError(f"protocol_root {root!r} must be a folder inside the repository",
                               type=WorkspaceErrorType.INVALID_PROTOCOL_ROOT, non_retryable=True)
    return clean


class WorkspaceActivities:
    def __init__(self, cache: RepositoryCache, artifacts: ArtifactStore, engines: dict[str, Engine],
                 sandbox: Sandbox) -> None:
        self.cache = cache
        self.git = cache.git
        self.artifacts = artifacts
        self.engines = engines
        self.sandbox = sandbox

    async def _fetch(self, git_url: str, *branches: str) -> tuple[Path, list[str | None]]:
        async with self.cache.lock(git_url):
            mirror = await self.cache.sync(git_url)
            return mirror, [await self.cache.branch_head(mirror, b) for b in branches]

    async def _fetch_protocol_branch(self, git_url: str, protocol_branch: str,
                                     base_branch: str) -> tuple[Path, str | None, str]:
        """The mirror, the protocol branch's tip (None before the first push) and where work
        starts: that tip, else the base branch's."""
        mirror, (branch_sha, base_sha) = await self._fetch(git_url, protocol_branch, base_branch)
        if base_sha is None and branch_sha is None:
            raise branch_not_found(base_branch, git_url)
        return mirror, branch_sha, branch_sha or base_sha

    @asynccontextmanager
    async def _worktree(self, git_url: str, mirror: Path, sha: str) -> AsyncIterator[Path]:
        path = self.cache.root / "worktrees" / f"{activity.info().workflow_id}-{uuid.uuid4().hex[:8]}"
        async with self.cache.lock(git_url):
            await self.cache.add_worktree(mirror, sha, path)
        try:
            yield path
        finally:
            path.with_name(f"{path.name}.prompt.md").unlink(missing_ok=True)
            async with self.cache.lock(git_url):
                await self.cache.remove_worktree(mirror, path)

    @activity.defn(name=ActivityName.PLAN_PROTOCOL)
    async def plan_protocol(self, request: PlanInput) -> PlanResult:
        """Step files are ``<root>/*.md`` at the base branch, sorted by name; a file's position
        is its ``step_index`` and its name the ``step_name``."""
        root = normalize_root(request.protocol_root or default_protocol_root(request.protocol_name))
        mirror, (base_sha,) = await self._fetch(request.git_url, request.base_branch)
        if base_sha is None:
            raise branch_not_found(request.base_branch, request.git_url)
        listing = await self.git.run("ls-tree", "--name-only", f"{base_sha}:{root}", cwd=mirror, check=False)
        names = sorted(n for n in listing.stdout.splitlines() if n.endswith(".md")) if listing.returncode == 0 else []
        steps = []
        for index, name in enumerate(names):
            text = (await self.git.run("show", f"{base_sha}:{root}/{name}", cwd=mirror)).stdout
            try:
                parsed = parse_step_file(text)
            except StepFileError as exc:
                raise ApplicationError(f"{root}/{name}: {exc}", type=WorkspaceErrorType.INVALID_STEP_FILE,
                                       non_retryable=True) from None
            steps.append(NewStep(step_index=index, step_name=name, step_type=parsed.step_type,
                                 engine_id=parsed.engine_id, model=parsed.model, policy=parsed.policy))
        return PlanResult(root=root, base_sha=base_sha, steps=steps)

    @activity.defn(name=ActivityName.EXECUTE_STEP)
    async def execute_step(self, request: StepWorkInput) -> ExecuteStepResult:
        mirror, branch_sha, start_sha = await self._fetch_protocol_branch(
            request.git_url, request.protocol_branch, request.base_branch)
        if branch_sha and f"{EXECUTION_TRAILER}: {request.execution_key}" in \
                await self.cache.commit_message(mirror, branch_sha):
            return ExecuteStepResult(exit_code=0, changed=True, commit_sha=branch_sha,
                                     artifact_id=await self.artifacts.find(request.execution_key),
                                     message="already executed and pushed", already_done=True)
        async with self._worktree(request.git_url, mirror, start_sha) as worktree:
            outcome = await self._run_engine(request, worktree, mirror)
            artifact_id = await self.artifacts.save(
                protocol_run_id=request.protocol_run_id, step_run_id=request.step_id,
                kind=ArtifactKind.ENGINE_OUTPUT, name=f"{request.step_name} ({request.engine_id or DEFAULT_ENGINE})",
                content=outcome.output, exit_code=outcome.exit_code, dedupe_key=request.execution_key)
            if outcome.exit_code != 0:
                return ExecuteStepResult(exit_code=outcome.exit_code, changed=False, commit_sha=None,
                                         artifact_id=artifact_id, message=outcome.message)
            commit_sha = await self._commit_and_push(request, worktree, mirror, branch_sha, start_sha)
        return ExecuteStepResult(exit_code=0, changed=commit_sha != start_sha, commit_sha=commit_sha,
                                 artifact_id=artifact_id, message=outcome.message)

    async def _run_engine(self, request: StepWorkInput, worktree: Path, mirror: Path) -> EngineOutcome:
        step_path = worktree / request.protocol_root / request.step_name
        if _leaves(worktree, step_path):
            return EngineOutcome(2, "", f"step file {request.protocol_root}/{request.step_name} leads outside "
                                        "the repository (a symbolic link?)")
        if step_path.is_file():
            text = step_path.read_text(errors="replace")
        elif request.prompt is not None:
            step_path = worktree.with_name(f"{worktree.name}.prompt.md")  # outside the tree: not committed
            step_path.write_text(request.prompt)
            text = request.prompt
        else:
            return EngineOutcome(2, "", f"step file {request.protocol_root}/{request.step_name} not found")
        try:
            step = parse_step_file(text)
        except StepFileError as exc:
            return EngineOutcome(2, "", f"{request.step_name}: {exc}")
        engine_id = request.engine_id or DEFAULT_ENGINE
        engine = self.engines.get(engine_id)
        if engine is None:
            return EngineOutcome(2, "", f"unknown engine {engine_id!r} (known: {', '.join(sorted(self.engines))})")
        outside = () if step_path.is_relative_to(worktree) else (step_path,)  # an imported prompt
        return await engine.run(EngineContext(
            sandbox=self.sandbox, view=self._sandbox_view(worktree, mirror, outside), step_path=step_path,
            step_text=text, step=step, model=request.model, timeout=request.timeout_seconds))

    @staticmethod
    def _sandbox_view(worktree: Path, mirror: Path, read_only: tuple[Path, ...] = ()) -> SandboxView:
        """The worktree, and its mirror for git to read; the mirror's config and FETCH_HEAD name the
        remote, whose URL may carry credentials."""
        return SandboxView(worktree, read_only=(mirror, *read_only),
                           hidden=(mirror / "config", mirror / "FETCH_HEAD"))

    async def _commit_and_push(self, request: StepWorkInput, worktree: Path, mirror: Path, branch_sha: str | None,
                               start_sha: str) -> str:
        # The step could rewrite the worktree's .git file: name the real git dir (git worktree add
        # names it after the worktree's folder) so no config of the step's choosing is ever read.
        tree = (f"--git-dir={mirror / 'worktrees' / worktree.name}", f"--work-tree={worktree}")
        await self.git.run(*tree, "add", "-A", cwd=worktree)
        staged = await self.git.run(*tree, "diff", "--cached", "--quiet", cwd=worktree, check=False)
        if staged.returncode != 0:
            message = (f"capstan: {request.protocol_branch} step {request.step_index} {request.step_name}\n\n"
                       f"{EXECUTION_TRAILER}: {request.execution_key}\n")
            await self.git.run(*tree, "commit", "--quiet", "--no-verify", "-m", message, cwd=worktree)
        head = (await self.git.run(*tree, "rev-parse", "HEAD", cwd=worktree)).stdout.strip()
        if head != branch_sha:
            await self._push(request.git_url, mirror, head, request.protocol_branch, branch_sha)
        return head

    async def _push(self, git_url: str, cwd: Path, sha: str, branch: str, expected: str | None) -> None:
        lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
        result = await self.git.run("push", "--quiet", "--no-verify", lease, git_url, f"{sha}:refs/heads/{branch}",
                                    cwd=cwd, check=False)
        if result.returncode != 0:
            raise ApplicationError(f"push of {branch} to {git_url} was rejected: {result.stderr.strip()[-400:]}",
                                   type=WorkspaceErrorType.PUSH_REJECTED)

    @activity.defn(name=ActivityName.RUN_QA)
    async def run_qa(self, request: StepWorkInput) -> QaResult:
        """The ``## QA`` block of the step file, else the project's QA command; exit 0 passes."""
        mirror, _, sha = await self._fetch_protocol_branch(request.git_url, request.protocol_branch,
                                                           request.base_branch)
        async with self._worktree(request.git_url, mirror, sha) as worktree:
            step_path = worktree / request.protocol_root / request.step_name
            script = None
            if step_path.is_file() and not _leaves(worktree, step_path):
                try:
                    script = parse_step_file(step_path.read_text(errors="replace")).qa_script
                except StepFileError:
                    script = None
            script = script or request.qa_command
            if not script:
                return QaResult(passed=True, exit_code=None, artifact_id=None,
                                message="no QA check configured (no ## QA block, no project qa_command): passed")
            outcome = await run_shell(script, EngineContext(
                sandbox=self.sandbox, view=self._sandbox_view(worktree, mirror), step_path=step_path, step_text="",
                step=StepFile(), model=request.model, timeout=request.timeout_seconds), "QA")
            artifact_id = await self.artifacts.save(
                protocol_run_id=request.protocol_run_id, step_run_id=request.step_id, kind=ArtifactKind.QA_OUTPUT,
                name=f"QA of {request.step_name}", content=outcome.output, exit_code=outcome.exit_code,
                dedupe_key=request.execution_key)
        return QaResult(passed=outcome.exit_code == 0, exit_code=outcome.exit_code, artifact_id=artifact_id,
                        message=outcome.message)

    @activity.defn(name=ActivityName.ENSURE_PROTOCOL_BRANCH)
    async def ensure_protocol_branch(self, request: BranchInput) -> str:
        """The protocol branch on the remote (created from the base branch if missing); its tip."""
        mirror, branch_sha, base_sha = await self._fetch_protocol_branch(
            request.git_url, request.protocol_branch, request.base_branch)
        if branch_sha:
            return branch_sha
        await self._push(request.git_url, mirror, base_sha, request.protocol_branch, None)
        return base_sha


def _leaves(worktree: Path, path: Path) -> bool:
    """Whether ``path`` resolves outside ``worktree``: a link a repository committed to reach the
    worker's files (read by Capstan itself, not in the sandbox)."""
    return not path.resolve().is_relative_to(worktree.resolve())
