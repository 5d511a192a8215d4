"""Test data, built in one place: workflow payloads (pure) and database rows (async).

Every builder has defaults that make a valid value and takes keyword overrides for
what a test is about, so a test names only the fields it cares about.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from models.protocols.event import Event
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, StepRun
from models.protocols.workflow_io import (
    CiReport,
    NewStep,
    ProjectSnapshot,
    ProtocolRunInput,
    ProtocolRunSnapshot,
    RunOptions,
    StepState,
)

# --- workflow payloads ---------------------------------------------------------------------------


def project_snapshot(**fields: Any) -> ProjectSnapshot:
    values: dict[str, Any] = {"id": 1, "name": "demo", "git_url": "https://github.com/acme/demo.git",
                              "base_branch": "main"}
    return ProjectSnapshot(**{**values, **fields})


def step_state(step_id: int, step_index: int | None = None, status: str = "pending", **fields: Any) -> StepState:
    """Step ``step_id``; its index defaults to ``step_id - 1`` (ids 1, 2, … are indexes 0, 1, …)."""
    index = step_id - 1 if step_index is None else step_index
    values: dict[str, Any] = {"step_name": f"{index:02d}-step.md", "step_type": "execute"}
    return StepState(id=step_id, step_index=index, status=status, **{**values, **fields})


def step_states(*statuses: str, first_id: int = 1) -> list[StepState]:
    """One step per status, ids from ``first_id`` in index order."""
    return [step_state(first_id + i, i, status) for i, status in enumerate(statuses)]


def new_step(step_index: int, **fields: Any) -> NewStep:
    return NewStep(**{"step_index": step_index, "step_name": f"{step_index:02d}-step.md", **fields})


def run_snapshot(steps: list[StepState] | None = None, **fields: Any) -> ProtocolRunSnapshot:
    values: dict[str, Any] = {"id": 1, "protocol_name": "0001-demo", "status": "pending", "base_branch": "main"}
    return ProtocolRunSnapshot(**{**values, **fields}, steps=list(steps or []))


def run_options(**fields: Any) -> RunOptions:
    """Options for tests: an activity that fails is not retried unless a test asks for it."""
    return RunOptions(**{"activity_max_attempts": 1, **fields})


def run_input(*, steps: list[StepState] | None = None, project: ProjectSnapshot | None = None,
              options: RunOptions | None = None, **run_fields: Any) -> ProtocolRunInput:
    return ProtocolRunInput(project=project or project_snapshot(), run=run_snapshot(steps, **run_fields),
                            options=options or run_options())


def ci_report(outcome: str, **fields: Any) -> CiReport:
    values: dict[str, Any] = {"source": "github", "event_name": "check_run", "status": outcome}
    return CiReport(outcome=outcome, **{**values, **fields})


# --- database rows (tests with the session ``stack``) ---------------------------------------------


async def add_row(sessions, row):
    """Insert ``row`` in its own transaction and return it with its id."""
    async with sessions() as session:
        session.add(row)
        await session.commit()
        await session.refresh(row)
        return row


async def project_row(sessions, **fields: Any) -> Project:
    return await add_row(sessions, Project(**{"name": "demo", "git_url": "/nowhere", "base_branch": "main",
                                              **fields}))


async def protocol_run_row(sessions, project: Project | None = None, name: str = "0001-demo",
                           **fields: Any) -> ProtocolRun:
    """A protocol run (``running`` unless told), in a new project unless one is given."""
    project = project or await project_row(sessions)
    return await add_row(sessions, ProtocolRun(**{"project_id": project.id, "protocol_name": name,
                                                  "status": "running", "base_branch": "main", **fields}))


async def step_run_row(sessions, run: ProtocolRun, index: int = 0, status: str = "running",
                       **fields: Any) -> StepRun:
    return await add_row(sessions, StepRun(**{"protocol_run_id": run.id, "step_index": index,
                                              "step_name": f"{index:02d}-step.md", "status": status, **fields}))


async def events_of(sessions, run_id: int) -> list[Event]:
    """A run's events, oldest first."""
    async with sessions() as session:
        query = select(Event).where(Event.protocol_run_id == run_id).order_by(col(Event.id))
        return list((await session.exec(query)).all())
