"""ProjectSetupWorkflow: the setup run every new project gets.

Fetches the repository into a worker's cache, checks the base branch, detects
the CI provider, and records each step as an event. The run ends ``completed``,
or ``failed`` with an event saying why; the workflow itself succeeds either way.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from models.common import search_attributes as sa
from models.protocols.event_types import EventType
from models.protocols.status import ProtocolStatus
from models.protocols.workflow_io import (
    ActivityName,
    FetchRepositoryInput,
    FetchRepositoryResult,
    ProjectSetupInput,
    ProjectSetupResult,
    WorkflowName,
)
from workflows.common.failures import failure_reason
from workflows.common.retry import bounded_retry
from workflows.protocols.run_records import RunRecordWriter

FETCH_RETRY = bounded_retry(maximum_attempts=3)


@workflow.defn(name=WorkflowName.PROJECT_SETUP)
class ProjectSetupWorkflow:
    @workflow.run
    async def run(self, setup: ProjectSetupInput) -> ProjectSetupResult:
        records = RunRecordWriter(setup.project_id, setup.protocol_run_id)
        workflow.upsert_search_attributes([sa.STATUS.value_set(ProtocolStatus.RUNNING.value)])
        await records.record(
            records.event(EventType.SETUP_STARTED, f"Setting up from {setup.git_url} ({setup.base_branch})"),
            protocol_status=ProtocolStatus.RUNNING,
        )
        try:
            fetched: FetchRepositoryResult = await workflow.execute_activity(
                ActivityName.FETCH_REPOSITORY, FetchRepositoryInput(git_url=setup.git_url, branch=setup.base_branch),
                result_type=FetchRepositoryResult,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=setup.heartbeat_timeout_seconds),
                retry_policy=FETCH_RETRY,
            )
        except ActivityError as error:
            reason = failure_reason(error)
            workflow.upsert_search_attributes([sa.STATUS.value_set(ProtocolStatus.FAILED.value)])
            await records.record(records.event(EventType.SETUP_FAILED, reason), protocol_status=ProtocolStatus.FAILED)
            return ProjectSetupResult(status=ProtocolStatus.FAILED, error=reason)

        events = [
            records.event(EventType.REPOSITORY_FETCHED, f"Fetched {setup.git_url}",
                          metadata={"head_sha": fetched.head_sha}),
            records.event(EventType.BASE_BRANCH_VERIFIED, f"Branch {setup.base_branch} is at {fetched.head_sha[:12]}",
                          metadata={"branch": setup.base_branch, "head_sha": fetched.head_sha}),
        ]
        ci_provider = setup.ci_provider
        if ci_provider is None:
            ci_provider = fetched.detected_ci_provider
            events.append(records.event(
                EventType.CI_PROVIDER_DETECTED, f"CI provider: {ci_provider or 'none found'}",
                metadata={"ci_provider": ci_provider}))
        events.append(records.event(EventType.SETUP_COMPLETED, "Project setup completed"))
        workflow.upsert_search_attributes([sa.STATUS.value_set(ProtocolStatus.COMPLETED.value)])
        await records.record(*events, protocol_status=ProtocolStatus.COMPLETED,
                             project_ci_provider=None if setup.ci_provider else fetched.detected_ci_provider)
        return ProjectSetupResult(status=ProtocolStatus.COMPLETED, head_sha=fetched.head_sha,
                                  ci_provider=ci_provider)
