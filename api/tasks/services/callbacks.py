"""A runner's result, handed to its run's workflow once.

The execution row is locked while the result is checked and signalled, so of two copies of one
callback the second sees the first's ``result_received_at`` and is ignored; the workflow too keeps
only the first result it gets.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.common.errors import BadRequest
from api.common.temporal_calls import is_not_found, unavailable
from api.tasks.services.executions import workflow_id
from capstan.settings import Settings
from models.common.base import utcnow
from models.tasks.status import TERMINAL_STATUSES, TaskStatus
from models.tasks.tables import TaskExecutionRow
from models.tasks.workflow_io import RunnerResult, SignalName

log = logging.getLogger(__name__)

_STATUSES = {"complete": TaskStatus.SUCCESS, "success": TaskStatus.SUCCESS, "failed": TaskStatus.FAILED}
_TEXT_LIMIT = 65536


def _count(value: Any, *, positive: bool) -> int | None:
    """A positive (or, for ``pr_exists``, non-negative) int or digit string; anything else ignored."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and (value > 0 or (value == 0 and not positive)) and value < 2**31:
        return value
    return None


def _text(payload: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = payload.get(name)
        if isinstance(value, str) and value.strip():
            return value[:_TEXT_LIMIT]
    return None


def parse_callback(payload: dict[str, Any]) -> RunnerResult:
    status = payload.get("status")
    if not isinstance(status, str) or status not in _STATUSES:
        raise BadRequest("status must be complete, success or failed", code="invalid_status",
                         extra={"allowed": sorted(_STATUSES)})
    return RunnerResult(
        status=_STATUSES[status], summary=_text(payload, "summary"), error=_text(payload, "error"),
        branch=_text(payload, "branch_name", "branch"), base_branch=_text(payload, "base_branch"),
        commit_hash=_text(payload, "commit_hash"), pr_exists=_count(payload.get("pr_exists"), positive=False) or 0,
        callback_attempt=_count(payload.get("callback_attempt"), positive=True),
        callback_max_attempts=_count(payload.get("callback_max_attempts"), positive=True),
        callback_last_http_code=_count(payload.get("callback_last_http_code"), positive=True))


async def accept_callback(db: AsyncSession, temporal: Client, settings: Settings, execution_id: str,
                          result: RunnerResult) -> dict[str, Any]:
    async with db.begin():
        execution = await db.get(TaskExecutionRow, execution_id, with_for_update=True)
        if execution is None:
            return {"ok": True, "ignored": "unknown_execution"}
        if execution.result_received_at is not None or TaskStatus(execution.status) in TERMINAL_STATUSES:
            return {"ok": True, "ignored": "already_finished"}
        try:
            await temporal.get_workflow_handle(workflow_id(settings, execution_id)).signal(SignalName.COMPLETE, result)
        except RPCError as error:
            if is_not_found(error):  # the run ended meanwhile (stopped, timed out)
                return {"ok": True, "ignored": "already_finished"}
            log.warning("result of %s not delivered: %s", execution_id, error.message)
            raise unavailable("the workflow service is unavailable; the runner retries") from None
        execution.result_received_at = utcnow()
        db.add(execution)
    return {"ok": True, "executionId": execution_id}
