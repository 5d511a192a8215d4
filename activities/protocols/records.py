"""The ``records`` activities: the only way workflows write Postgres.

Each write is one transaction, and every event carries a dedupe key, so a write
retried after a worker died records its rows once. Workflows run ``record_run_changes``
as a local activity (no round trip through the server's task queues); the two older
names serve histories written before. Data Postgres refuses fails the write at once,
never retried (``activities.common.records``). Every write that names a protocol run also
records on it the run id of the workflow execution that wrote it (``workflow_run_id``: the
run's Web UI link opens that execution).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.common.records import records_activity
from capstan.db import SessionFactory, session_scope
from models.protocols.event import Event
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, StepRun
from models.protocols.workflow_io import ActivityName, NewStep, RunRecordsResult, RunRecordsWrite, StepState
from models.protocols.workspace_io import CreateStepsWrite


class RecordActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @records_activity(ActivityName.RECORD_RUN_CHANGES)
    async def record_run_changes(self, write: RunRecordsWrite) -> RunRecordsResult:
        """Create the new steps, apply status changes and append events, atomically."""
        async with session_scope(self.sessions) as session:
            steps = await _insert_steps(session, write.protocol_run_id, write.new_steps)
            await _apply_changes(session, write, _writing_run())
            ids = await _insert_events(session, write, {s.step_index: s.id for s in steps})
            return RunRecordsResult(event_ids=ids, steps=steps)

    @records_activity(ActivityName.WRITE_RUN_RECORDS)
    async def write_run_records(self, write: RunRecordsWrite) -> list[int]:
        """Apply status changes and append events atomically; returns the new event ids."""
        return (await self.record_run_changes(write)).event_ids

    @records_activity(ActivityName.CREATE_STEP_RUNS)
    async def create_step_runs(self, write: CreateStepsWrite) -> list[StepState]:
        """Insert the steps (an index already present is kept as it is) and return them all."""
        async with session_scope(self.sessions) as session:
            return await _insert_steps(session, write.protocol_run_id, write.steps)


def _writing_run() -> str | None:
    """The run id of the workflow execution this write is for (none when called outside an activity)."""
    return activity.info().workflow_run_id if activity.in_activity() else None


async def _insert_steps(session: AsyncSession, run_id: int | None, steps: list[NewStep]) -> list[StepState]:
    if not steps or run_id is None:
        return []
    await session.exec(insert(StepRun).values([dict(
        protocol_run_id=run_id, step_index=step.step_index, step_name=step.step_name, step_type=step.step_type,
        status=step.status, model=step.model, summary=step.summary, engine_id=step.engine_id, policy=step.policy,
        runtime_state=step.runtime_state) for step in steps],
    ).on_conflict_do_nothing(index_elements=["protocol_run_id", "step_index"]))
    rows = (await session.exec(
        select(StepRun).where(StepRun.protocol_run_id == run_id, col(StepRun.step_index).in_(
            [s.step_index for s in steps])).order_by(col(StepRun.step_index)))).all()
    return [StepState(id=r.id, step_index=r.step_index, step_name=r.step_name, step_type=r.step_type,
                      status=r.status, retries=r.retries, engine_id=r.engine_id, model=r.model, policy=r.policy,
                      runtime_state=r.runtime_state, summary=r.summary) for r in rows]


async def _apply_changes(session: AsyncSession, write: RunRecordsWrite, workflow_run_id: str | None) -> None:
    run_values: dict = {}
    if write.protocol_status is not None:
        run_values["status"] = write.protocol_status
    if write.protocol_runtime_state is not None:
        run_values["runtime_state"] = write.protocol_runtime_state
    if write.protocol_run_id is not None and run_values:
        await session.exec(update(ProtocolRun).where(ProtocolRun.id == write.protocol_run_id)
                           .values(**run_values, workflow_run_id=workflow_run_id))
    elif write.protocol_run_id is not None and workflow_run_id:  # events only: a row write once per execution
        await session.exec(update(ProtocolRun).where(
            ProtocolRun.id == write.protocol_run_id,
            col(ProtocolRun.workflow_run_id).is_distinct_from(workflow_run_id)).values(workflow_run_id=workflow_run_id))
    if write.project_ci_provider is not None:
        await session.exec(
            update(Project).where(Project.id == write.project_id, Project.ci_provider.is_(None))
            .values(ci_provider=write.project_ci_provider))
    for change in write.step_changes:
        values = {"status": change.status}
        if change.retries is not None:
            values["retries"] = change.retries
        if change.summary is not None:
            values["summary"] = change.summary
        if change.runtime_state is not None:
            values["runtime_state"] = change.runtime_state
        await session.exec(update(StepRun).where(StepRun.id == change.step_run_id).values(**values))


async def _insert_events(session: AsyncSession, write: RunRecordsWrite, step_ids: dict[int, int]) -> list[int]:
    """All events in one statement; an event whose dedupe key is already recorded is skipped."""
    if not write.events:
        return []
    rows = [dict(project_id=write.project_id, protocol_run_id=write.protocol_run_id,
                 step_run_id=event.step_run_id if event.step_index is None else step_ids.get(event.step_index),
                 event_type=event.event_type, message=event.message, event_metadata=event.metadata,
                 dedupe_key=event.dedupe_key) for event in write.events]
    stmt = insert(Event).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Event.id)
    return list((await session.exec(stmt)).scalars().all())
