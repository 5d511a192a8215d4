"""The ``records`` activities: the only way workflows write Postgres.

Each write is one transaction, and every event carries a dedupe key, so an
activity retried after a worker died records its rows once. Data Postgres
refuses fails the write at once, never retried (``activities.common.records``).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from activities.common.records import records_activity
from capstan.db import SessionFactory, session_scope
from models.protocols.event import Event
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, StepRun
from models.protocols.workflow_io import ActivityName, RunRecordsWrite, StepState
from models.protocols.workspace_io import CreateStepsWrite


class RecordActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @records_activity(ActivityName.WRITE_RUN_RECORDS)
    async def write_run_records(self, write: RunRecordsWrite) -> list[int]:
        """Apply status changes and append events atomically; returns the new event ids."""
        async with session_scope(self.sessions) as session:
            if write.protocol_run_id is not None and (
                write.protocol_status is not None or write.protocol_runtime_state is not None
            ):
                values: dict = {}
                if write.protocol_status is not None:
                    values["status"] = write.protocol_status
                if write.protocol_runtime_state is not None:
                    values["runtime_state"] = write.protocol_runtime_state
                await session.exec(
                    update(ProtocolRun).where(ProtocolRun.id == write.protocol_run_id).values(**values))
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
            ids: list[int] = []
            for event in write.events:
                stmt = insert(Event).values(
                    project_id=write.project_id, protocol_run_id=write.protocol_run_id,
                    step_run_id=event.step_run_id, event_type=event.event_type, message=event.message,
                    event_metadata=event.metadata, dedupe_key=event.dedupe_key,
                ).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Event.id)
                new_id = (await session.exec(stmt)).scalar_one_or_none()
                if new_id is not None:
                    ids.append(new_id)
            return ids

    @records_activity(ActivityName.CREATE_STEP_RUNS)
    async def create_step_runs(self, write: CreateStepsWrite) -> list[StepState]:
        """Insert the steps (an index already present is kept as it is) and return them all."""
        async with session_scope(self.sessions) as session:
            for step in write.steps:
                await session.exec(insert(StepRun).values(
                    protocol_run_id=write.protocol_run_id, step_index=step.step_index, step_name=step.step_name,
                    step_type=step.step_type, status=step.status, model=step.model, summary=step.summary,
                    engine_id=step.engine_id, policy=step.policy, runtime_state=step.runtime_state,
                ).on_conflict_do_nothing(index_elements=["protocol_run_id", "step_index"]))
            indexes = [s.step_index for s in write.steps]
            rows = (await session.exec(
                select(StepRun).where(StepRun.protocol_run_id == write.protocol_run_id,
                                      col(StepRun.step_index).in_(indexes))
                .order_by(col(StepRun.step_index)))).all()
            return [StepState(id=r.id, step_index=r.step_index, step_name=r.step_name, step_type=r.step_type,
                              status=r.status, retries=r.retries, engine_id=r.engine_id, model=r.model,
                              policy=r.policy, runtime_state=r.runtime_state, summary=r.summary) for r in rows]
