"""How the operator surface reads the jobs on another surface's task queue (``GET /queues/jobs``).

A job is a workflow execution on a Capstan task queue. The documented names of a surface's jobs, and
which of its jobs a request may not look inside, are that surface's knowledge: a surface with a task
queue declares a ``SurfaceJobs`` on its ``ApiSurface`` (``api.common.surface``), and ``api/surfaces.py``
hands every declaration to the operator surface, which imports no other surface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession

#: Of the given project ids (search attribute ``CapstanProjectId``), those the request may not see.
HiddenProjects = Callable[[Request, AsyncSession, Iterable[int]], Awaitable[set[int]]]


@dataclass(frozen=True)
class SurfaceJobs:
    """The jobs on one worker surface's task queue, as ``GET /queues/jobs`` names and shows them."""

    #: The worker surface whose queue holds them (``capstan.temporal.WorkerSurfaceName``).
    queue: str
    #: Workflow type → its documented job name, for workflows whose whole execution is one job.
    workflow_job_types: Mapping[str, str] = field(default_factory=dict)
    #: Activity type → the documented job name of that work (others keep their own name).
    activity_job_types: Mapping[str, str] = field(default_factory=dict)
    #: Activities that only write records: never the job a workflow is doing.
    bookkeeping_activities: frozenset[str] = frozenset()
    #: Jobs of the projects this answers are listed without their input and failure messages.
    #: ``None``: the surface's jobs belong to no project a request could be refused.
    hidden_projects: HiddenProjects | None = None

    def activity_job_type(self, activity_type: str) -> str | None:
        """The documented job name of an activity: ``None`` for record writes, the activity's own name
        when it names no job."""
        if activity_type in self.bookkeeping_activities:
            return None
        return self.activity_job_types.get(activity_type, activity_type)
