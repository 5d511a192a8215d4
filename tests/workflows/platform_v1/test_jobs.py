"""The job workflows with stub activities on a Temporal dev server: each records its job queued, running and
its one ending; a sync tries again only what may change (unavailable), up to its ``max_attempts``; a refusal
Postgres decides (``sync_in_progress``) is the register Update's answer and the run records nothing; another
request's register is refused by the validator; the histories carry ids, never records."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.platform_v1.job_io import SYNC_IN_PROGRESS, AdapterOutcome
from models.platform_v1.jobs import JobType
from models.platform_v1.workflow_io import INVALID_TRANSITION, Registration, UpdateName
from tests.workflows.platform_v1.job_scenarios import EXPORT_FILE, StubJobActivities, job_input, register, stub_worker
from workflows.platform_v1.jobs import NOT_REGISTERED


def _cause(error: BaseException) -> ApplicationError:
    cause = error.cause if isinstance(error, WorkflowUpdateFailedError) else error
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    assert cause is not None, error
    return cause


async def test_an_import_records_queued_running_and_its_result(workflow_env):
    stubs = StubJobActivities()
    async with stub_worker(workflow_env.client, stubs) as queue:
        run = job_input(JobType.IMPORT)
        handle, registered = await register(workflow_env.client, queue, run, wait=30)
        assert registered.ended and registered.status == "succeeded"
        assert await handle.result() == "succeeded"
    assert [w.run.job_id for w in stubs.queued] == [run.job_id] and len(stubs.running) == 1
    [ended] = stubs.ended
    assert (ended.status, ended.result, ended.error_code, ended.type) == ("succeeded", {"created": 2}, None, "import")
    [step] = stubs.steps
    assert step.run.input_artifact_id == run.input_artifact_id


async def test_a_broken_reference_fails_the_import_with_its_code(workflow_env):
    stubs = StubJobActivities(broken_reference=True)
    async with stub_worker(workflow_env.client, stubs) as queue:
        handle, _ = await register(workflow_env.client, queue, job_input(JobType.IMPORT))
        assert await handle.result() == "failed"
    [ended] = stubs.ended
    assert (ended.error_code, ended.result) == ("invalid_reference", None)
    assert "records[1].clientId" in str(ended.error_message)


async def test_an_export_ends_with_its_file(workflow_env):
    stubs = StubJobActivities()
    async with stub_worker(workflow_env.client, stubs) as queue:
        handle, _ = await register(workflow_env.client, queue, job_input(JobType.EXPORT))
        assert await handle.result() == "succeeded"
    assert (stubs.ended[0].output_artifact_id, stubs.ended[0].result) == (EXPORT_FILE, {"exported": 3})


@pytest.mark.parametrize(("outcomes", "status", "code", "calls"), [
    ([AdapterOutcome.UNAVAILABLE, AdapterOutcome.OK], "succeeded", None, 2),
    ([AdapterOutcome.UNAVAILABLE, AdapterOutcome.UNAVAILABLE], "failed", "adapter_unavailable", 2),
    ([AdapterOutcome.REJECTED], "failed", "adapter_rejected", 1),
    ([AdapterOutcome.INVALID], "failed", "invalid_adapter_response", 1),
])
async def test_a_sync_tries_again_only_what_may_change(workflow_env, outcomes, status, code, calls):
    stubs = StubJobActivities(outcomes=deque(outcomes))
    async with stub_worker(workflow_env.client, stubs) as queue:
        handle, _ = await register(workflow_env.client, queue, job_input(JobType.ACCOUNTING_SYNC, max_attempts=2))
        assert await handle.result() == status
    [ended] = stubs.ended
    assert (ended.status, ended.error_code) == (status, code)
    assert [a.attempt for a in ended.attempts] == list(range(1, calls + 1))
    assert [s.attempt for s in stubs.steps if s.response_artifact_id is None] == list(range(1, calls + 1))


async def test_a_sync_postgres_refuses_is_the_updates_answer_and_records_nothing(workflow_env):
    stubs = StubJobActivities(refuse_queued=SYNC_IN_PROGRESS)
    async with stub_worker(workflow_env.client, stubs) as queue:
        run = job_input(JobType.ACCOUNTING_SYNC)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await register(workflow_env.client, queue, run)
        assert _cause(refused.value).type == SYNC_IN_PROGRESS
        handle = workflow_env.client.get_workflow_handle(f"{queue}:{run.execution_id}")
        assert await handle.result() == NOT_REGISTERED
    assert stubs.running == [] and stubs.ended == []


async def test_another_requests_register_is_refused(workflow_env):
    stubs = StubJobActivities(gate=asyncio.Event())
    async with stub_worker(workflow_env.client, stubs) as queue:
        run = job_input(JobType.IMPORT)
        handle, _ = await register(workflow_env.client, queue, run)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(UpdateName.REGISTER, Registration(request="another"), result_type=dict)
        assert _cause(refused.value).type == INVALID_TRANSITION
        assert stubs.gate is not None
        stubs.gate.set()
        assert await handle.result() == "succeeded"
    assert len(stubs.queued) == 1
