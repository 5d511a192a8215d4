"""CI results and forge events (the ``ci_report`` signal) applied to a protocol run."""

from __future__ import annotations

from temporalio import workflow

from models.protocols.event_types import EventType
from models.protocols.status import ProtocolStatus, StepStatus
from models.protocols.workflow_io import CiOutcome, CiReport, WorkItem, WorkKind
from workflows.protocols.run_base import ProtocolRunBase

#: Patch id marking runs where a CI result with every step still pending applies to the latest created
#: step, as the original orchestrator did (before it, such a result was only recorded, ``ci_unmatched``).
CI_TO_THE_LATEST_CREATED_STEP = "ci-report-to-the-latest-created-step"


class CiReports(ProtocolRunBase):
    async def _apply_ci_report(self, report: CiReport) -> None:
        meta = {"source": report.source, "event": report.event_name, "status": report.status,
                "outcome": report.outcome, "branch": report.branch, "delivery_id": report.delivery_id}
        if self.state.status == ProtocolStatus.CANCELLED:
            await self._persist(self._event(EventType.CI_IGNORED, f"CI {report.status} ignored: run is cancelled",
                                            **meta))
            return
        if report.outcome == CiOutcome.MERGED:
            events = [self._event(EventType.PR_MERGED, "Pull request merged; protocol completed", **meta)]
            if self.state.status != ProtocolStatus.COMPLETED:
                self.state.set_status(ProtocolStatus.COMPLETED)
                events.append(self._event(EventType.PROTOCOL_COMPLETED, "Protocol completed"))
            await self._persist(*events)
            return
        step = self.state.ci_target_step()
        if step is None and self.state.steps and workflow.patched(CI_TO_THE_LATEST_CREATED_STEP):
            step = self.state.latest_created_step()
        if step is None:
            await self._persist(self._event(EventType.CI_UNMATCHED, f"CI {report.status}: no step has run yet", **meta))
            return
        if report.outcome == CiOutcome.RUNNING:
            self.state.set_step(step, StepStatus.RUNNING)
            await self._persist(self._event(EventType.CI_RUNNING, f"CI {report.status} for step {step.step_name}", step,
                                            **meta))
        elif report.outcome == CiOutcome.SUCCESS:
            if self.options.auto_qa_on_ci:
                self.state.set_step(step, StepStatus.NEEDS_QA)
                await self._persist(self._event(EventType.CI_SUCCEEDED,
                                                f"CI passed for step {step.step_name}; QA enqueued", step, **meta))
                self._enqueue(WorkItem(kind=WorkKind.QA, step_id=step.id), first=True)
            else:
                self.state.set_step(step, StepStatus.COMPLETED)
                events = [self._event(EventType.CI_SUCCEEDED, f"CI passed for step {step.step_name}", step, **meta)]
                events += self._after_completion(step, depth=0)
                await self._persist(*events)
        elif report.outcome == CiOutcome.FAILURE:
            await self._persist(*self._fail_step(step, EventType.CI_FAILED,
                                                 f"CI {report.status} for step {step.step_name}", **meta))
