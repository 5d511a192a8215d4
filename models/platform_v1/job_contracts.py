"""The wire contracts of the job routes: imports, exports, the accounting sync, jobs and the runtime's failures
(``docs/api/platform-v1.md``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.platform_v1.catalog import RESOURCES
from models.platform_v1.contracts import Timestamp
from models.platform_v1.executions import ExecutionStatus
from models.platform_v1.jobs import MAX_IMPORT_RECORDS, ExportFormat, FailureKind, JobErrorCode, JobType

#: The fourteen resources an import or an export takes.
ResourceName = StrEnum("ResourceName", {spec.name.upper().replace("-", "_"): spec.name for spec in RESOURCES})


# --- bodies -----------------------------------------------------------------------------------------

class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: ResourceName  # type: ignore[valid-type]
    records: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_IMPORT_RECORDS,
                                          description="1–5000 bodies of the resource, each validated before a job "
                                                      "is made (`body.records[i].field` names a bad one).")


class ExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: ResourceName  # type: ignore[valid-type]
    format: ExportFormat = ExportFormat.JSON
    filters: dict[str, str] = Field(default_factory=dict, description="The resource's list filters, by name.")
    q: str | None = Field(None, max_length=200, description="Text to find, as the resource's list `q`.")


class SyncBody(BaseModel):
    """``POST /integrations/accounting/sync`` takes ``{}`` or no body."""

    model_config = ConfigDict(extra="forbid")


# --- answers ----------------------------------------------------------------------------------------

class JobPublic(BaseModel):
    id: str = Field(description="`job_` + 32 hex digits.")
    workspaceId: str
    type: JobType
    resource: str | None = Field(description="The resource of an import or an export.")
    executionId: str = Field(description="The execution this job is the view of (`wex_…`).")
    params: dict[str, Any] = Field(description="What was asked: `{resource, count}` for an import, "
                                               "`{resource, format, filters, q}` for an export, `{}` for a sync.")
    status: ExecutionStatus
    result: dict[str, Any] | None = Field(description="`{created}`, `{exported}`, or the sync's counts.")
    errorCode: JobErrorCode | None
    errorMessage: str | None
    artifactUrl: str | None = Field(description="The export file (only for an export that succeeded).")
    queuedAt: Timestamp
    startedAt: Timestamp | None
    completedAt: Timestamp | None
    retryCount: int
    createdBy: str | None
    correlationId: str | None


class FailurePublic(BaseModel):
    id: str = Field(description="The execution's, the job's or the event's id.")
    kind: FailureKind
    code: str
    message: str | None
    failedAt: Timestamp
    retryPath: str = Field(description="The route that retries it.")
