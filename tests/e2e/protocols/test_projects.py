"""Projects over HTTP: create, read, list, the setup run, its events, and project tokens."""

from __future__ import annotations

from pathlib import Path

from models.protocols.workflow_io import project_setup_workflow_id
from tests.support import make_git_repo, workflow_result


async def create_project(api, repo: Path, **extra) -> dict:
    response = await api.post("/projects", json={"name": "demo", "git_url": str(repo), "base_branch": "main",
                                                 **extra})
    assert response.status_code == 200, response.text
    return response.json()


async def test_create_project_runs_setup_to_completion(api, worker, temporal_client, tmp_path):
    repo = make_git_repo(tmp_path / "repo", {"README.md": "x", ".github/workflows/ci.yml": "on: push\n"})
    project = await create_project(api, repo, default_models={"coder": "m1"})
    assert project["name"] == "demo" and project["base_branch"] == "main"
    assert project["ci_provider"] is None and project["default_models"] == {"coder": "m1"}

    await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))

    runs = (await api.get(f"/projects/{project['id']}/protocols")).json()
    assert [r["protocol_name"] for r in runs] == [f"setup-{project['id']}"]
    run = (await api.get(f"/protocols/{runs[0]['id']}")).json()
    assert run["status"] == "completed"
    assert run["workflow_id"] == f"project-setup-{project['id']}"
    setup = (await temporal_client.get_workflow_handle(run["workflow_id"]).describe()).run_id
    assert run["workflow_url"].endswith(f"/namespaces/default/workflows/project-setup-{project['id']}/{setup}")

    events = (await api.get("/events", params={"project_id": project["id"]})).json()
    assert [e["event_type"] for e in events] == [
        "setup_completed", "ci_provider_detected", "base_branch_verified", "repository_fetched", "setup_started"]
    newest = events[0]
    assert set(newest) == {"id", "protocol_run_id", "step_run_id", "event_type", "message", "created_at",
                           "metadata", "protocol_name", "project_id", "project_name"}
    assert newest["protocol_name"] == f"setup-{project['id']}" and newest["project_name"] == "demo"
    assert (await api.get(f"/protocols/{run['id']}/events")).json() == events
    # The detected provider is stored on the project.
    assert (await api.get(f"/projects/{project['id']}")).json()["ci_provider"] == "github"


async def test_setup_fails_with_a_reason_for_an_unreachable_repository(api, worker, temporal_client, tmp_path):
    project = await create_project(api, tmp_path / "nowhere")
    await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))
    run = (await api.get(f"/projects/{project['id']}/protocols")).json()[0]
    assert run["status"] == "failed"
    last = (await api.get(f"/protocols/{run['id']}/events")).json()[0]
    assert last["event_type"] == "setup_failed" and "cannot fetch" in last["message"]


async def test_setup_fails_with_a_reason_for_a_missing_branch(api, worker, temporal_client, tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    response = await api.post("/projects", json={"name": "d", "git_url": str(repo), "base_branch": "release"})
    project = response.json()
    await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))
    run = (await api.get(f"/projects/{project['id']}/protocols")).json()[0]
    assert run["status"] == "failed"
    last = (await api.get(f"/protocols/{run['id']}/events")).json()[0]
    assert last["event_type"] == "setup_failed" and "'release' does not exist" in last["message"]


async def test_explicit_ci_provider_is_kept(api, worker, temporal_client, tmp_path):
    repo = make_git_repo(tmp_path / "repo", {".gitlab-ci.yml": "test: {}\n"})
    project = await create_project(api, repo, ci_provider="github")
    await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))
    assert (await api.get(f"/projects/{project['id']}")).json()["ci_provider"] == "github"
    types = [e["event_type"] for e in (await api.get("/events")).json()]
    assert "ci_provider_detected" not in types and types[0] == "setup_completed"


async def test_file_url_and_gitlab_detection(api, worker, temporal_client, tmp_path):
    repo = make_git_repo(tmp_path / "repo", {".gitlab-ci.yml": "test: {}\n"})
    project = await create_project(api, Path(repo), git_url=f"file://{repo}")
    await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))
    assert (await api.get(f"/projects/{project['id']}")).json()["ci_provider"] == "gitlab"


async def test_secrets_are_stored_but_never_returned(api, tmp_path):
    project = await create_project(api, tmp_path / "r", secrets={"api_token": "s3cr3t-token", "other": "x"})
    assert "secrets" not in project and project["secret_keys"] == ["api_token", "other"]
    for response in [await api.get("/projects"), await api.get(f"/projects/{project['id']}",
                                                                  headers={"X-Project-Token": "s3cr3t-token"})]:
        assert "s3cr3t-token" not in response.text


async def test_project_token_guards_the_project(api, tmp_path):
    project = await create_project(api, tmp_path / "r", secrets={"api_token": "tok"})
    pid = project["id"]
    assert (await api.get(f"/projects/{pid}")).status_code == 401
    assert (await api.get(f"/projects/{pid}", headers={"X-Project-Token": "wrong"})).status_code == 401
    ok = await api.get(f"/projects/{pid}", headers={"X-Project-Token": "tok"})
    assert ok.status_code == 200 and ok.json()["id"] == pid
    assert (await api.get(f"/projects/{pid}/protocols")).status_code == 401
    assert (await api.get("/events", params={"project_id": pid})).status_code == 401


async def test_list_projects_is_paginated_oldest_first(api, tmp_path):
    ids = [(await create_project(api, tmp_path / f"r{i}"))["id"] for i in range(3)]
    assert [p["id"] for p in (await api.get("/projects")).json()] == ids
    assert [p["id"] for p in (await api.get("/projects", params={"limit": 2, "offset": 1})).json()] == ids[1:]


async def test_events_limit_is_clamped(api, worker, temporal_client, tmp_path):
    project = await create_project(api, make_git_repo(tmp_path / "repo"))
    await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))
    assert len((await api.get("/events", params={"limit": 0})).json()) == 1
    assert len((await api.get("/events", params={"limit": 2})).json()) == 2
    assert len((await api.get("/events", params={"limit": 100000})).json()) == 5


async def test_events_of_token_guarded_projects_need_their_token(api, worker, temporal_client, tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    guarded = await create_project(api, repo, secrets={"api_token": "tok"})
    open_project = await create_project(api, repo)
    for project in (guarded, open_project):
        await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))
    listed = {e["project_id"] for e in (await api.get("/events")).json()}
    assert listed == {open_project["id"]}
    own = await api.get("/events", params={"project_id": guarded["id"]}, headers={"X-Project-Token": "tok"})
    assert {e["project_id"] for e in own.json()} == {guarded["id"]}


async def test_event_pages_walk_newest_first_without_gaps_or_hidden_projects(api, worker, temporal_client,
                                                                            tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    guarded = await create_project(api, repo, secrets={"api_token": "tok"})
    first, second = await create_project(api, repo), await create_project(api, repo)
    for project in (guarded, first, second):
        await workflow_result(temporal_client, project_setup_workflow_id(project["id"]))

    everything = (await api.get("/events", params={"limit": 500})).json()
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert {e["project_id"] for e in everything} == {first["id"], second["id"]} and len(everything) == 10
    pages = [(await api.get("/events", params={"limit": 3, "offset": offset})).json() for offset in range(0, 12, 3)]
    assert [e for page in pages for e in page] == everything

    own = [e for e in everything if e["project_id"] == first["id"]]
    pages = [(await api.get("/events", params={"project_id": first["id"], "limit": 2, "offset": offset})).json()
             for offset in range(0, 6, 2)]
    assert [e for page in pages for e in page] == own
    assert all(e["project_name"] == "demo" and e["protocol_name"] == f"setup-{first['id']}" for e in own)


async def test_secrets_are_sealed_in_postgres(api, db_engine, tmp_path):
    from sqlalchemy import text

    project = await create_project(api, tmp_path / "r", secrets={"api_token": "plain-token-123"})
    async with db_engine.connect() as conn:
        stored = (await conn.execute(text("SELECT secrets::text FROM projects WHERE id = :id"),
                                     {"id": project["id"]})).scalar_one()
    assert "plain-token-123" not in stored and "api_token" in stored
    ok = await api.get(f"/projects/{project['id']}", headers={"X-Project-Token": "plain-token-123"})
    assert ok.status_code == 200
