"""The two measurements of bench/tasks.py.

intake  ``--clients`` closed-loop clients post signed ``issue_comment`` deliveries, each for an issue of its
        own (a new task: 202 ``accepted``), to a stack where no worker serves the tasks queue: what is
        measured is the API's intake (signature, decision table reads, the start of the run's workflow with
        the request in its input); the workflows wait, and would record their runs once a worker came.
        Then as many copies of one accepted delivery (202 ``duplicate``: Temporal refuses the second start).
e2e     ``--tasks`` comments ``@capstan mock …``, ``--parallel`` at a time, on a stack with a worker: from the
        delivery until the fake GitHub has the pull request of the run's branch, and until the workflow ends.
        Beside it, the same clone/commit/push as a plain shell script, as many at a time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.measure import OK, Outcome, PhaseResult, closed_loop, combine, percentile
from bench.repos import GIT_ENV, git
from bench.stack import BenchError, CpuSampler, log
from bench.tasks_world import E2E_REPO, INTAKE_REPO, GitHubWorld, TasksApi, accepted, comment_execution, task_path

RUN_TIMEOUT = 300.0           # seconds, one task from the comment to the end of its workflow
PR_POLL_SECONDS = 0.02        # how often the fake GitHub's pull requests are looked at
COUNT_TIMEOUT = 30.0          # seconds, until Temporal's visibility counts every started workflow
INSTRUCTIONS = "fix the typo in the README"


def raise_phase_errors(what: str, result: PhaseResult) -> None:
    if result.errors or result.conflicts or result.timed_out:
        raise BenchError(f"{what}: {result.errors} of {result.ok + result.errors + result.conflicts} deliveries "
                         f"failed{' (timed out)' if result.timed_out else ''}: {result.error_kinds}; "
                         f"e.g. {result.error_samples[:2]}")


async def started_workflows(api: TasksApi, expected: int) -> int:
    """Workflows on the tasks queue, as Temporal's visibility counts them once it caught up (or the deadline)."""
    deadline = time.monotonic() + COUNT_TIMEOUT
    while True:
        count = (await api.temporal.count_workflows(f'TaskQueue="{api.queue}"')).count
        if count >= expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.5)


async def measure_intake(api: TasksApi, world: GitHubWorld, args: Any, sampler: CpuSampler) -> dict[str, Any]:
    await api.sign_in()
    warmup = 2 * args.clients
    log(f"intake: preparing {warmup + args.deliveries} signed deliveries ...")
    prepared = [world.comment(INTAKE_REPO, n, f"@capstan mock {INSTRUCTIONS} (issue {n})")
                for n in range(1, warmup + args.deliveries + 1)]
    pool = api.pool(args.clients)

    def new_tasks(batch: list[tuple[str, bytes, dict[str, str]]]):
        deliveries = iter(batch)

        async def op(i: int) -> Outcome:
            task_id, body, headers = next(deliveries)
            why = accepted(await api.deliver(body, headers, pool[i]), task_id)
            return OK if why is None else Outcome("error", why)
        return op

    first_task, first_body, first_headers = prepared[0]

    async def duplicate(i: int) -> Outcome:
        response = await api.deliver(first_body, first_headers, pool[i])
        if response.status_code == 202 and response.json() == {"status": "accepted", "taskId": first_task,
                                                                "duplicate": True}:
            return OK
        return Outcome("error", f"HTTP {response.status_code}: {response.text[:200]}")

    try:
        warm = await closed_loop(PhaseResult("intake", "warmup", 0, args.clients), args.seconds, warmup,
                                 new_tasks(prepared[:warmup]), sampler)
        raise_phase_errors("intake warm-up", warm)
        log(f"intake: {args.deliveries} deliveries of new tasks, {args.clients} clients ...")
        batch = prepared[warmup:]
        new = await closed_loop(PhaseResult("intake", "accepted", 1, args.clients), args.seconds, args.deliveries,
                                new_tasks(batch), sampler)
        raise_phase_errors("intake", new)
        dup = None
        if args.duplicates:
            log(f"intake: {new.ok} copies of one accepted delivery ...")
            dup = await closed_loop(PhaseResult("intake", "duplicate", 1, args.clients), args.seconds, new.ok,
                                    duplicate, sampler)
            raise_phase_errors("intake duplicates", dup)
    finally:
        await asyncio.gather(*(client.aclose() for client in pool))

    # Every accepted delivery started one workflow, and nothing ran them: no run recorded itself yet.
    for task_id, body, _ in (batch[0], batch[new.ok - 1]):
        description = await api.workflow(comment_execution(body)).describe()
        recorded = await api.http.get(task_path(task_id))
        if description.status.name != "RUNNING" or recorded.status_code != 404:
            raise BenchError(f"{task_id}: its workflow is {description.status.name}, GET status answered "
                             f"{recorded.status_code}; expected RUNNING and 404 (no worker serves the tasks queue)")
    workflows = await started_workflows(api, warmup + new.ok)
    if workflows != warmup + new.ok:
        raise BenchError(f"{workflows} workflows on {api.queue} after {warmup + new.ok} accepted deliveries")
    if calls := world.requests_for(INTAKE_REPO):
        raise BenchError(f"Capstan made {calls} GitHub calls about {INTAKE_REPO}: a worker served the tasks queue")
    out = {"clients": args.clients, "warmup": warmup, "accepted": combine([new]), "workflows_started": workflows}
    if dup is not None:
        out["duplicate"] = combine([dup])
    return out


# --- e2e -------------------------------------------------------------------------------------------

SHELL_TASK = """set -eu
git clone -q --depth 1 --branch main "$REMOTE" "$WORK" 2>/dev/null
cd "$WORK"
git checkout -q -B "$BRANCH"
printf '%s\\n%s\\n' "$TASK" "$TEXT" > capstan-mock.txt
git add -A
git commit -q -m "capstan: $TASK"
git push -q origin "$BRANCH"
"""


async def shell_baseline(remote: Path, work_dir: Path, tasks: int, parallel: int) -> list[float]:
    """The git work of one task (clone, branch, write a file, commit, push) as a shell script, ``tasks``
    times, ``parallel`` at a time; the seconds each took. Each pushed branch is checked on ``remote``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    gate = asyncio.Semaphore(parallel)

    async def one(n: int) -> float:
        branch = f"shell/{n}"
        env = {**os.environ, **GIT_ENV, "REMOTE": str(remote), "WORK": str(work_dir / f"task-{n}"),
               "BRANCH": branch, "TASK": f"acme/widgets#{n}", "TEXT": INSTRUCTIONS}
        async with gate:
            started = time.perf_counter()
            proc = await asyncio.create_subprocess_exec("bash", "-c", SHELL_TASK, env=env, cwd=work_dir,
                                                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), 120)
            elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise BenchError(f"the shell baseline failed: {err.decode(errors='replace').strip()[-300:]}")
        await asyncio.to_thread(git, "rev-parse", "--verify", f"refs/heads/{branch}", cwd=remote)
        return elapsed

    return list(await asyncio.gather(*(one(n) for n in range(1, tasks + 1))))


async def first_pull(world: GitHubWorld, branch: str, started: float) -> tuple[float, Any]:
    while (pull := world.pull_for(E2E_REPO, branch)) is None:
        await asyncio.sleep(PR_POLL_SECONDS)
    return time.perf_counter() - started, pull


async def run_result(api: TasksApi, task_id: str, execution_id: str) -> str:
    """The run's final status, once its workflow ended; a failed workflow is a ``BenchError`` saying why."""
    from temporalio.client import WorkflowFailureError

    try:
        return await asyncio.wait_for(api.workflow(execution_id).result(), RUN_TIMEOUT)
    except WorkflowFailureError as failure:
        cause = failure.cause
        while getattr(cause, "cause", None) is not None:
            cause = cause.cause
        try:
            left = (await api.status(task_id))["status"]
        except BenchError:  # the run failed before it recorded itself
            left = "unrecorded"
        raise BenchError(f"the workflow of {task_id} ({execution_id}) failed: {cause!r}; the task is "
                         f"left {left}") from None


async def run_task(api: TasksApi, world: GitHubWorld, n: int) -> dict[str, Any]:
    """One comment → accepted → PR → workflow done, checked on the fake GitHub, the bare repository and the API."""
    task_id, body, headers = world.comment(E2E_REPO, n, f"@capstan mock {INSTRUCTIONS}")
    wall0, t0 = time.time(), time.perf_counter()
    response = await api.deliver(body, headers)
    accept_s = time.perf_counter() - t0
    if why := accepted(response, task_id):
        raise BenchError(f"the comment on {task_id} was not accepted: {why}")
    execution_id = comment_execution(body)  # the run records itself once a worker takes it
    branch = f"capstan/{execution_id}"
    pull_seen = asyncio.create_task(first_pull(world, branch, t0))
    try:
        result = await run_result(api, task_id, execution_id)
        done_s = time.perf_counter() - t0
        status = await api.status(task_id)
        if result != "success":
            raise BenchError(f"{task_id} ({execution_id}) ended {result}: {status.get('errorMessage')}")
        pr_s, pull = await asyncio.wait_for(pull_seen, 10)
    finally:
        pull_seen.cancel()
    remote = world.remotes[E2E_REPO]
    sha = await asyncio.to_thread(git, "rev-parse", f"refs/heads/{branch}", cwd=remote)
    mock_file = await asyncio.to_thread(git, "show", f"refs/heads/{branch}:capstan-mock.txt", cwd=remote)
    execution = next((e for e in status["executions"] if e["executionId"] == execution_id), None)
    if execution is None or (pull.base, pull.state) != ("main", "open") or task_id not in mock_file \
            or execution["status"] != "success" or not execution["commitHash"] \
            or not sha.startswith(execution["commitHash"]) or execution["prUrl"] != pull.url:
        raise BenchError(f"{task_id}: PR {pull.head}→{pull.base} {pull.state} {pull.url}, branch at {sha[:10]}, "
                         f"execution {execution}")
    running_s = datetime.fromisoformat(execution["startedAt"]).timestamp() - wall0
    log(f"e2e: {task_id} PR after {pr_s:.2f}s, done after {done_s:.2f}s")
    return {"task": task_id, "execution_id": execution_id, "accept_ms": round(accept_s * 1000, 1),
            "running_seconds": round(running_s, 3), "pr_seconds": round(pr_s, 3), "done_seconds": round(done_s, 3)}


def activity_times(history: Any) -> tuple[list[tuple[str, float, float]], float]:
    """(activity type, seconds scheduled→started, seconds scheduled→closed) of every activity of a run, and
    the seconds its workflow tasks took (scheduled→completed; local activities, the record writes, run inside)."""
    from temporalio.api.enums.v1 import EventType

    closing = {EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
               EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
               EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
               EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes"}
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    out: list[tuple[str, float, float]] = []
    workflow_task_at, workflow_tasks = None, 0.0
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = at
        elif kind in closing:
            ref = getattr(event, closing[kind]).scheduled_event_id
            name, at_scheduled = scheduled[ref]
            out.append((name, started.get(ref, at_scheduled) - at_scheduled, at - at_scheduled))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            workflow_task_at = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and workflow_task_at is not None:
            workflow_tasks += at - workflow_task_at
            workflow_task_at = None
    return out, workflow_tasks


async def breakdown(api: TasksApi, execution_ids: list[str]) -> dict[str, Any]:
    """Per activity type: calls per run and the p50 over runs of its per-run total (scheduled→closed) and
    wait (scheduled→started); plus the p50 of the workflow tasks' total per run."""
    per_run: list[dict[str, tuple[int, float, float]]] = []
    workflow_tasks: list[float] = []
    for execution_id in execution_ids:
        times, wft = activity_times(await api.workflow(execution_id).fetch_history())
        totals: dict[str, tuple[int, float, float]] = {}
        for name, wait, took in times:
            calls, waited, total = totals.get(name, (0, 0.0, 0.0))
            totals[name] = (calls + 1, waited + wait, total + took)
        per_run.append(totals)
        workflow_tasks.append(wft)
    names = sorted({name for totals in per_run for name in totals})
    activities = {name: {"calls_per_run": statistics.median(t.get(name, (0, 0, 0))[0] for t in per_run),
                         "p50_seconds": round(statistics.median(t.get(name, (0, 0, 0))[2] for t in per_run), 3),
                         "p50_wait_seconds": round(statistics.median(t.get(name, (0, 0, 0))[1] for t in per_run), 3)}
                  for name in names}
    return {"activities": dict(sorted(activities.items(), key=lambda kv: -kv[1]["p50_seconds"])),
            "workflow_tasks_p50_seconds": round(statistics.median(workflow_tasks), 3) if workflow_tasks else None}


async def measure_e2e(api: TasksApi, world: GitHubWorld, args: Any, sampler: CpuSampler,
                      work_dir: Path) -> dict[str, Any]:
    await api.sign_in()
    log(f"e2e: shell baseline, {args.tasks} runs, {args.parallel} at a time ...")
    shell = await shell_baseline(world.shell_remote, work_dir / "shell", args.tasks, args.parallel)
    log(f"e2e: {args.tasks} comments → PRs with the mock agent, {args.parallel} at a time ...")
    gate = asyncio.Semaphore(args.parallel)

    async def one(n: int) -> dict[str, Any]:
        async with gate:
            return await run_task(api, world, n)

    before, started = sampler.snapshot(), time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:  # the first failure cancels the other tasks
            runs = [group.create_task(one(n)) for n in range(1, args.tasks + 1)]
    except ExceptionGroup as failed:
        error: BaseException = failed
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
        raise error from None
    wall = time.perf_counter() - started
    cpu = CpuSampler.usage(before, sampler.snapshot())
    rows = [run.result() for run in runs]
    pr = [r["pr_seconds"] for r in rows]
    done = [r["done_seconds"] for r in rows]

    def p(values: list[float], q: float, digits: int = 3) -> float | None:
        value = percentile(values, q)
        return round(value, digits) if value is not None else None

    shell_p50, shell_p95 = p(shell, 50, 4), p(shell, 95, 4)
    return {"tasks": args.tasks, "parallel": args.parallel, "runs": rows,
            "pr_p50_seconds": p(pr, 50), "pr_p95_seconds": p(pr, 95), "pr_max_seconds": round(max(pr), 3),
            "done_p50_seconds": p(done, 50), "done_p95_seconds": p(done, 95),
            "running_p50_seconds": p([r["running_seconds"] for r in rows], 50),
            "accept_p50_ms": p([r["accept_ms"] for r in rows], 50, 1),
            "shell_p50_seconds": shell_p50, "shell_p95_seconds": shell_p95,
            "ratio_p50": round(p(pr, 50) / shell_p50, 1) if shell_p50 else None,
            "ratio_p95": round(p(pr, 95) / shell_p95, 1) if shell_p95 else None,
            "wall_seconds": round(wall, 2), "tasks_per_minute": round(60 * args.tasks / wall, 1),
            "cpu_percent_of_one_core": cpu, "breakdown": await breakdown(api, [r["execution_id"] for r in rows])}
