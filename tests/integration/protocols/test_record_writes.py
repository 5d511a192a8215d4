"""Which database errors a records write retries: data Postgres refuses never, a lost database always."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError
from temporalio.exceptions import ApplicationError

from activities.protocols.records import RecordActivities
from capstan.db import SessionFactory, create_engine, create_session_factory, session_scope
from capstan.devstack.ports import free_port
from capstan.settings import DatabaseSettings
from integrations.stores.artifacts import ArtifactStore
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun
from models.protocols.workflow_io import EventRecord, NewStep, RunRecordsWrite, UpdateErrorType
from models.protocols.workspace_io import CreateStepsWrite


@pytest.fixture
def sessions(db_engine, clean_tables) -> SessionFactory:
    return create_session_factory(db_engine)


async def new_run(sessions: SessionFactory) -> tuple[int, int]:
    async with session_scope(sessions) as session:
        project = Project(name="p", git_url="/nowhere")
        session.add(project)
        await session.flush()
        run = ProtocolRun(project_id=project.id, protocol_name="0001-demo")
        session.add(run)
        await session.flush()
        return project.id, run.id


def assert_refused(error: ApplicationError, reason: str) -> None:
    assert error.type == UpdateErrorType.RECORD_REJECTED and error.non_retryable
    assert error.message.startswith("the database refused the record: ") and reason in error.message
    assert error.__cause__ is None  # the driver's error quotes the statement's parameters


@pytest.mark.parametrize(("step", "reason"), [
    (NewStep(step_index=2**31, step_name="huge"), "integer out of range"),
    (NewStep(step_index=2**70, step_name="huger"), "out of range"),
    (NewStep(step_index=1, step_name="x" * 201), "value too long"),
    (NewStep(step_index=1, step_name="nul\x00"), "NUL"),
    (NewStep(step_index=1, step_name="lone \udc00"), "surrogates not allowed"),
    (NewStep(step_index=1, step_name="nan", runtime_state={"x": float("nan")}), "invalid input syntax for type json"),
    (NewStep(step_index=1, step_name="json-nul", policy={"x": "\x00"}), "unsupported Unicode escape sequence"),
])
async def test_data_postgres_refuses_fails_the_step_write_for_good(sessions, step, reason):
    project_id, run_id = await new_run(sessions)
    with pytest.raises(ApplicationError) as refused:
        await RecordActivities(sessions).create_step_runs(
            CreateStepsWrite(project_id=project_id, protocol_run_id=run_id,
                             steps=[NewStep(step_index=0, step_name="fine"), step]))
    assert_refused(refused.value, reason)
    assert "\x00" not in refused.value.message and "CONTEXT" not in refused.value.message
    assert await RecordActivities(sessions).create_step_runs(  # nothing of the refused write was kept
        CreateStepsWrite(project_id=project_id, protocol_run_id=run_id, steps=[])) == []


async def test_a_violated_constraint_fails_the_records_write_for_good(sessions):
    project_id, _ = await new_run(sessions)
    with pytest.raises(ApplicationError) as refused:
        await RecordActivities(sessions).write_run_records(
            RunRecordsWrite(project_id=project_id, protocol_run_id=10**9,
                            events=[EventRecord(event_type="x", message="for a run that does not exist")]))
    assert_refused(refused.value, "foreign key")


async def test_an_artifact_postgres_refuses_fails_for_good(sessions):
    _, run_id = await new_run(sessions)
    with pytest.raises(ApplicationError) as refused:
        await ArtifactStore(sessions).save(protocol_run_id=run_id, step_run_id=None, kind="engine_output",
                                           name="n" * 301, content="out", exit_code=0, dedupe_key="k")
    assert_refused(refused.value, "value too long")


async def test_an_unreachable_database_stays_retryable():
    engine = create_engine(DatabaseSettings(url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"))
    try:
        with pytest.raises(OperationalError):
            await RecordActivities(create_session_factory(engine)).write_run_records(
                RunRecordsWrite(project_id=1, protocol_run_id=1, protocol_status="running"))
    finally:
        await engine.dispose()
