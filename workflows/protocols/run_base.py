"""State and writes shared by ProtocolRunWorkflow's handlers, its work and its CI reports.

Every change goes through ``_persist``: the protocol status, the changed steps and the events
that explain them in one write (``workflows.protocols.run_records``). The transitions here
(a failed step, a completed one, the protocol's completion) are the ones actions, work and
CI results share.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from temporalio import workflow

from models.common import search_attributes as sa
from models.protocols.event_types import EventType
from models.protocols.status import PROTOCOL_TERMINAL, ProtocolStatus, StepStatus
from models.protocols.workflow_io import (
    JOB_TYPES,
    ActivityName,
    EventRecord,
    NewStep,
    ProjectSnapshot,
    ProtocolRunSnapshot,
    RunOptions,
    RunRecordsWrite,
    StepState,
    StepStatusChange,
    WorkItem,
    WorkKind,
)
from models.protocols.workspace_io import CreateStepsWrite
from workflows.common.records import WriteRejected, execute_records_activity, refused_as_write_rejected
from workflows.protocols.protocol_state import ProtocolRunState
from workflows.protocols.run_records import RunRecordWriter


class ProtocolRunBase:
    project: ProjectSnapshot
    run_info: ProtocolRunSnapshot
    options: RunOptions
    state: ProtocolRunState
    queue: list[WorkItem]
    pending_imports: list[NewStep]
    records: RunRecordWriter
    lock: asyncio.Lock
    current: asyncio.Task | None
    job_seq: int
    work_seq: int
    published_status: str

    # --- writing ---------------------------------------------------------------------------------

    async def _persist(self, *events: EventRecord) -> None:
        """Write the protocol status, every changed step and the events, in one transaction."""
        await self.records.write(self._records_write(list(events)))
        self._publish_status()

    def _records_write(self, events: list[EventRecord], new_steps: list[NewStep] | None = None) -> RunRecordsWrite:
        changes = [StepStatusChange(step_run_id=s.id, status=s.status, retries=s.retries, summary=s.summary)
                   for s in self.state.take_changed_steps()]
        return RunRecordsWrite(
            project_id=self.project.id, protocol_run_id=self.run_info.id,
            protocol_status=self.state.status.value, protocol_runtime_state=self.state.take_runtime_state(),
            step_changes=changes, events=events, new_steps=new_steps or [])

    def _publish_status(self) -> None:
        """Show the status in the run's search attributes (Web UI, listings) when it changed: an
        upsert is a history event, so one per write would double a run's history."""
        status = self.state.status.value
        if status != self.published_status or not self.records.writes_locally():
            workflow.upsert_search_attributes([sa.STATUS.value_set(status)])
            self.published_status = status

    def _event(self, event_type: EventType, message: str, step: StepState | None = None,
               **metadata) -> EventRecord:
        return self.records.event(event_type, message, step_run_id=step.id if step else None,
                                  metadata=metadata or None)

    def _job(self, kind: WorkKind, step: StepState | None = None, job_type: str | None = None) -> dict[str, Any]:
        self.job_seq += 1
        info = workflow.info()
        return {"id": f"{info.workflow_id}/{kind}/{info.run_id}/{self.job_seq}", "type": job_type or JOB_TYPES[kind],
                "workflow_id": info.workflow_id, "run_id": info.run_id, "step_id": step.id if step else None}

    def _enqueue(self, item: WorkItem, *, first: bool = False) -> None:
        if first:
            self.queue.insert(0, item)
        else:
            self.queue.append(item)

    async def _create_steps(self, steps: list[NewStep], events: list[EventRecord]) -> list[StepState]:
        """Create the steps and write the run's changes and ``events`` (which may name the new steps by
        index) in one write. A write Postgres refuses raises ``WriteRejected``."""
        if self.records.writes_locally():
            write = self._records_write(events, new_steps=steps)
            try:
                written = await self.records.write_once(write)
            except WriteRejected:
                self.state.mark_unwritten([c.step_run_id for c in write.step_changes],
                                          write.protocol_runtime_state is not None)
                raise
            self.state.add_steps(written.steps)
            self._publish_status()
            return written.steps
        created: list[StepState] = []
        if steps:  # histories from before: the steps, then the changes, as two activities
            with refused_as_write_rejected():
                created = await execute_records_activity(
                    ActivityName.CREATE_STEP_RUNS,
                    CreateStepsWrite(project_id=self.project.id, protocol_run_id=self.run_info.id, steps=steps),
                    list[StepState])
            self.state.add_steps(created)
        ids = {s.step_index: s.id for s in created}
        await self._persist(*[replace(e, step_run_id=ids.get(e.step_index), step_index=None)
                              if e.step_index is not None else e for e in events])
        return created

    async def _create_steps_or_block(self, steps: list[NewStep], events: list[EventRecord], failure: str,
                                     job: str) -> list[StepState] | None:
        """Create the steps queued work found and move a planning run to planned, with ``events``;
        steps Postgres refuses block the run with an event instead."""
        planning = self.state.status == ProtocolStatus.PLANNING
        if planning:
            self.state.set_status(ProtocolStatus.PLANNED)
        try:
            return await self._create_steps(steps, events)
        except WriteRejected as rejected:
            reason = rejected.reason
        if planning:
            self.state.set_status(ProtocolStatus.BLOCKED)
        await self._persist(self._event(EventType.RECORD_REJECTED, f"{failure}: {reason}", job=job))
        return None

    # --- shared transitions ----------------------------------------------------------------------

    def _fail_step(self, step: StepState, event_type: EventType, message: str, **meta) -> list:
        """Step failed → protocol blocked, unless its loop policy sends the run round again."""
        self.state.set_step(step, StepStatus.FAILED)
        if self.state.status not in PROTOCOL_TERMINAL:
            self.state.set_status(ProtocolStatus.BLOCKED)
        events = [self._event(event_type, message, step, **meta)]
        loop = self.state.apply_loop_policy(step)
        if loop is None:
            return events
        if not loop.reset:
            events.append(self._event(EventType.LOOP_POLICY_EXHAUSTED, f"Loop of step {step.step_name} reached "
                                      f"{loop.max_iterations} iterations; run stays blocked", step,
                                      iterations=loop.iteration))
            return events
        first = loop.reset[0]
        self.state.set_step(first, StepStatus.RUNNING)
        self.state.set_status(ProtocolStatus.RUNNING)
        self._enqueue(WorkItem(kind=WorkKind.EXECUTE, step_id=first.id), first=True)
        events.append(self._event(EventType.LOOP_POLICY_APPLIED, f"Loop {loop.iteration}/{loop.max_iterations}: reset "
                                  f"{len(loop.reset)} steps, running {first.step_name} again", step,
                                  iteration=loop.iteration, reset_steps=[s.id for s in loop.reset]))
        return events

    def _after_completion(self, step: StepState, depth: int) -> list:
        """A completed step may trigger another (inline, depth ≤ 3) or complete the protocol."""
        target = self.state.trigger_target(step, depth)
        if target is not None and target.status != StepStatus.RUNNING:
            self.state.record_trigger(step, target, depth + 1)
            self.state.set_step(target, StepStatus.RUNNING)
            self._enqueue(WorkItem(kind=WorkKind.EXECUTE, step_id=target.id, depth=depth + 1), first=True)
            return [self._event(EventType.TRIGGER_POLICY_APPLIED, f"Step {step.step_name} triggered {target.step_name} "
                                f"(depth {depth + 1})", target, source_step=step.id, depth=depth + 1)]
        return self._complete_if_done()

    def _complete_if_done(self) -> list:
        if not self.state.can_complete():
            return []
        self.state.set_status(ProtocolStatus.COMPLETED)
        return [self._event(EventType.PROTOCOL_COMPLETED, "Every step is done; protocol completed")]
