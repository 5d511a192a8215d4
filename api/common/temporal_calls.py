"""Every call from the API to Temporal, and what its failures mean in HTTP.

- Temporal unreachable (``RPCError`` UNAVAILABLE/DEADLINE_EXCEEDED, or a client that cannot connect:
  told by asking the server's health, ``temporal_unreachable``) → 503 with ``Retry-After``; Temporal
  refusing a read → 502 (``temporal_errors``).
- An Update its workflow rejected (an ``ApplicationError`` whose ``type`` the caller maps) → that
  ApiError (409, 404, 400 …); any other failed Update → 503.
- An Update no worker accepted within the timeout → 503 ``no_worker``; one accepted but not
  finished → 503 ``action_pending``. Both with ``Retry-After``.
- A workflow that is not running receives an Update or Signal by being started
  (update-with-start, signal-with-start, ``USE_EXISTING`` on conflict) from a ``StartFactory``:
  the caller builds the input only when it is needed. A start whose ``id_reuse_policy`` refuses
  a second execution (a workflow that finished is not started again) is a 409 ``workflow_closed``.

Errors are classified by type and status code, never by their message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    ScheduleOverlapPolicy,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.common.errors import ApiError, BadGateway, Conflict, ServiceUnavailable

log = logging.getLogger(__name__)

R = TypeVar("R")

#: What a 503 tells a client to wait before trying again: a worker or Temporal may be back by then.
RETRY_AFTER_SECONDS = 5
#: How long to ask whether a timed-out Update was accepted before answering ``no_worker``.
ACCEPTED_CHECK_SECONDS = 2.0
#: Status codes that mean Temporal is not there (rather than refusing the request).
UNREACHABLE = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})
#: How long ``temporal_unreachable`` waits for the server's health before taking it for absent.
HEALTH_CHECK_SECONDS = 2.0

#: ``ApplicationError.type`` → the ApiError a rejected Update answers with.
Rejections = Mapping[str, Callable[[str], ApiError]]


def unavailable(detail: str, code: str | None = None, retry_after: int = RETRY_AFTER_SECONDS) -> ServiceUnavailable:
    return ServiceUnavailable(detail, code=code, headers={"Retry-After": str(retry_after)})


#: What a refused start of a workflow that finished answers, unless the caller says better.
CLOSED_DETAIL = "the workflow has finished and is not started again"


def workflow_closed(detail: str = CLOSED_DETAIL) -> Conflict:
    return Conflict(detail, code="workflow_closed")


@dataclass
class WorkflowStart:
    """How to start a workflow: its registered name, its input and ``Client.start_workflow`` options
    (``id``, ``task_queue``, ``search_attributes`` …). ``id_conflict_policy`` is always USE_EXISTING."""

    workflow: str
    arg: Any
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def start_options(self) -> dict[str, Any]:
        return {**self.options, "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING}


#: Builds the start of a workflow that is not running; called only when one is needed.
StartFactory = Callable[[], Awaitable[WorkflowStart]]


async def temporal_unreachable(client: Client) -> bool:
    """Whether the client cannot reach Temporal, asked the public way: the server's health. A client that cannot
    connect raises a bare ``RuntimeError`` on every call (no type of its own), so a ``RuntimeError`` is classified
    by asking this, never by its text: when Temporal answers, the error was something else and is raised as is."""
    try:
        async with asyncio.timeout(HEALTH_CHECK_SECONDS):
            return not await client.service_client.check_health(timeout=timedelta(seconds=HEALTH_CHECK_SECONDS))
    except RPCError as exc:
        return exc.status in UNREACHABLE
    except (RuntimeError, TimeoutError):
        return True


@contextlib.asynccontextmanager
async def temporal_errors(client: Client, where: str) -> AsyncIterator[None]:
    """For reads: Temporal unreachable → 503 ``temporal_unavailable``; refusing → 502 ``temporal_error``.
    ``where`` names the server in the message (address and namespace: no secret)."""
    try:
        yield
    except RPCError as exc:
        if exc.status in UNREACHABLE:
            raise unavailable(f"{where} is unreachable: {exc.message}", code="temporal_unavailable") from None
        raise BadGateway(f"{where} refused the request: {exc.message}", code="temporal_error") from None
    except RuntimeError as exc:
        if not await temporal_unreachable(client):
            raise
        raise unavailable(f"{where} is unreachable: {exc}", code="temporal_unavailable") from None


def is_not_found(error: RPCError) -> bool:
    return error.status == RPCStatusCode.NOT_FOUND


async def start_workflow_once(client: Client, start: WorkflowStart) -> str | None:
    """Start the workflow unless one with its id runs (USE_EXISTING) or its ``id_reuse_policy`` refuses
    another execution; neither is an error. The run id of the execution running now, if one is."""
    try:
        handle = await client.start_workflow(start.workflow, start.arg, **start.start_options)
    except WorkflowAlreadyStartedError:
        return None
    return handle.result_run_id


async def signal_or_start(client: Client, workflow_id: str, signal: str, args: Sequence[Any],
                          start: StartFactory, *, unavailable_detail: str = "the workflow service is unavailable; "
                                                                            "try again",
                          retry_after: int = RETRY_AFTER_SECONDS, closed_detail: str = CLOSED_DETAIL) -> None:
    """Signal the running workflow; signal-with-start it from ``start()`` when none runs (409 ``workflow_closed``)."""
    try:
        try:
            await client.get_workflow_handle(workflow_id).signal(signal, *args)
            return
        except RPCError as exc:
            if not is_not_found(exc):
                raise
        begin = await start()
        await client.start_workflow(begin.workflow, begin.arg, start_signal=signal, start_signal_args=list(args),
                                    **begin.start_options)
    except WorkflowAlreadyStartedError:
        raise workflow_closed(closed_detail) from None
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not await temporal_unreachable(client):
            raise
        log.warning("signal %s to %s not delivered: %r", signal, workflow_id, exc)
        raise unavailable(unavailable_detail, retry_after=retry_after) from None


async def update_or_start(client: Client, workflow_id: str, update: str, args: Sequence[Any],
                          start: StartFactory, *, timeout: float, result_type: type[R],
                          rejections: Rejections, closed_detail: str = CLOSED_DETAIL) -> R:
    """Run an Update on the workflow, starting it from ``start()`` when it is not running (409 ``workflow_closed``
    when the start's ``id_reuse_policy`` refuses one), and return its result, all within ``timeout`` seconds (then
    503 ``no_worker`` or ``action_pending``). One RPC when all goes well; only when that times out does a second
    call (same update id, so the same Update) ask whether a worker accepted it."""
    update_id = str(uuid.uuid4())
    try:
        async with asyncio.timeout(timeout):
            handle = await _completed_update(client, workflow_id, update, list(args), start, timeout,
                                             result_type, update_id)
            return await handle.result(rpc_timeout=timedelta(seconds=timeout))
    except WorkflowUpdateFailedError as exc:
        raise _rejection(exc, rejections) from None
    except WorkflowAlreadyStartedError:
        raise workflow_closed(closed_detail) from None
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
        accepted = await _was_accepted(client, workflow_id, update, list(args), update_id, result_type)
        log.warning("update %s on %s not %s within %.0fs", update, workflow_id,
                    "applied" if accepted else "accepted", timeout)
        if accepted:
            raise unavailable(f"the run accepted the action but did not finish it within {timeout:.0f}s (an earlier "
                              "action or a database write is still in progress); it will be applied: check the "
                              "run's events before sending it again", code="action_pending") from None
        raise unavailable(f"no worker applied the action within {timeout:.0f}s; "
                          "it may still be applied when a worker is available", code="no_worker") from None
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not await temporal_unreachable(client):
            raise
        log.warning("update %s on %s not applied: %r", update, workflow_id, exc)
        raise unavailable("the workflow service is unavailable; try again") from None


async def _completed_update(client: Client, workflow_id: str, update: str, args: list[Any], start: StartFactory,
                            timeout: float, result_type: type[R], update_id: str) -> WorkflowUpdateHandle[R]:
    """The Update, once completed, on the running workflow; update-with-start when none is running."""
    rpc_timeout = timedelta(seconds=timeout)
    completed = WorkflowUpdateStage.COMPLETED
    try:
        return await client.get_workflow_handle(workflow_id).start_update(
            update, *args, id=update_id, wait_for_stage=completed, result_type=result_type, rpc_timeout=rpc_timeout)
    except RPCError as exc:
        if not is_not_found(exc):
            raise
    begin = await start()
    operation = WithStartWorkflowOperation(begin.workflow, begin.arg, result_type=dict, **begin.start_options)
    return await client.start_update_with_start_workflow(
        update, *args, id=update_id, start_workflow_operation=operation, wait_for_stage=completed,
        result_type=result_type, rpc_timeout=rpc_timeout)


async def _was_accepted(client: Client, workflow_id: str, update: str, args: list[Any], update_id: str,
                        result_type: type) -> bool:
    """Whether a worker accepted the timed-out Update: asking again with its id is answered at once
    once it is accepted, and admits nothing new (same id, same Update)."""
    try:
        async with asyncio.timeout(ACCEPTED_CHECK_SECONDS):
            await client.get_workflow_handle(workflow_id).start_update(
                update, *args, id=update_id, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=result_type,
                rpc_timeout=timedelta(seconds=ACCEPTED_CHECK_SECONDS))
        return True
    except WorkflowUpdateFailedError:
        return True
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError, RPCError, RuntimeError):
        return False


def _application_error(exc: WorkflowUpdateFailedError) -> ApplicationError | None:
    """The ``ApplicationError`` a handler or validator raised, found through the failure's causes."""
    cause = exc.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    return cause


def _unexpected(exc: WorkflowUpdateFailedError) -> ServiceUnavailable:
    log.error("update failed unexpectedly: %s", exc.cause)
    return unavailable("the action failed in the workflow; see the run's events")


def _rejection(exc: WorkflowUpdateFailedError, rejections: Rejections) -> ApiError:
    cause = _application_error(exc)
    if cause is not None and cause.type in rejections:
        return rejections[cause.type](cause.message)
    return _unexpected(exc)


async def run_workflow(client: Client, start: WorkflowStart, *, timeout: float, result_type: type[R]) -> R:
    """Start a short workflow and wait for its result within ``timeout`` seconds (then 503 ``no_worker``: it goes
    on). For operator actions whose answer is the workflow's result (a dispatch, a sync, a poll, the smoke check)."""
    try:
        async with asyncio.timeout(timeout):
            handle = await client.start_workflow(start.workflow, start.arg, result_type=result_type,
                                                 **start.start_options)
            return await handle.result()
    except TimeoutError:
        raise unavailable(f"no worker finished the request within {timeout:.0f}s; it may still finish when a "
                          "worker is available", code="no_worker") from None
    except WorkflowFailureError as exc:
        log.error("workflow %s failed: %s", start.options.get("id"), exc.cause)
        raise BadGateway(f"the workflow failed: {exc.cause}", code="workflow_failed") from None
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not await temporal_unreachable(client):
            raise
        raise unavailable("the workflow service is unavailable; try again") from None


# --- Runs started by their first Update, and Updates that never start a run ------------------------
# (the coding tasks: ``api.tasks.services.runs``). A refused Update raises whatever its refusal maps
# to, given the ``ApplicationError`` itself (its ``details`` name the task or the run's status).

#: ``ApplicationError.type`` → the exception a refused Update raises (an ApiError, or one the caller answers).
Refusals = Mapping[str, Callable[[ApplicationError], Exception]]


@dataclass(frozen=True)
class UpdateOutcome:
    """What an Update sent to a running workflow came to: ``completed`` (``result`` is its answer),
    ``pending`` (accepted, not finished within the timeout: it will be), or ``not_running`` (no open
    workflow has that id: none was started, or it has closed)."""

    state: str
    result: Any = None


def _refused(exc: WorkflowUpdateFailedError, refusals: Refusals) -> Exception:
    cause = _application_error(exc)
    if cause is not None and cause.type in refusals:
        return refusals[cause.type](cause)
    return _unexpected(exc)


async def _not_finished(client: Client, workflow_id: str, update: str, args: list[Any], update_id: str,
                        result_type: type, timeout: float) -> UpdateOutcome:
    """A timed-out Update: ``pending`` when a worker accepted it, else 503 ``no_worker``."""
    if await _was_accepted(client, workflow_id, update, args, update_id, result_type):
        log.warning("update %s on %s accepted, not finished within %.0fs", update, workflow_id, timeout)
        return UpdateOutcome("pending")
    log.warning("update %s on %s not accepted within %.0fs", update, workflow_id, timeout)
    raise unavailable(f"no worker took the request within {timeout:.0f}s; it may still be applied when a worker "
                      "is available", code="no_worker")


async def _unreachable(client: Client, exc: RPCError | RuntimeError, what: str) -> ServiceUnavailable:
    if isinstance(exc, RuntimeError) and not await temporal_unreachable(client):
        raise exc
    log.warning("%s: %r", what, exc)
    return unavailable("the workflow service is unavailable; try again")


async def start_with_update(client: Client, start: WorkflowStart, update: str, args: Sequence[Any], *,
                            timeout: float, result_type: type[R], refusals: Refusals) -> R:
    """Start a new workflow together with its first Update (update-with-start, one RPC) and return the Update's
    answer, all within ``timeout`` seconds. A refused Update raises its refusal; one not finished in time is 503
    ``action_pending`` (it will be applied) or ``no_worker``; a start the ``id_reuse_policy`` refuses is 409."""
    workflow_id = str(start.options["id"])
    update_id = str(uuid.uuid4())
    rpc_timeout = timedelta(seconds=timeout)
    try:
        async with asyncio.timeout(timeout):
            operation = WithStartWorkflowOperation(start.workflow, start.arg, **start.start_options)
            handle = await client.start_update_with_start_workflow(
                update, *args, id=update_id, start_workflow_operation=operation,
                wait_for_stage=WorkflowUpdateStage.COMPLETED, result_type=result_type, rpc_timeout=rpc_timeout)
            return await handle.result(rpc_timeout=rpc_timeout)
    except WorkflowUpdateFailedError as exc:
        raise _refused(exc, refusals) from None
    except WorkflowAlreadyStartedError:
        raise workflow_closed() from None
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
        await _not_finished(client, workflow_id, update, list(args), update_id, result_type, timeout)
        raise unavailable(f"the request was accepted but not finished within {timeout:.0f}s (a database write or "
                          "a GitHub call is still in progress); it will be applied: look before sending it again",
                          code="action_pending") from None
    except (RPCError, RuntimeError) as exc:
        raise await _unreachable(client, exc, f"update-with-start {update} of {workflow_id}") from None


async def update_if_running(client: Client, workflow_id: str, update: str, args: Sequence[Any], *,
                            timeout: float, result_type: type[R], refusals: Refusals) -> UpdateOutcome:
    """Run an Update on the workflow if one with that id is open, never starting one (an action on a run whose
    workflow has closed is answered from the run's record by the caller)."""
    update_id = str(uuid.uuid4())
    rpc_timeout = timedelta(seconds=timeout)
    try:
        async with asyncio.timeout(timeout):
            handle = await client.get_workflow_handle(workflow_id).start_update(
                update, *args, id=update_id, wait_for_stage=WorkflowUpdateStage.COMPLETED, result_type=result_type,
                rpc_timeout=rpc_timeout)
            return UpdateOutcome("completed", await handle.result(rpc_timeout=rpc_timeout))
    except WorkflowUpdateFailedError as exc:
        raise _refused(exc, refusals) from None
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
        return await _not_finished(client, workflow_id, update, list(args), update_id, result_type, timeout)
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and is_not_found(exc):  # never started, or closed ("… already completed")
            return UpdateOutcome("not_running")
        raise await _unreachable(client, exc, f"update {update} of {workflow_id}") from None


async def start_new_workflow(client: Client, start: WorkflowStart, *, timeout: float) -> bool:
    """Start the workflow as a new execution, answered once Temporal has it (no worker needed): ``True``; ``False``
    when one with its id runs (``id_conflict_policy`` FAIL) or ran and its ``id_reuse_policy`` refuses another.
    Temporal unreachable, or not answering within ``timeout`` seconds → 503 with ``Retry-After``."""
    workflow_id = str(start.options["id"])
    options = {**start.options, "id_conflict_policy": WorkflowIDConflictPolicy.FAIL}
    try:
        async with asyncio.timeout(timeout):
            await client.start_workflow(start.workflow, start.arg, rpc_timeout=timedelta(seconds=timeout), **options)
        return True
    except WorkflowAlreadyStartedError:
        return False
    except TimeoutError:
        log.warning("start of %s not answered within %.0fs", workflow_id, timeout)
        raise unavailable("the workflow service did not answer in time; try again") from None
    except (RPCError, RuntimeError) as exc:
        raise await _unreachable(client, exc, f"start of {workflow_id}") from None


async def cancel_workflow(client: Client, workflow_id: str, run_id: str | None = None) -> bool:
    """Ask Temporal to cancel the run (``True``); ``False`` when it is not running. The workflow decides the rest."""
    try:
        await client.get_workflow_handle(workflow_id, run_id=run_id).cancel()
        return True
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and is_not_found(exc):
            return False
        raise await _unreachable(client, exc, f"cancel of {workflow_id}") from None


async def nudge_schedule(client: Client, schedule_id: str, *, timeout: float = 1.0) -> bool:
    """Run the schedule's action now, or once after the run in progress (``BUFFER_ONE``): a hint that never fails
    its caller (Temporal down, no such schedule yet: its own period catches up). Whether Temporal took it."""
    try:
        async with asyncio.timeout(timeout):
            await client.get_schedule_handle(schedule_id).trigger(
                overlap=ScheduleOverlapPolicy.BUFFER_ONE, rpc_timeout=timedelta(seconds=timeout))
        return True
    except (RPCError, RuntimeError, TimeoutError) as exc:
        log.info("schedule %s not nudged: %r", schedule_id, exc)
        return False
