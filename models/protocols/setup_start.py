"""How a project's setup workflow is started: one definition for the API, which starts it when a
project is created, and the reconcile activity, which starts it when that start was lost."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from models.common import search_attributes as sa
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun
from models.protocols.status import ProtocolStatus
from models.protocols.workflow_io import ProjectSetupInput, project_setup_workflow_id


def project_setup_start(project: Project, run: ProtocolRun, *, task_queue: str,
                        heartbeat_timeout_seconds: float) -> tuple[ProjectSetupInput, dict[str, Any]]:
    """The setup workflow's input and its ``Client.start_workflow`` options (the caller adds the
    id-conflict policy). A finished setup is never repeated: its id may not be reused."""
    setup_input = ProjectSetupInput(project_id=project.id, protocol_run_id=run.id, git_url=project.git_url,
                                    base_branch=project.base_branch, ci_provider=project.ci_provider,
                                    heartbeat_timeout_seconds=heartbeat_timeout_seconds)
    options = dict(
        id=project_setup_workflow_id(project.id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.PROJECT_ID, project.id),
            SearchAttributePair(sa.PROTOCOL_RUN_ID, run.id),
            SearchAttributePair(sa.RUN_KIND, "project_setup"),
            SearchAttributePair(sa.STATUS, ProtocolStatus.PENDING.value),
        ]),
    )
    return setup_input, options
