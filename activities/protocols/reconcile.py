"""The ``start_lost_setups`` activity: start setup workflows whose start was lost.

``create_project`` commits the project and its ``pending`` setup run before it starts the setup
workflow; when that start is lost (API killed, Temporal down), the run is found here once its
grace period is over and its workflow is started under the deterministic id. USE_EXISTING and
REJECT_DUPLICATE make the start a no-op for a setup that runs or ever ran, so a sweep racing the
API, or another sweep, never starts a setup twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.common import (
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from capstan.db import SessionFactory
from capstan.settings import TemporalSettings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.common.base import utcnow
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun
from models.protocols.setup_start import project_setup_start
from models.protocols.status import ProtocolStatus
from models.protocols.workflow_io import (
    PROJECT_SETUP_PREFIX,
    ActivityName,
    LostSetupSweep,
    WorkflowName,
)

log = logging.getLogger(__name__)


class LostSetupActivities:
    def __init__(self, sessions: SessionFactory, temporal: Client | None, settings: TemporalSettings) -> None:
        self.sessions = sessions
        self.temporal = temporal
        self.settings = settings

    @activity.defn(name=ActivityName.START_LOST_SETUPS)
    async def start_lost_setups(self, sweep: LostSetupSweep) -> int:
        """Start the setup workflow of every setup run still ``pending`` after the grace period;
        returns how many of them this call started."""
        if self.temporal is None:
            raise RuntimeError("this worker was built without a Temporal client; it cannot start setups")
        async with self.sessions() as session:
            rows = (await session.exec(
                select(ProtocolRun, Project).join(Project, col(Project.id) == col(ProtocolRun.project_id))
                .where(ProtocolRun.status == ProtocolStatus.PENDING,
                       col(ProtocolRun.workflow_id).startswith(PROJECT_SETUP_PREFIX),
                       ProtocolRun.created_at < utcnow() - timedelta(seconds=sweep.grace_seconds))
                .order_by(col(ProtocolRun.id)).limit(sweep.limit))).all()
        started = 0
        for run, project in rows:
            started += await self._start_setup(project, run)
        if started:
            log.info("started %d setup runs whose start had been lost", started)
        return started

    async def _start_setup(self, project: Project, run: ProtocolRun) -> bool:
        """The same start as the API's ``start_project_setup``; False when the workflow runs or ran."""
        setup_input, options = project_setup_start(
            project, run, task_queue=surface_task_queue(self.settings, WorkerSurfaceName.PROTOCOLS),
            heartbeat_timeout_seconds=self.settings.activity_heartbeat_seconds)
        try:
            await self.temporal.start_workflow(WorkflowName.PROJECT_SETUP, setup_input, **options,
                                               id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        except WorkflowAlreadyStartedError:
            return False
        return True
