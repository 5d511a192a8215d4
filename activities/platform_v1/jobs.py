"""The activities of the job workflows: their record writes and their work.

Thin over ``integrations``: the records are ``integrations.stores.platform_jobs``, the imports, exports and
payments ``integrations.stores.platform_record_writes`` and ``platform_accounting``, the call
``integrations.accounting``. What the workflow passes by id (the import's records, the accounting answer,
the ``accounting.token`` secret, the adapter setting) is read here, and what is made here (an export file,
an accounting answer) is stored as an artifact whose id goes back: no record or secret is in a history.
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.common.records import records_activity
from capstan.db import SessionFactory, session_scope
from capstan.secrets import SecretBox
from integrations.accounting import SyncRequest, parse_answer, send_sync
from integrations.stores import platform_executions as executions
from integrations.stores import platform_jobs as store
from integrations.stores.platform_accounting import apply_payments, sync_snapshot
from integrations.stores.platform_adapter_settings import accounting_adapter
from integrations.stores.platform_record_writes import BrokenReference, Writer, create_records, live_rows, record_view
from integrations.stores.platform_secrets import read_workspace_secret
from models.common.base import utcnow
from models.platform_v1.catalog import BY_NAME
from models.platform_v1.executions import ARTIFACT_PREFIX, derived_id
from models.platform_v1.job_io import (
    SYNC_IN_PROGRESS,
    AdapterAttempt,
    AdapterOutcome,
    JobActivityName,
    JobEndedWrite,
    JobQueuedWrite,
    JobStep,
    WorkOutcome,
)
from models.platform_v1.jobs import ACCOUNTING_ACTOR, ACCOUNTING_TOKEN_SECRET, MAX_EXPORT_RECORDS, JobErrorCode
from models.platform_v1.resource_spec import ResourceSpec
from models.platform_v1.workflow_io import INVALID_TRANSITION, Registered

CSV_TAIL = ("createdAt", "updatedAt", "version")


def csv_cell(value: Any) -> str:
    """A CSV cell: lists joined with ``;``, objects as JSON, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(json.dumps(item) if isinstance(item, dict | list) else str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_file(spec: ResourceSpec, views: list[dict[str, Any]]) -> bytes:
    """A header of ``id``, the kind's fields in schema order, ``createdAt``, ``updatedAt``, ``version``; a row each."""
    columns = ["id", *spec.schema.model_fields, *CSV_TAIL]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for view in views:
        writer.writerow([csv_cell(view.get(column)) for column in columns])
    return out.getvalue().encode()


class JobActivities:
    def __init__(self, sessions: SessionFactory, box: SecretBox) -> None:
        self.sessions = sessions
        self.box = box

    @records_activity(JobActivityName.RECORD_JOB_QUEUED)
    async def record_platform_job_queued(self, write: JobQueuedWrite) -> Registered:
        try:
            async with session_scope(self.sessions) as session:
                row = await store.record_job_queued(session, write)
        except store.SyncInProgress:
            raise ApplicationError("an accounting sync of this workspace is already queued or running",
                                   type=SYNC_IN_PROGRESS, non_retryable=True) from None
        except executions.TransitionRefused as refused:
            raise ApplicationError(f"the job is {refused.current}", {"currentStatus": refused.current},
                                   type=INVALID_TRANSITION, non_retryable=True) from None
        return Registered(execution_id=row.id, status=row.status, ended=False)

    @records_activity(JobActivityName.RECORD_JOB_ENDED)
    async def record_platform_job_ended(self, write: JobEndedWrite) -> bool:
        evidence_id = derived_id(ARTIFACT_PREFIX, write.execution_id, write.run_id, "evidence")
        async with session_scope(self.sessions) as session:
            return await store.record_job_ended(session, write, evidence_id)

    @records_activity(JobActivityName.RUN_IMPORT)
    async def run_platform_import(self, step: JobStep) -> WorkOutcome:
        """Every record of the input artifact in one transaction, audited as the job's creator; a broken
        reference writes none and fails the job ``invalid_reference`` naming the record and field."""
        run = step.run
        spec = BY_NAME[str(run.resource)]
        writer = Writer(run.workspace_id, run.created_by or "unknown", run.correlation_id)
        try:
            async with session_scope(self.sessions) as session:
                artifact = await executions.artifact_of(session, run.workspace_id, str(run.input_artifact_id))
                if artifact is None:
                    raise ApplicationError("the import's records are gone", type="input_missing", non_retryable=True)
                records = json.loads(artifact.content)
                rows = await create_records(session, writer, spec, records)
        except BrokenReference as broken:
            return WorkOutcome(error_code=JobErrorCode.INVALID_REFERENCE, error_message=str(broken))
        return WorkOutcome(result={"created": len(rows)})

    @records_activity(JobActivityName.RUN_EXPORT)
    async def run_platform_export(self, step: JobStep) -> WorkOutcome:
        """The export file (JSON: the records as ``GET`` shows them, oldest first; or CSV) as an artifact."""
        run = step.run
        spec = BY_NAME[str(run.resource)]
        writer = Writer(run.workspace_id, run.created_by or "unknown", run.correlation_id)
        async with session_scope(self.sessions) as session:
            rows = await live_rows(session, writer, spec, filters=dict(run.params.get("filters") or {}),
                                   search=run.search, limit=MAX_EXPORT_RECORDS + 1)
            if len(rows) > MAX_EXPORT_RECORDS:
                return WorkOutcome(error_code=JobErrorCode.EXPORT_TOO_LARGE,
                                   error_message=f"more than {MAX_EXPORT_RECORDS} records match")
            views = [record_view(row) for row in rows]
            is_csv = run.params.get("format") == "csv"
            content = csv_file(spec, views) if is_csv else json.dumps(views, separators=(",", ":")).encode()
            artifact_id = derived_id(ARTIFACT_PREFIX, run.execution_id, step.run_id, "export")
            await executions.put_artifact(session, artifact_id=artifact_id, workspace_id=run.workspace_id,
                                          kind="export", content=content, execution_id=run.execution_id,
                                          content_type="text/csv; charset=utf-8" if is_csv else "application/json")
        return WorkOutcome(result={"exported": len(views)}, output_artifact_id=artifact_id)

    @activity.defn(name=JobActivityName.CALL_ACCOUNTING)
    async def call_platform_accounting(self, step: JobStep) -> AdapterAttempt:
        """One try of the sync call; never raises for what the system answered (the workflow decides). The
        answer is stored as an artifact; only its id goes back."""
        run = step.run
        async with session_scope(self.sessions) as session:
            adapter = await accounting_adapter(session, run.workspace_id)
            token = await read_workspace_secret(session, self.box, run.workspace_id, ACCOUNTING_TOKEN_SECRET)
            body, _, _ = await sync_snapshot(session, run.workspace_id, run.job_id)
        started, clock = utcnow(), time.monotonic()
        if adapter is None:
            return AdapterAttempt(attempt=step.attempt, outcome=AdapterOutcome.REJECTED, started_at=started,
                                  duration_ms=0, error="integrations.accounting is not configured any more")
        reply = await send_sync(SyncRequest(
            base_url=adapter.base_url, body=body, workspace_id=run.workspace_id,
            idempotency_key=f"{run.job_id}-{run.retry_count}", correlation_id=run.correlation_id, token=token,
            timeout_seconds=adapter.timeout_seconds))
        answer_id = None
        if reply.outcome == AdapterOutcome.OK and reply.body is not None:
            answer_id = derived_id(ARTIFACT_PREFIX, run.execution_id, step.run_id, str(step.attempt), "answer")
            async with session_scope(self.sessions) as session:
                await executions.put_artifact(session, artifact_id=answer_id, workspace_id=run.workspace_id,
                                              kind="accounting", content=reply.body, execution_id=run.execution_id)
        return AdapterAttempt(attempt=step.attempt, outcome=reply.outcome, started_at=started,
                              duration_ms=int((time.monotonic() - clock) * 1000), http_status=reply.http_status,
                              error=reply.error, response_artifact_id=answer_id)

    @records_activity(JobActivityName.APPLY_ACCOUNTING)
    async def apply_platform_accounting(self, step: JobStep) -> WorkOutcome:
        """The answer's payments, applied in one transaction as ``accounting-sync``."""
        run = step.run
        writer = Writer(run.workspace_id, ACCOUNTING_ACTOR, run.correlation_id)
        async with session_scope(self.sessions) as session:
            artifact = await executions.artifact_of(session, run.workspace_id, str(step.response_artifact_id))
            if artifact is None:
                raise ApplicationError("the accounting answer is gone", type="input_missing", non_retryable=True)
            _, clients, invoices = await sync_snapshot(session, run.workspace_id, run.job_id)
            applied = await apply_payments(session, writer, parse_answer(artifact.content).payments, run.execution_id)
        return WorkOutcome(result={"clientsSent": clients, "invoicesSent": invoices,
                                   "paymentsCreated": applied.created, "paymentsSkipped": applied.skipped,
                                   "paymentsRejected": applied.rejected})
