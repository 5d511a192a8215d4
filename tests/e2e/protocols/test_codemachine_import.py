"""CodeMachine import over HTTP, on real Postgres and Temporal: both modes, every refusal, and auth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from capstan.settings import ApiSettings, Settings
from models.protocols.event import Event
from models.protocols.protocol import ProtocolRun, StepRun
from models.protocols.settings import ExecutionSettings
from tests.support import assert_error, make_git_repo, settle

CONFIG: dict[str, Any] = {
    "name": "feature-x",
    "agents": [
        {"id": "planner", "name": "Planner", "engine": "script", "model": "m-large", "prompt": "prompts/plan.md"},
        {"id": "coder", "engine": "command", "prompt": "prompts/code.md"},
        {"id": "reviewer", "name": "Reviewer"},
    ],
    "steps": [
        {"agent": "planner", "name": "plan"},
        {"agent": "coder", "trigger": {"agent": "reviewer"}},
        {"agent": "reviewer", "type": "qa", "loop": {"step_back": 1, "max_iterations": 3}},
    ],
}


def make_workspace(path: Path, config: Any = CONFIG) -> Path:
    (path / ".codemachine").mkdir(parents=True)
    (path / "prompts").mkdir()
    for name in ("plan.md", "code.md"):
        (path / "prompts" / name).write_text(f"# {name}\n")
    (path / ".codemachine" / "workflow.json").write_text(json.dumps(config))
    return path


async def create_project(api, tmp_path: Path, **extra: Any) -> int:
    response = await api.post("/projects", json={"name": "demo", "git_url": str(tmp_path / "repo"), **extra})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def import_body(workspace: Path, **extra: Any) -> dict[str, Any]:
    return {"protocol_name": "feature-x", "workspace_path": str(workspace), **extra}


async def db_rows(db_engine, model, *where) -> list:
    async with AsyncSession(db_engine) as session:
        return list((await session.exec(select(model).where(*where).order_by(col(model.id)))).all())


async def imported_runs(db_engine) -> list[ProtocolRun]:
    """Protocol runs other than the projects' setup runs."""
    return [r for r in await db_rows(db_engine, ProtocolRun) if not r.protocol_name.startswith("setup-")]


# --- enqueue=false --------------------------------------------------------------------------------

async def test_import_now_plans_the_run_with_its_steps_and_an_event(api, db_engine, tmp_path):
    project_id = await create_project(api, tmp_path)
    workspace = make_workspace(tmp_path / "ws")
    response = await api.post(f"/projects/{project_id}/codemachine/import",
                              json=import_body(workspace, base_branch="develop", description="from CM"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"protocol_run", "job", "message"}
    assert body["job"] is None and "3 steps" in body["message"]
    run = body["protocol_run"]
    assert run["status"] == "planned" and run["project_id"] == project_id
    assert run["protocol_name"] == "feature-x" and run["base_branch"] == "develop" and run["description"] == "from CM"
    assert run["workflow_id"] == f"protocol-run-{run['id']}"
    assert run["template_source"] == {"kind": "codemachine", "workspace_path": str(workspace.resolve()),
                                      "config_file": ".codemachine/workflow.json",
                                      "config": {**CONFIG, "steps": [{"type": "execute", **s} if "type" not in s
                                                                     else s for s in CONFIG["steps"]]}}
    assert (await api.get(f"/protocols/{run['id']}")).json()["status"] == "planned"

    steps = await db_rows(db_engine, StepRun, StepRun.protocol_run_id == run["id"])
    assert [(s.step_index, s.step_name, s.step_type, s.status) for s in steps] == [
        (0, "plan", "execute", "pending"), (1, "coder", "execute", "pending"), (2, "reviewer", "qa", "pending")]
    assert [(s.engine_id, s.model, s.summary) for s in steps] == [
        ("script", "m-large", "Planner"), ("command", None, None), (None, None, "Reviewer")]
    assert [s.policy for s in steps] == [
        None, [{"type": "trigger", "agent_id": "reviewer"}],
        [{"type": "loop", "step_back": 1, "max_iterations": 3}]]
    assert [s.runtime_state for s in steps] == [
        {"agent_id": "planner", "prompt_path": "prompts/plan.md", "prompt": "# plan.md\n"},
        {"agent_id": "coder", "prompt_path": "prompts/code.md", "prompt": "# code.md\n"},
        {"agent_id": "reviewer"}]

    events = (await api.get(f"/protocols/{run['id']}/events")).json()
    assert [e["event_type"] for e in events] == ["codemachine_imported"]
    assert "3 steps" in events[0]["message"] and events[0]["project_id"] == project_id
    assert events[0]["metadata"]["step_count"] == 3


async def test_enqueue_defaults_to_false(api, tmp_path):
    project_id = await create_project(api, tmp_path)
    response = await api.post(f"/projects/{project_id}/codemachine/import",
                              json=import_body(make_workspace(tmp_path / "ws"), enqueue=False))
    assert response.status_code == 200 and response.json()["job"] is None
    assert response.json()["protocol_run"]["status"] == "planned"


async def test_imported_steps_are_listed_with_their_policy(api, tmp_path):
    project_id = await create_project(api, tmp_path)
    run = (await api.post(f"/projects/{project_id}/codemachine/import",
                          json=import_body(make_workspace(tmp_path / "ws")))).json()["protocol_run"]
    listed = await api.get(f"/protocols/{run['id']}/steps")
    assert listed.status_code == 200, listed.text
    steps = listed.json()
    assert [s["step_name"] for s in steps] == ["plan", "coder", "reviewer"]
    assert steps[2]["policy"] == [{"type": "loop", "step_back": 1, "max_iterations": 3}]
    assert steps[1]["runtime_state"]["agent_id"] == "coder"


# --- refusals --------------------------------------------------------------------------------------

async def test_bad_config_is_400_listing_every_problem_and_creates_nothing(api, db_engine, tmp_path):
    project_id = await create_project(api, tmp_path)
    config = {**CONFIG, "steps": [{"agent": "planner"}, {"agent": "x"},
                                  {"agent": "coder", "loop": {"step_back": 5, "max_iterations": 1}}]}
    workspace = make_workspace(tmp_path / "ws", config)
    (workspace / "prompts" / "plan.md").unlink()
    error = assert_error(await api.post(f"/projects/{project_id}/codemachine/import", json=import_body(workspace)),
                         400, "invalid_codemachine_config")
    assert error["problems"] == [
        "agents[0].prompt: file not found: 'prompts/plan.md'",
        "steps[1].agent: unknown agent 'x'",
        "steps[2].loop.step_back: 5 reaches before the first step (at most 2 here)",
    ]
    assert error["detail"] == "invalid CodeMachine workspace: " + "; ".join(error["problems"])
    assert await imported_runs(db_engine) == []
    assert await db_rows(db_engine, StepRun) == []
    assert await db_rows(db_engine, Event, Event.event_type == "codemachine_imported") == []


@pytest.mark.parametrize("enqueue", [False, True])
async def test_unparseable_config_is_400(api, db_engine, tmp_path, enqueue):
    project_id = await create_project(api, tmp_path)
    workspace = make_workspace(tmp_path / "ws")
    (workspace / ".codemachine" / "workflow.json").write_text("{ nope")
    error = assert_error(await api.post(f"/projects/{project_id}/codemachine/import",
                                        json=import_body(workspace, enqueue=enqueue)), 400,
                         "invalid_codemachine_config")
    assert "invalid JSON at line 1" in error["detail"]
    assert await imported_runs(db_engine) == []


async def test_missing_workspace_or_config_is_400(api, db_engine, tmp_path):
    project_id = await create_project(api, tmp_path)
    url = f"/projects/{project_id}/codemachine/import"
    error = assert_error(await api.post(url, json=import_body(tmp_path / "nowhere")), 400)
    assert error["problems"] == [f"workspace_path: folder not found: {tmp_path / 'nowhere'}"]
    (tmp_path / "empty").mkdir()
    error = assert_error(await api.post(url, json=import_body(tmp_path / "empty")), 400)
    assert "no CodeMachine config" in error["detail"]
    error = assert_error(await api.post(url, json=import_body(tmp_path / ("a" * 300))), 400)
    assert error["problems"] == ["workspace_path: cannot be read (File name too long)"]
    assert await imported_runs(db_engine) == []


async def test_prompt_path_traversal_is_400(api, tmp_path):
    project_id = await create_project(api, tmp_path)
    (tmp_path / "secret.md").write_text("x")
    config = {"agents": [{"id": "a", "prompt": "../secret.md"}], "steps": [{"agent": "a"}]}
    error = assert_error(await api.post(f"/projects/{project_id}/codemachine/import",
                                        json=import_body(make_workspace(tmp_path / "ws", config))), 400)
    assert error["problems"] == ["agents[0].prompt: '../secret.md' leads outside the workspace"]


async def test_unknown_project_is_404(api, tmp_path):
    response = await api.post("/projects/999999/codemachine/import", json=import_body(make_workspace(tmp_path / "ws")))
    assert_error(response, 404, "project_not_found")


@pytest.mark.parametrize("change, field", [
    ({"enqueue": "yes"}, "body.enqueue"),
    ({"enqueue": 1}, "body.enqueue"),
    ({"protocol_name": None}, "body.protocol_name"),
    ({"protocol_name": ""}, "body.protocol_name"),
    ({"workspace_path": 5}, "body.workspace_path"),
    ({"base_branch": "--upload-pack=x"}, "body.base_branch"),
    ({"description": ["x"]}, "body.description"),
])
async def test_wrong_body_is_400_naming_the_field(api, db_engine, tmp_path, change, field):
    project_id = await create_project(api, tmp_path)
    body = {k: v for k, v in {**import_body(make_workspace(tmp_path / "ws")), **change}.items() if v is not None}
    error = assert_error(await api.post(f"/projects/{project_id}/codemachine/import", json=body), 400,
                         "validation_error")
    assert field in [f["field"] for f in error["fields"]]
    assert await imported_runs(db_engine) == []


async def test_project_token_is_required(api, db_engine, tmp_path):
    project_id = await create_project(api, tmp_path, secrets={"api_token": "tok"})
    url, body = f"/projects/{project_id}/codemachine/import", import_body(make_workspace(tmp_path / "ws"))
    assert_error(await api.post(url, json=body), 401, "project_token_required")
    assert_error(await api.post(url, json=body, headers={"X-Project-Token": "wrong"}), 401)
    assert await imported_runs(db_engine) == []
    response = await api.post(url, json=body, headers={"X-Project-Token": "tok"})
    assert response.status_code == 200, response.text


async def test_bearer_token_is_required_when_set(settings, api_factory, tmp_path):
    secured = Settings(**{**vars(settings), "api": ApiSettings(api_token="bearer-secret")})
    async with api_factory(secured) as api:
        auth = {"Authorization": "Bearer bearer-secret"}
        response = await api.post("/projects", json={"name": "d", "git_url": str(tmp_path / "r")}, headers=auth)
        url = f"/projects/{response.json()['id']}/codemachine/import"
        body = import_body(make_workspace(tmp_path / "ws"))
        assert_error(await api.post(url, json=body), 401)
        assert (await api.post(url, json=body, headers=auth)).status_code == 200


async def test_workspace_outside_the_codemachine_root_is_403(settings, api_factory, db_engine, tmp_path):
    (tmp_path / "root").mkdir()
    inside = make_workspace(tmp_path / "root" / "ws")
    outside = make_workspace(tmp_path / "elsewhere")
    confined = Settings(**{**vars(settings), "execution": ExecutionSettings(codemachine_root=tmp_path / "root")})
    async with api_factory(confined) as api:
        url = f"/projects/{await create_project(api, tmp_path)}/codemachine/import"
        for path in (str(outside), "../elsewhere"):
            error = assert_error(await api.post(url, json=import_body(path)), 403, "workspace_outside_root")
            assert str(tmp_path) not in error["detail"]
        assert await imported_runs(db_engine) == []
        response = await api.post(url, json=import_body("ws"))
        assert response.status_code == 200, response.text
        assert response.json()["protocol_run"]["template_source"]["workspace_path"] == str(inside.resolve())


# --- enqueue=true ---------------------------------------------------------------------------------

async def test_enqueue_imports_through_the_workflow_as_a_job(api, worker, db_engine, temporal_client, tmp_path):
    project_id = await create_project(api, tmp_path, git_url=str(make_git_repo(tmp_path / "repo")))
    response = await api.post(f"/projects/{project_id}/codemachine/import",
                              json=import_body(make_workspace(tmp_path / "ws"), enqueue=True))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["job"]["type"] == "codemachine_import_job" and body["message"]
    run = body["protocol_run"]
    assert run["status"] in ("planning", "planned")
    assert run["template_source"]["kind"] == "codemachine"

    assert await settle(temporal_client, run["id"]) == "planned"
    run = (await api.get(f"/protocols/{run['id']}")).json()
    assert run["status"] == "planned"
    steps = await db_rows(db_engine, StepRun, StepRun.protocol_run_id == run["id"])
    assert [(s.step_index, s.step_name, s.status) for s in steps] == [
        (0, "plan", "pending"), (1, "coder", "pending"), (2, "reviewer", "pending")]
    assert steps[2].policy == [{"type": "loop", "step_back": 1, "max_iterations": 3}]
    assert steps[1].runtime_state == {"agent_id": "coder", "prompt_path": "prompts/code.md", "prompt": "# code.md\n"}
    listed = (await api.get(f"/protocols/{run['id']}/steps")).json()
    assert [s["policy"] for s in listed] == [s.policy for s in steps]
    types = [e["event_type"] for e in (await api.get(f"/protocols/{run['id']}/events")).json()]
    assert "codemachine_imported" in types
