"""Webhooks with a worker: what each CI outcome does to the run."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from capstan.db import SessionFactory
from models.protocols.protocol import ProtocolRun, StepRun
from models.protocols.workflow_io import protocol_run_workflow_id
from tests.e2e.protocols.webhook_support import (
    answer,
    ci_signals,
    events_of,
    make_project,
    make_run,
    make_step,
    pipeline,
    post_github,
    post_gitlab,
    sessions,  # noqa: F401 - fixtures
    with_webhooks,
    workflow_run,
)
from tests.support import github_fixture, make_git_repo, settle

# --- with a worker: what each outcome does to the run ---------------------------------------------

#: The marker Temporal records when a local activity (a records write) completes.
LOCAL_ACTIVITY_MARKER = "core_local_activity"


async def ci_applied(temporal_client: Client, run_id: int, timeout: float = 60.0) -> None:
    """Wait until the workflow has written the effect of its last ``ci_report`` signal
    (the first records write that completes after the signal: a local activity's marker, or the
    workflow's end)."""
    handle = temporal_client.get_workflow_handle(protocol_run_workflow_id(run_id))

    async def follow() -> None:
        signals_seen = 0
        signals_wanted = len(await ci_signals(temporal_client, run_id))
        async for event in handle.fetch_history_events(wait_new_event=True):
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                signals_seen += 1
            elif signals_seen >= signals_wanted and (
                    event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
                    or event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER):
                return

    await asyncio.wait_for(follow(), timeout)


async def run_and_steps(sessions: SessionFactory, run_id: int) -> tuple[ProtocolRun, list[StepRun]]:
    async with sessions() as session:
        run = await session.get(ProtocolRun, run_id)
        steps = (await session.exec(select(StepRun).where(StepRun.protocol_run_id == run_id)
                                    .order_by(col(StepRun.step_index)))).all()
        return run, list(steps)


async def test_ci_success_completes_the_step_and_the_protocol(api, worker, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    await make_step(sessions, run, "running")
    answer(await post_github(api, "workflow_run", workflow_run("feature-x"), delivery="ok-1"), "Webhook recorded")
    assert await settle(temporal_client, run.id) == "completed"
    run, [step] = await run_and_steps(sessions, run.id)
    assert step.status == "completed" and run.status == "completed"
    types = [e.event_type for e in await events_of(sessions, run.id)]
    assert types == ["github_workflow_run", "ci_succeeded", "protocol_completed"]


async def test_ci_running_marks_the_latest_step_running(api, worker, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    await make_step(sessions, run, "completed", 0)
    await make_step(sessions, run, "needs_qa", 1)
    await make_step(sessions, run, "pending", 2)
    answer(await post_github(api, "workflow_run", workflow_run("feature-x", None, "queued")), "Webhook recorded")
    await ci_applied(temporal_client, run.id)
    run, steps = await run_and_steps(sessions, run.id)
    assert [s.status for s in steps] == ["completed", "running", "pending"]
    assert run.status == "running"
    assert [e.event_type for e in await events_of(sessions, run.id)] == ["github_workflow_run", "ci_running"]


async def test_ci_failure_fails_the_step_and_blocks_the_protocol(api, worker, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    await make_step(sessions, run, "completed", 0)
    await make_step(sessions, run, "running", 1)
    answer(await post_gitlab(api, pipeline("failed", "feature-x"), delivery="fail-1"), "Webhook recorded")
    await ci_applied(temporal_client, run.id)
    run, steps = await run_and_steps(sessions, run.id)
    assert [s.status for s in steps] == ["completed", "failed"] and run.status == "blocked"
    [_, failed] = await events_of(sessions, run.id)
    assert failed.event_type == "ci_failed" and failed.step_run_id == steps[1].id


async def test_ci_failure_with_every_step_pending_fails_the_latest_step(api, worker, sessions, temporal_client):
    """As the original orchestrator did: no step has changed since it was created, so the latest is the one
    created last; it fails and the protocol is blocked."""
    run = await make_run(sessions, await make_project(sessions), "feature-x")
    await make_step(sessions, run, "pending", 1)
    await make_step(sessions, run, "pending", 0)
    answer(await post_gitlab(api, pipeline("failed", "feature-x"), delivery="fail-early"), "Webhook recorded")
    await ci_applied(temporal_client, run.id)
    run, steps = await run_and_steps(sessions, run.id)
    assert [(s.step_index, s.status) for s in steps] == [(0, "failed"), (1, "pending")] and run.status == "blocked"
    [_, failed] = await events_of(sessions, run.id)
    assert failed.event_type == "ci_failed" and failed.step_run_id == steps[0].id


async def test_merged_pull_request_completes_the_protocol(api, worker, sessions, temporal_client):
    run = await make_run(sessions, await make_project(sessions), "changes")
    await make_step(sessions, run, "needs_qa")
    merged = github_fixture("pull_request", "closed.payload")
    merged["pull_request"]["merged"] = True
    answer(await post_github(api, "pull_request", merged, delivery="merge-1"), "Webhook recorded")
    assert await settle(temporal_client, run.id) == "completed"
    run, _ = await run_and_steps(sessions, run.id)
    assert run.status == "completed"
    assert [e.event_type for e in await events_of(sessions, run.id)] == [
        "github_pull_request", "pr_merged", "protocol_completed"]


async def test_ci_success_runs_qa_when_auto_qa_on_ci(settings, api_factory, worker, sessions, temporal_client,
                                                     tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    run = await make_run(sessions, await make_project(sessions, str(repo), qa_command="true"), "feature-x")
    await make_step(sessions, run, "running")
    async with api_factory(with_webhooks(settings, auto_qa_on_ci=True)) as client:
        answer(await post_github(client, "check_run", _check_run("feature-x")), "Webhook recorded")
    assert await settle(temporal_client, run.id) == "completed"
    run, [step] = await run_and_steps(sessions, run.id)
    assert step.status == "completed" and run.status == "completed"
    types = [e.event_type for e in await events_of(sessions, run.id)]
    assert types == ["github_check_run", "ci_succeeded", "qa_passed", "protocol_completed"]


def _check_run(branch: str) -> dict[str, Any]:
    payload = github_fixture("check_run", "completed.payload")
    payload["check_run"]["check_suite"]["head_branch"] = branch
    return payload
