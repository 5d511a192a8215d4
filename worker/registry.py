"""The worker surfaces: each brings its workflows and an activities factory, and polls its own task queue.

A surface's task queue is ``capstan.temporal.surface_task_queue(settings, name)``, the one the API
starts that surface's workflows on. ``capstan worker --surfaces`` (or ``CAPSTAN_WORKER_SURFACES``)
chooses which surfaces a worker process serves; by default it serves all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from activities.common.resources import WorkerResources
from activities.maintenance import maintenance_activities
from activities.platform_v1 import platform_v1_activities
from activities.protocols import protocol_activities
from activities.tasks import task_activities
from capstan.settings import Settings, TemporalSettings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from worker.schedules import SurfaceSchedules, maintenance_schedules, platform_v1_schedules, protocol_schedules
from workflows.maintenance import MAINTENANCE_WORKFLOWS
from workflows.platform_v1 import PLATFORM_V1_WORKFLOWS
from workflows.protocols import PROTOCOL_WORKFLOWS
from workflows.tasks import TASK_WORKFLOWS


@dataclass(frozen=True)
class WorkerSurface:
    name: str
    workflows: Sequence[type]
    #: Builds the surface's activities on the process's shared resources (database, git cache, sandbox).
    activities: Callable[[WorkerResources], Sequence[Callable]]
    #: The surface's Temporal Schedules, created or updated by a worker serving it (``worker.schedules``).
    schedules: Callable[[Settings], SurfaceSchedules] = lambda settings: SurfaceSchedules([])

    def task_queue(self, settings: TemporalSettings) -> str:
        return surface_task_queue(settings, self.name)


WORKER_SURFACES: list[WorkerSurface] = [
    WorkerSurface(WorkerSurfaceName.PROTOCOLS, PROTOCOL_WORKFLOWS, protocol_activities, protocol_schedules),
    WorkerSurface(WorkerSurfaceName.MAINTENANCE, MAINTENANCE_WORKFLOWS, maintenance_activities, maintenance_schedules),
    WorkerSurface(WorkerSurfaceName.TASKS, TASK_WORKFLOWS, task_activities),
    WorkerSurface(WorkerSurfaceName.PLATFORM_V1, PLATFORM_V1_WORKFLOWS, platform_v1_activities, platform_v1_schedules),
]


class UnknownSurface(ValueError):
    """A surface name no worker surface has, or no name at all."""


def parse_surface_names(text: str) -> list[str]:
    """``"protocols, ops"`` → ``["protocols", "ops"]`` (blanks dropped, order and duplicates as given)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def choose_surfaces(names: Iterable[str] | None) -> list[WorkerSurface]:
    """The registered surfaces of these names, in registry order; ``None`` means every surface."""
    if names is None:
        return list(WORKER_SURFACES)
    wanted = set(names)
    known = {surface.name for surface in WORKER_SURFACES}
    if not wanted:
        raise UnknownSurface(f"no worker surface chosen; known surfaces: {', '.join(sorted(known))}")
    if unknown := wanted - known:
        raise UnknownSurface(f"unknown worker surface(s) {', '.join(sorted(unknown))}; "
                             f"known surfaces: {', '.join(sorted(known))}")
    return [surface for surface in WORKER_SURFACES if surface.name in wanted]
