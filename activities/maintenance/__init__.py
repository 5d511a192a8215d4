"""The maintenance surface's activities, built on one worker process's shared resources."""

from __future__ import annotations

from collections.abc import Callable

from activities.common.resources import WorkerResources
from activities.maintenance.dispatch import DispatchActivities
from activities.maintenance.intake import IntakeActivities
from activities.maintenance.runs import RunActivities
from activities.maintenance.sync import AttemptSync
from integrations.workspaces.builtin import BuiltinWorkspace


def maintenance_activities(resources: WorkerResources) -> list[Callable]:
    """Every activity the maintenance workflows call, on the maintenance task queue."""
    settings = resources.settings
    builtin = BuiltinWorkspace.of(settings.temporal)
    intake = IntakeActivities(resources.sessions, settings.patch, resources.repositories.git, resources.temporal)
    dispatch = DispatchActivities(resources.sessions, settings, builtin)
    sync = AttemptSync(resources.sessions, settings, builtin)
    runs = RunActivities(resources.sessions, resources.repositories, resources.sandbox,
                         resources.repositories.root / "worktrees" / "maintenance",
                         settings.patch.check_timeout_seconds)
    return [
        intake.poll_feed_source, intake.start_flow_event_dispatches,
        dispatch.dispatch_flow_event,
        runs.record_workspace_run_state, runs.rebase_patch_stack,
        sync.sync_maintenance_attempt, sync.sync_attempts_of_run,
    ]
