"""The jobs on the protocols task queue as ``GET /queues/jobs`` (the operator surface) shows them: the
original orchestrator's job names, and no look inside the jobs of a project guarded by a project token
the request does not carry (``docs/api/queues.md``)."""

from __future__ import annotations

from api.common.jobs import SurfaceJobs
from api.protocols.services.project_access import hidden_projects
from capstan.temporal import WorkerSurfaceName
from models.protocols.workflow_io import JOB_TYPES, ActivityName, WorkflowName, WorkKind

PROTOCOL_JOBS = SurfaceJobs(
    queue=WorkerSurfaceName.PROTOCOLS,
    # A project setup is one job from start to end.
    workflow_job_types={WorkflowName.PROJECT_SETUP: "project_setup_job"},
    # A protocol run is doing the job of its pending activity (``workflows/protocols/run_work.py``).
    activity_job_types={
        ActivityName.PLAN_PROTOCOL: JOB_TYPES[WorkKind.PLAN],
        ActivityName.EXECUTE_STEP: JOB_TYPES[WorkKind.EXECUTE],
        ActivityName.RUN_QA: JOB_TYPES[WorkKind.QA],
        ActivityName.ENSURE_PROTOCOL_BRANCH: JOB_TYPES[WorkKind.OPEN_PR],
        ActivityName.OPEN_PULL_REQUEST: JOB_TYPES[WorkKind.OPEN_PR],
    },
    bookkeeping_activities=frozenset({ActivityName.RECORD_RUN_CHANGES, ActivityName.WRITE_RUN_RECORDS,
                                      ActivityName.CREATE_STEP_RUNS}),
    hidden_projects=hidden_projects,
)
