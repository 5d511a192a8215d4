"""The protocols surface's activities, built on one worker process's shared resources."""

from __future__ import annotations

from collections.abc import Callable

from activities.common.git import GitActivities
from activities.common.resources import WorkerResources
from activities.protocols.forge import ForgeActivities
from activities.protocols.reconcile import LostSetupActivities
from activities.protocols.records import RecordActivities
from activities.protocols.workspace import WorkspaceActivities
from integrations.protocols.engines import engine_registry
from integrations.stores.artifacts import ArtifactStore


def protocol_activities(resources: WorkerResources) -> list[Callable]:
    """Every activity the protocols workflows call, on the protocols task queue."""
    settings = resources.settings
    records = RecordActivities(resources.sessions)
    forge = ForgeActivities(resources.sessions, settings.forge, resources.secret_box)
    git = GitActivities(resources.repositories)
    workspace = WorkspaceActivities(resources.repositories, ArtifactStore(resources.sessions),
                                    engine_registry(settings.execution.command_engine), resources.sandbox)
    return [
        records.record_run_changes, records.write_run_records, records.create_step_runs,
        git.fetch_repository,
        workspace.plan_protocol, workspace.execute_step, workspace.run_qa, workspace.ensure_protocol_branch,
        forge.open_pull_request,
        LostSetupActivities(resources.sessions, resources.temporal, settings.temporal).start_lost_setups,
    ]
