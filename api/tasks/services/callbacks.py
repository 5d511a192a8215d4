"""A runner's result, handed to its run's workflow once.

The result is the ``complete`` Update of the run's workflow, whose validator takes only the first
result of a run that has not ended: a second copy of a callback (or a late one) is refused there, and
answered ``already_finished``. The record answers first what it can: an unknown execution, or one that
has ended or already has its result, costs no Temporal call. No row is locked, and the API writes
nothing: the workflow records when the result arrived.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import BadRequest
from api.common.temporal_calls import Client
from api.tasks.services.runs import ResultRefused, report_result
from capstan.settings import Settings
from models.common.limits import PG_INTEGER_MAX
from models.tasks.public import CallbackAnswer
from models.tasks.status import TERMINAL_STATUSES, TaskStatus
from models.tasks.tables import TaskExecutionRow
from models.tasks.workflow_io import RunnerResult

_STATUSES = {"complete": TaskStatus.SUCCESS, "success": TaskStatus.SUCCESS, "failed": TaskStatus.FAILED}
_TEXT_LIMIT = 65536


def _count(value: Any, *, positive: bool) -> int | None:
    """A positive (or, for ``pr_exists``, non-negative) int or digit string that its column holds; anything
    else is ignored (documented: a runner's count never fails its callback)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and (value > 0 or (value == 0 and not positive)) and value <= PG_INTEGER_MAX:
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


UNKNOWN = CallbackAnswer(ignored="unknown_execution")
FINISHED = CallbackAnswer(ignored="already_finished")


async def accept_callback(db: AsyncSession, temporal: Client, settings: Settings, execution_id: str,
                          result: RunnerResult) -> CallbackAnswer:
    execution = await db.get(TaskExecutionRow, execution_id)
    if execution is None:
        return UNKNOWN
    if execution.result_received_at is not None or TaskStatus(execution.status) in TERMINAL_STATUSES:
        return FINISHED
    try:
        outcome = await report_result(db, temporal, settings, execution_id, result)
    except ResultRefused:
        return FINISHED
    if outcome.state == "not_running":  # the run ended meanwhile (stopped, timed out)
        return FINISHED
    # completed, or accepted and still being recorded: either way the run has the result.
    return CallbackAnswer(executionId=execution_id)
