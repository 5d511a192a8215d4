"""Failures and policies: a failing step, an exhausted job, loop and trigger policies, auto-QA,
CI results, and a long run continuing as new without losing its state."""

from __future__ import annotations

import shutil

from models.protocols.workflow_io import CiOutcome, CiReport, Signal, protocol_run_workflow_id
from tests.e2e.protocols.support import (
    add_step,
    create_project,
    create_run,
    event_types,
    status_of,
    step_file,
    step_statuses,
    with_execution,
)
from tests.support import settle


async def planned_run(api, temporal_client, tmp_path, files, name="0001-demo", **project_fields):
    remote, project = await create_project(api, tmp_path, files, **project_fields)
    run = await create_run(api, project["id"], name=name)
    await api.post(f"/protocols/{run['id']}/actions/start")
    assert await settle(temporal_client, run["id"]) == "planned"
    return remote, run


async def test_failing_step_blocks_the_protocol_and_retry_runs_it_again(api, worker, temporal_client, tmp_path):
    files = {".protocols/0001-demo/01-flaky.md": step_file(
        'if [ ! -f .second-try ]; then touch ../flaky-marker-$$ 2>/dev/null; echo "boom" >&2; exit 3; fi\n'
        'echo ok > done.txt')}
    _, run = await planned_run(api, temporal_client, tmp_path, files)
    rid = run["id"]
    await api.post(f"/protocols/{rid}/actions/run_next_step")
    await settle(temporal_client, rid)
    assert await status_of(api, rid) == "blocked" and await step_statuses(api, rid) == ["failed"]
    failed = (await api.get(f"/protocols/{rid}/events")).json()[0]
    assert failed["event_type"] == "step_failed" and "exited with code 3" in failed["message"]
    output = (await api.get(f"/steps/{failed['step_run_id']}/artifacts")).json()[0]
    assert output["exit_code"] == 3 and "boom" in output["content"]

    retried = await api.post(f"/protocols/{rid}/actions/retry_latest")
    assert retried.status_code == 200 and retried.json()["job"]["type"] == "execute_step_job"
    await settle(temporal_client, rid)
    step = (await api.get(f"/protocols/{rid}/steps")).json()[0]
    assert step["retries"] == 1 and step["status"] == "failed"  # the script fails the same way again
    assert (await event_types(api, rid)).count("step_retried") == 1


async def test_an_exhausted_job_fails_the_step_with_job_failed(api, settings, api_factory, worker, temporal_client,
                                                               tmp_path):
    quick = with_execution(settings, activity_max_attempts=1)
    async with api_factory(quick) as api:
        remote, run = await planned_run(api, temporal_client, tmp_path,
                                        {".protocols/0001-demo/01.md": step_file("echo hi > a.txt")})
        shutil.rmtree(remote)  # the remote disappears: the step cannot fetch
        await api.post(f"/protocols/{run['id']}/actions/run_next_step")
        await settle(temporal_client, run["id"])
        assert await status_of(api, run["id"]) == "blocked"
        assert await step_statuses(api, run["id"]) == ["failed"]
        last = (await api.get(f"/protocols/{run['id']}/events")).json()[0]
        assert last["event_type"] == "job_failed" and "cannot fetch" in last["message"]
        assert last["metadata"]["job"] == "execute_step_job"


async def test_qa_failure_blocks_and_auto_qa_runs_after_execution(api, settings, api_factory, worker,
                                                                  temporal_client, tmp_path):
    auto = with_execution(settings, auto_qa_after_exec=True)
    files = {".protocols/0001-demo/01.md": step_file("echo one > a.txt", qa="grep -q one a.txt"),
             ".protocols/0001-demo/02.md": step_file("echo two > b.txt", qa="grep -q three b.txt")}
    async with api_factory(auto) as api:
        _, run = await planned_run(api, temporal_client, tmp_path, files)
        rid = run["id"]
        await api.post(f"/protocols/{rid}/actions/run_next_step")
        await settle(temporal_client, rid)
        assert await step_statuses(api, rid) == ["completed", "pending"]
        await api.post(f"/protocols/{rid}/actions/run_next_step")
        await settle(temporal_client, rid)
        assert await step_statuses(api, rid) == ["completed", "failed"]
        assert await status_of(api, rid) == "blocked"
        assert (await event_types(api, rid))[-1] == "qa_failed"


async def test_project_qa_command_is_used_when_the_step_has_no_qa_block(api, worker, temporal_client, tmp_path):
    files = {".protocols/0001-demo/01.md": step_file("echo hi > a.txt")}
    _, run = await planned_run(api, temporal_client, tmp_path, files, qa_command="test -f a.txt && exit 7")
    rid = run["id"]
    step_id = (await api.get(f"/protocols/{rid}/steps")).json()[0]["id"]
    await api.post(f"/protocols/{rid}/actions/run_next_step")
    await settle(temporal_client, rid)
    await api.post(f"/steps/{step_id}/actions/run_qa")
    await settle(temporal_client, rid)
    qa = (await api.get(f"/protocols/{rid}/events")).json()[0]
    assert qa["event_type"] == "qa_failed" and qa["metadata"]["exit_code"] == 7


async def test_loop_policy_steps_back_until_max_iterations(api, settings, api_factory, worker, temporal_client,
                                                           tmp_path):
    auto = with_execution(settings, auto_qa_after_exec=True)
    loop = '---\nengine_id: script\npolicy: {type: loop, step_back: 1, max_iterations: 2}\n---\n'
    files = {".protocols/0001-demo/01-build.md": step_file("echo build >> log.txt"),
             ".protocols/0001-demo/02-check.md": loop + "```sh\nexit 1\n```\n"}
    async with api_factory(auto) as api:
        _, run = await planned_run(api, temporal_client, tmp_path, files)
        rid = run["id"]
        await api.post(f"/protocols/{rid}/actions/run_next_step")
        await settle(temporal_client, rid)
        for _ in range(3):  # check fails → loop resets build+check and re-runs build; then check again
            assert (await api.post(f"/protocols/{rid}/actions/run_next_step")).status_code == 200
            await settle(temporal_client, rid)
        types = await event_types(api, rid)
        assert types.count("loop_policy_applied") == 2 and types.count("loop_policy_exhausted") == 1
        assert await status_of(api, rid) == "blocked"
        check = (await api.get(f"/protocols/{rid}/steps")).json()[1]
        assert (await api.get(f"/protocols/{rid}")).json()["runtime_state"]["loop_counts"] == {str(check["id"]): 2}


async def test_trigger_policy_runs_the_named_agent_inline(api, settings, api_factory, worker, temporal_client,
                                                          tmp_path):
    auto = with_execution(settings, auto_qa_after_exec=True)
    async with api_factory(auto) as api:
        remote, project = await create_project(api, tmp_path, {
            ".protocols/0001-demo/a.md": step_file("echo a >> t.txt"),
            ".protocols/0001-demo/b.md": step_file("echo b >> t.txt"),
            ".protocols/0001-demo/c.md": step_file("echo c >> t.txt")})
        run = await create_run(api, project["id"])
        rid = run["id"]
        await add_step(api, rid, 0, "a.md", engine_id="script", runtime_state={"agent_id": "writer"},
                       policy={"type": "trigger", "agent_id": "reviewer"})
        await add_step(api, rid, 1, "b.md", engine_id="script", runtime_state={"agent_id": "other"})
        await add_step(api, rid, 2, "c.md", engine_id="script", runtime_state={"agent_id": "reviewer"})
        await api.post(f"/protocols/{rid}/actions/run_next_step")
        await settle(temporal_client, rid)
        assert await step_statuses(api, rid) == ["completed", "pending", "completed"]
        applied = [e for e in (await api.get(f"/protocols/{rid}/events")).json()
                   if e["event_type"] == "trigger_policy_applied"]
        assert len(applied) == 1 and applied[0]["metadata"]["depth"] == 1
        state = (await api.get(f"/protocols/{rid}")).json()["runtime_state"]
        assert state["triggers"][0]["depth"] == 1


async def test_ci_reports_move_the_latest_step(api, worker, temporal_client, tmp_path):
    _, run = await planned_run(api, temporal_client, tmp_path,
                               {".protocols/0001-demo/01.md": step_file("echo 1 > a.txt")})
    rid = run["id"]
    await api.post(f"/protocols/{rid}/actions/run_next_step")
    await settle(temporal_client, rid)
    handle = temporal_client.get_workflow_handle(protocol_run_workflow_id(rid))

    async def report(outcome: str, status: str, delivery: str) -> None:
        await handle.signal(Signal.CI_REPORT, CiReport(outcome=outcome, source="github", event_name="check_run",
                                                        status=status, delivery_id=delivery))
        await settle(temporal_client, rid)

    await report(CiOutcome.RUNNING, "in_progress", "d-1")
    assert await step_statuses(api, rid) == ["running"]
    await report(CiOutcome.FAILURE, "failure", "d-2")
    assert await step_statuses(api, rid) == ["failed"] and await status_of(api, rid) == "blocked"
    await report(CiOutcome.FAILURE, "failure", "d-2")  # the same delivery again: ignored
    assert (await event_types(api, rid)).count("ci_failed") == 1
    await report(CiOutcome.SUCCESS, "success", "d-3")
    assert await step_statuses(api, rid) == ["completed"]
    await handle.signal(Signal.CI_REPORT, CiReport(outcome=CiOutcome.MERGED, source="github",
                                                   event_name="pull_request", status="merged", delivery_id="d-4"))
    assert await settle(temporal_client, rid) == "completed"
    assert await status_of(api, rid) == "completed"
    assert (await event_types(api, rid))[-2:] == ["pr_merged", "protocol_completed"]


async def test_long_runs_continue_as_new_and_keep_their_state(api, settings, api_factory, worker, temporal_client,
                                                              tmp_path):
    short = with_execution(settings, history_limit=50)
    async with api_factory(short) as api:
        _, project = await create_project(api, tmp_path)
        run = await create_run(api, project["id"])
        rid = run["id"]
        steps = [await add_step(api, rid, i) for i in range(3)]
        for _ in range(6):
            assert (await api.post(f"/protocols/{rid}/actions/pause")).status_code == 200
            assert (await api.post(f"/protocols/{rid}/actions/resume")).status_code == 200
        assert await continued_as_new(temporal_client, rid)
        # The state crossed over: the steps are still known and the run is still running.
        assert (await api.post(f"/steps/{steps[0]['id']}/actions/approve")).status_code == 200
        assert await step_statuses(api, rid) == ["completed", "pending", "pending"]
        # The link opens the execution that wrote the run last: one the run continued into, which approved the step.
        wrote = (await api.get(f"/protocols/{rid}")).json()["workflow_url"].rsplit("/", 1)[1]
        assert wrote != run["workflow_url"].rsplit("/", 1)[1]
        history = temporal_client.get_workflow_handle(run["workflow_id"], run_id=wrote).fetch_history_events()
        assert "step_approve" in [event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
                                  async for event in history]
        assert (await api.post(f"/protocols/{rid}/actions/resume")).status_code == 409  # running, not paused
        assert (await api.post(f"/protocols/{rid}/steps",
                               json={"step_index": 1, "step_name": "dup"})).status_code == 409


async def continued_as_new(temporal_client, rid: int) -> bool:
    """Whether the run's current workflow execution was started by continue-as-new."""
    handle = temporal_client.get_workflow_handle(protocol_run_workflow_id(rid))
    async for event in handle.fetch_history_events():
        return bool(event.workflow_execution_started_event_attributes.continued_execution_run_id)
    return False


async def test_imported_codemachine_steps_run_their_agent_prompt(api, worker, temporal_client, tmp_path):
    import json

    from tests.support import git

    workspace = tmp_path / "workspace"
    (workspace / ".codemachine").mkdir(parents=True)
    (workspace / "prompts").mkdir()
    (workspace / "prompts" / "build.md").write_text(step_file("echo built > built.txt"))
    (workspace / ".codemachine" / "workflow.json").write_text(json.dumps({
        "agents": [{"id": "builder", "engine": "script", "prompt": "prompts/build.md"}],
        "steps": [{"agent": "builder", "name": "build"}]}))
    remote, project = await create_project(api, tmp_path)
    imported = await api.post(f"/projects/{project['id']}/codemachine/import",
                              json={"protocol_name": "cm-build", "workspace_path": str(workspace)})
    assert imported.status_code == 200, imported.text
    rid = imported.json()["protocol_run"]["id"]
    await api.post(f"/protocols/{rid}/actions/run_next_step")
    await settle(temporal_client, rid)
    assert await step_statuses(api, rid) == ["needs_qa"]
    assert git("show", "refs/heads/cm-build:built.txt", cwd=remote) == "built"
    assert "prompt" not in git("ls-tree", "-r", "--name-only", "refs/heads/cm-build", cwd=remote)


async def test_cancel_stops_a_running_step(api, worker, temporal_client, tmp_path, shared_with_steps):
    import asyncio
    import os

    started, hold = shared_with_steps / "started.fifo", shared_with_steps / "hold.fifo"
    os.mkfifo(started)
    os.mkfifo(hold)
    script = f"echo started > {started}\ncat {hold}\necho late > late.txt"
    files = {".protocols/0001-demo/01-hang.md": step_file(script)}
    remote, run = await planned_run(api, temporal_client, tmp_path, files)
    rid = run["id"]
    await api.post(f"/protocols/{rid}/actions/run_next_step")

    def read_started() -> str:
        with open(started) as fifo:
            return fifo.read()

    assert (await asyncio.wait_for(asyncio.to_thread(read_started), 60)).strip() == "started"
    cancelled = await api.post(f"/protocols/{rid}/actions/cancel")
    assert cancelled.status_code == 200
    assert await settle(temporal_client, rid) == "cancelled"  # the cancelled work ended cleanly, nothing failed
    assert await status_of(api, rid) == "cancelled" and await step_statuses(api, rid) == ["cancelled"]
    from tests.support import git

    assert "0001-demo" not in git("branch", "--list", cwd=remote)  # nothing was pushed
