"""Every protocol and step action: allowed moves, 409 conflicts, 404s, and what they record."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.e2e.protocols.support import add_step, create_project, create_run, event_types, status_of, step_statuses
from tests.e2e.protocols.test_queues import eventually
from tests.support import settle


@pytest.fixture
async def run(api, worker, tmp_path):
    _, project = await create_project(api, tmp_path)
    return await create_run(api, project["id"])


async def act(api, run_id: int, action: str):
    return await api.post(f"/protocols/{run_id}/actions/{action}")


async def test_create_run_answers_with_the_run(api, tmp_path, settings, temporal_client):
    _, project = await create_project(api, tmp_path)
    run = await create_run(api, project["id"], description="d", protocol_root="ops/steps",
                           template_config={"k": 1}, base_branch="main")
    assert run["status"] == "pending" and run["protocol_root"] == "ops/steps" and run["template_config"] == {"k": 1}
    execution = (await temporal_client.get_workflow_handle(run["workflow_id"]).describe()).run_id
    assert run["workflow_url"].endswith(f"/workflows/protocol-run-{run['id']}/{execution}")  # workflow and run id
    listed = (await api.get(f"/projects/{project['id']}/protocols")).json()
    assert [r["protocol_name"] for r in listed] == [f"setup-{project['id']}", "0001-demo"]


@pytest.mark.parametrize("body", [
    {"protocol_name": "x", "status": "exploded"},
    {"protocol_name": "has space"},
    {"protocol_name": "a..b"},
    {"protocol_name": "ok", "protocol_root": "../outside"},
    {"protocol_name": "ok", "protocol_root": "/etc"},
    {"protocol_name": 7},
    {},
])
async def test_bad_run_bodies_are_400_and_create_nothing(api, tmp_path, body):
    _, project = await create_project(api, tmp_path)
    response = await api.post(f"/projects/{project['id']}/protocols", json=body)
    assert response.status_code == 400, response.text
    assert len((await api.get(f"/projects/{project['id']}/protocols")).json()) == 1  # only the setup run


async def test_unknown_ids_are_404_on_every_route(api):
    for path in ("/projects/999999/protocols", "/protocols/999999/actions/start",
                 "/protocols/999999/actions/cancel", "/protocols/999999/steps", "/steps/999999/actions/run",
                 "/steps/999999/actions/approve", "/steps/999999/actions/run_qa"):
        response = await api.post(path, json={"protocol_name": "x", "step_index": 0, "step_name": "s"})
        assert response.status_code == 404, (path, response.text)
    for path in ("/protocols/999999", "/protocols/999999/steps", "/protocols/999999/events", "/steps/999999",
                 "/steps/999999/artifacts"):
        assert (await api.get(path)).status_code == 404, path


async def test_pause_resume_rules(api, run):
    rid = run["id"]
    assert (await act(api, rid, "resume")).status_code == 409  # pending is not paused
    paused = await act(api, rid, "pause")
    assert paused.status_code == 200 and paused.json() == {"message": "Protocol paused", "job": None}
    assert await status_of(api, rid) == "paused"
    assert (await act(api, rid, "resume")).status_code == 200
    assert await status_of(api, rid) == "running"
    conflict = await act(api, rid, "resume")
    assert conflict.status_code == 409 and conflict.json()["error"] == "conflict"
    assert "running" in conflict.json()["detail"]
    assert await event_types(api, rid) == ["protocol_paused", "protocol_resumed"]


async def test_cancel_is_idempotent_and_final(api, run):
    rid = run["id"]
    first = await add_step(api, rid, 0)
    second = await add_step(api, rid, 1)
    assert (await act(api, rid, "cancel")).json()["message"] == "Protocol cancelled"
    assert await status_of(api, rid) == "cancelled"
    assert await step_statuses(api, rid) == ["cancelled", "cancelled"]
    again = await act(api, rid, "cancel")
    assert again.status_code == 200 and again.json()["message"] == "Protocol already cancelled"
    for action in ("pause", "resume", "start", "run_next_step", "retry_latest", "open_pr"):
        assert (await act(api, rid, action)).status_code == 409, action
    # Approving a cancelled step is a conflict (the original allowed it).
    assert (await api.post(f"/steps/{first['id']}/actions/approve")).status_code == 409
    assert (await api.post(f"/steps/{second['id']}/actions/run")).status_code == 409
    assert (await event_types(api, rid)).count("protocol_cancelled") == 1


async def test_no_eligible_step_is_404(api, run):
    rid = run["id"]
    response = await act(api, rid, "run_next_step")
    assert response.status_code == 404 and "no pending" in response.json()["detail"]
    assert (await act(api, rid, "retry_latest")).status_code == 404
    assert await status_of(api, rid) == "pending"


async def test_approving_every_step_completes_the_protocol(api, run):
    rid = run["id"]
    steps = [await add_step(api, rid, i) for i in range(2)]
    first = await api.post(f"/steps/{steps[0]['id']}/actions/approve")
    assert first.status_code == 200 and first.json()["job"] is None
    assert await status_of(api, rid) == "pending"
    await api.post(f"/steps/{steps[1]['id']}/actions/approve")
    assert await status_of(api, rid) == "completed"
    assert await step_statuses(api, rid) == ["completed", "completed"]
    types = await event_types(api, rid)
    assert types.count("manual_approval") == 2 and types[-1] == "protocol_completed"
    # Actions the finished run's record refuses answer from the record.
    assert (await act(api, rid, "pause")).status_code == 409
    assert (await api.post(f"/steps/{steps[0]['id']}/actions/run")).status_code == 409
    assert (await api.post(f"/steps/{steps[0]['id']}/actions/run_qa")).status_code == 409


async def test_an_action_on_a_completed_run_starts_no_second_execution(api, run, temporal_client):
    """The quickstart's case: ``pause`` on a completed run is a 409 saying its status, the run keeps the one
    workflow execution that did its work, and its ``workflow_url`` opens that execution."""
    rid, workflow_id = run["id"], run["workflow_id"]
    step = await add_step(api, rid, 0)
    assert (await api.post(f"/steps/{step['id']}/actions/approve")).status_code == 200
    assert await status_of(api, rid) == "completed"

    paused = await act(api, rid, "pause")
    assert paused.status_code == 409, paused.text
    assert (paused.json()["error"], paused.json()["detail"]) == ("conflict", "cannot pause a protocol run that is "
                                                                             "completed")
    assert (await api.post(f"/steps/{step['id']}/actions/run")).status_code == 409
    assert (await act(api, rid, "open_pr")).status_code == 200  # what a completed run still takes, it takes there

    current = await temporal_client.get_workflow_handle(workflow_id).describe()  # the latest execution, not visibility

    async def executions() -> list[str]:
        return [e.run_id async for e in temporal_client.list_workflows(f"WorkflowId = '{workflow_id}'")]

    listed = await eventually(executions, lambda found: bool(found))  # visibility trails a moment
    url = (await api.get(f"/protocols/{rid}")).json()["workflow_url"]
    assert url.endswith(f"/workflows/{workflow_id}/{current.run_id}")
    assert listed == [current.run_id] and current.status == WorkflowExecutionStatus.RUNNING
    work = [event async for event in temporal_client.get_workflow_handle(workflow_id, run_id=current.run_id)
            .fetch_history_events()]
    accepted = [e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name for e in work
                if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert "step_approve" in accepted and "open_pr" in accepted  # the execution the url opens did the work


async def test_steps_are_created_through_the_workflow(api, run):
    rid = run["id"]
    step = await add_step(api, rid, 3, "write-docs", step_type="docs", model="m", engine_id="command",
                          policy={"type": "loop", "step_back": 1, "max_iterations": 2})
    assert step["status"] == "pending" and step["retries"] == 0 and step["engine_id"] == "command"
    assert (await api.get(f"/steps/{step['id']}")).json() == step
    duplicate = await api.post(f"/protocols/{rid}/steps", json={"step_index": 3, "step_name": "again"})
    assert duplicate.status_code == 409
    bad_policy = await api.post(f"/protocols/{rid}/steps",
                                json={"step_index": 4, "step_name": "x", "policy": {"type": "teleport"}})
    assert bad_policy.status_code == 400 and "policy" in bad_policy.text
    bad_status = await api.post(f"/protocols/{rid}/steps", json={"step_index": 4, "step_name": "x",
                                                                 "status": "exploded"})
    assert bad_status.status_code == 400
    negative = await api.post(f"/protocols/{rid}/steps", json={"step_index": -1, "step_name": "x"})
    assert negative.status_code == 400
    assert len((await api.get(f"/protocols/{rid}/steps")).json()) == 1


async def test_start_plans_zero_steps_when_there_are_no_step_files(api, worker, temporal_client, run):
    rid = run["id"]
    response = await act(api, rid, "start")
    assert response.status_code == 200
    job = response.json()["job"]
    assert job["type"] == "plan_protocol_job" and job["workflow_id"] == f"protocol-run-{rid}"
    assert job["url"].endswith(f"/workflows/protocol-run-{rid}/{job['run_id']}")
    assert await settle(temporal_client, rid) == "planned"
    planned = (await api.get(f"/protocols/{rid}/events")).json()[0]
    assert planned["event_type"] == "protocol_planned"
    assert planned["message"] == "No step files in .protocols/0001-demo; planned 0 steps"
    assert (await act(api, rid, "start")).status_code == 200  # planned → start again is allowed
    await settle(temporal_client, rid)


async def test_an_action_without_any_worker_is_a_clear_503(settings, api_factory, tmp_path):
    from capstan.settings import TemporalSettings

    impatient = type(settings)(**{**vars(settings), "temporal": TemporalSettings(
        address=settings.temporal.address, task_queue=settings.temporal.task_queue, update_timeout_seconds=1)})
    async with api_factory(impatient) as api:
        _, project = await create_project(api, tmp_path)
        run = await create_run(api, project["id"])
        response = await act(api, run["id"], "pause")
        assert response.status_code == 503 and response.json()["error"] == "no_worker"
        assert response.headers["Retry-After"].isdigit()
        assert await status_of(api, run["id"]) == "pending"


async def test_bearer_and_project_tokens_guard_actions(settings, api_factory, worker, tmp_path):
    from capstan.settings import ApiSettings

    secured = type(settings)(**{**vars(settings), "api": ApiSettings(api_token="b3arer")})
    bearer = {"Authorization": "Bearer b3arer"}
    async with api_factory(secured) as api:
        remote_files = {"README.md": "x"}
        from tests.support import make_bare_remote

        remote = make_bare_remote(tmp_path, remote_files)
        project = (await api.post("/projects", headers=bearer, json={
            "name": "p", "git_url": str(remote), "secrets": {"api_token": "pr0ject"}})).json()
        assert (await api.post(f"/projects/{project['id']}/protocols", headers=bearer,
                               json={"protocol_name": "x"})).status_code == 401
        both = {**bearer, "X-Project-Token": "pr0ject"}
        run = (await api.post(f"/projects/{project['id']}/protocols", headers=both,
                              json={"protocol_name": "x"})).json()
        assert (await api.post(f"/protocols/{run['id']}/actions/pause")).status_code == 401
        assert (await api.post(f"/protocols/{run['id']}/actions/pause", headers=bearer)).status_code == 401
        assert (await api.post(f"/protocols/{run['id']}/actions/pause",
                               headers={**bearer, "X-Project-Token": "nope"})).status_code == 401
        assert (await api.post(f"/protocols/{run['id']}/actions/pause", headers=both)).status_code == 200
        step = (await api.post(f"/protocols/{run['id']}/steps", headers=both,
                               json={"step_index": 0, "step_name": "s"})).json()
        assert (await api.get(f"/steps/{step['id']}", headers=bearer)).status_code == 401
        assert (await api.get(f"/steps/{step['id']}", headers=both)).status_code == 200
        assert (await api.get(f"/protocols/{run['id']}", headers=both)).json()["status"] == "paused"


async def test_ids_beyond_the_integer_range_are_404(api):
    huge = 2**40
    for path in (f"/projects/{huge}", f"/protocols/{huge}", f"/steps/{huge}", f"/protocols/{huge}/steps"):
        assert (await api.get(path)).status_code == 404, path
    assert (await api.post(f"/protocols/{huge}/actions/pause")).status_code == 404


async def test_setup_runs_take_no_actions_and_no_ci_results(api, worker, temporal_client, tmp_path):
    from models.protocols.workflow_io import project_setup_workflow_id
    from tests.support import workflow_result

    _, project = await create_project(api, tmp_path)
    await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))
    setup = (await api.get(f"/projects/{project['id']}/protocols")).json()[0]
    for action in ("start", "pause", "cancel"):
        response = await act(api, setup["id"], action)
        assert response.status_code == 409 and response.json()["error"] == "setup_run", action
    assert await status_of(api, setup["id"]) == "completed"
    hook = await api.post("/webhooks/github", json={"ref": f"refs/heads/{setup['protocol_name']}",
                                                   "state": "success", "branches": [{"name": setup['protocol_name']}]},
                          headers={"X-GitHub-Event": "status"})
    assert hook.status_code == 404


async def test_an_action_after_the_workflow_was_terminated_restarts_it_from_the_records(api, run, temporal_client):
    """An operator may terminate a run's workflow in the Web UI; the records stay the truth."""
    rid = run["id"]
    assert (await act(api, rid, "pause")).status_code == 200
    handle = temporal_client.get_workflow_handle(run["workflow_id"])
    await handle.terminate("operator stopped it")

    resumed = await act(api, rid, "resume")  # allowed only from paused: the state came from the records
    assert resumed.status_code == 200, resumed.text
    assert (await act(api, rid, "resume")).status_code == 409
    assert await status_of(api, rid) == "running"
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING  # a new workflow run
    assert await event_types(api, rid) == ["protocol_paused", "protocol_resumed"]
