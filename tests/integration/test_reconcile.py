"""A setup whose workflow start was lost (API killed after the commit) is started later, once."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType

from api.protocols.services.reconcile import start_lost_setups
from capstan.db import create_session_factory, session_scope
from models.common.base import utcnow
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun
from models.protocols.workflow_io import project_setup_workflow_id
from tests.support import make_git_repo, workflow_result


async def test_lost_setup_starts_are_recovered_once(settings, db_engine, worker, temporal_client, tmp_path):
    sessions = create_session_factory(db_engine)
    async with session_scope(sessions) as session:  # what create_project commits before starting the workflow
        project = Project(name="lost", git_url=str(make_git_repo(tmp_path / "repo")))
        session.add(project)
        await session.flush()
        session.add(ProtocolRun(project_id=project.id, protocol_name=f"setup-{project.id}",
                                workflow_id=project_setup_workflow_id(project.id),
                                created_at=utcnow() - timedelta(minutes=1)))
        fresh = Project(name="just-created", git_url="/nowhere")
        session.add(fresh)
        await session.flush()
        session.add(ProtocolRun(project_id=fresh.id, protocol_name=f"setup-{fresh.id}",
                                workflow_id=project_setup_workflow_id(fresh.id)))
    assert await start_lost_setups(sessions, temporal_client, settings) == 1  # the fresh one is in its grace period
    result = await workflow_result(temporal_client, project_setup_workflow_id(project.id))
    assert result["status"] == "completed"
    assert await start_lost_setups(sessions, temporal_client, settings) == 0  # no longer pending
    history = await temporal_client.get_workflow_handle(project_setup_workflow_id(project.id)).fetch_history()
    starts = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED]
    assert len(starts) == 1
