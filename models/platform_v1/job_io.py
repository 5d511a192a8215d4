"""What the job workflows (``ImportWorkflow``, ``ExportWorkflow``, ``AccountingSyncWorkflow``) take and exchange
with their activities.

Only ids and small parameters travel through Temporal: an import's records are an input artifact, an
export's file and an accounting answer are artifacts written by the activity that made them, and the
accounting token is named by its key (``accounting.token``) and read by the call's activity.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from models.platform_v1.jobs import JobType


class JobWorkflowName(StrEnum):
    IMPORT = "ImportWorkflow"
    EXPORT = "ExportWorkflow"
    ACCOUNTING_SYNC = "AccountingSyncWorkflow"


WORKFLOW_OF: dict[JobType, JobWorkflowName] = {
    JobType.IMPORT: JobWorkflowName.IMPORT, JobType.EXPORT: JobWorkflowName.EXPORT,
    JobType.ACCOUNTING_SYNC: JobWorkflowName.ACCOUNTING_SYNC}


class JobActivityName(StrEnum):
    RECORD_JOB_QUEUED = "record_platform_job_queued"
    RECORD_JOB_ENDED = "record_platform_job_ended"
    RUN_IMPORT = "run_platform_import"
    RUN_EXPORT = "run_platform_export"
    CALL_ACCOUNTING = "call_platform_accounting"
    APPLY_ACCOUNTING = "apply_platform_accounting"


#: ``ApplicationError.type`` of a sync refused because another one is queued or running (Postgres decides).
SYNC_IN_PROGRESS = "sync_in_progress"


class JobRunInput(BaseModel):
    """One run of a job's workflow; a retry is a new run of the same workflow id with ``retry_count`` one more."""

    execution_id: str
    job_id: str
    workspace_id: str
    type: JobType
    resource: str | None = None
    #: What was asked (no records: an import's are the input artifact).
    params: dict[str, Any] = Field(default_factory=dict)
    input_artifact_id: str | None = None
    #: An export's ``q`` as the search parser takes it (``websearch_to_tsquery``).
    search: str | None = None
    created_by: str | None = None
    correlation_id: str | None = None
    retry_count: int = 0
    #: Tries of an accounting call (``CAPSTAN_ADAPTER_MAX_ATTEMPTS`` when the run was started).
    max_attempts: int = 3
    #: The request that started this run: only its ``register`` Update is admitted.
    request: str


class JobQueuedWrite(BaseModel):
    run: JobRunInput
    workflow_id: str
    run_id: str


class JobStep(BaseModel):
    """One step of a job's work (its activity reads what it needs by id)."""

    run: JobRunInput
    run_id: str
    attempt: int = 0
    response_artifact_id: str | None = None


class WorkOutcome(BaseModel):
    """What a job's work came to: a result, or a job error code and a message naming the record and field."""

    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    output_artifact_id: str | None = None


class AdapterOutcome(StrEnum):
    OK = "ok"                  # 2xx, its body stored as an artifact
    UNAVAILABLE = "unavailable"  # connection error, timeout, 5xx (429 too): tried again
    REJECTED = "rejected"      # another 4xx
    INVALID = "invalid"        # a 2xx that is not JSON, or too big


class AdapterAttempt(BaseModel):
    attempt: int
    outcome: AdapterOutcome
    started_at: datetime
    duration_ms: int
    http_status: int | None = None
    error: str | None = None
    response_artifact_id: str | None = None


class JobEndedWrite(BaseModel):
    """The job's one ending: its execution's record, evidence and ``workflow.completed`` event in one transaction."""

    execution_id: str
    workspace_id: str
    type: JobType
    run_id: str
    workflow_id: str
    status: str
    error_code: str | None = None
    error_message: str | None = None
    result: dict[str, Any] | None = None
    output_artifact_id: str | None = None
    completed_at: datetime
    duration_ms: int
    attempts: list[AdapterAttempt] = Field(default_factory=list)
