"""A protocol from step files to a pull request, on real git and a fake forge over HTTP."""

from __future__ import annotations

import pytest

from capstan.settings import Settings
from tests.support import git, make_bare_remote, remote_log, settle


@pytest.fixture
def settings(settings: Settings, fake_forge) -> Settings:
    """The test's settings, with GitHub and GitLab at the fake forge."""
    return Settings(**{**vars(settings), "forge": fake_forge.forge_settings()})

STEP = """---
engine_id: script
---
# Step {n}

```sh
echo "line {n}" >> notes.txt
```

## QA

```sh
grep -q "line {n}" notes.txt
```
"""

DEMO = {".protocols/0001-demo/01-first.md": STEP.format(n=1),
        ".protocols/0001-demo/02-second.md": STEP.format(n=2),
        ".protocols/0001-demo/03-third.md": STEP.format(n=3),
        "README.md": "demo\n"}


async def setup_run(api, tmp_path, files=DEMO, **project):
    remote = make_bare_remote(tmp_path, files)
    created = await api.post("/projects", json={"name": "demo", "git_url": str(remote), **project})
    project_id = created.json()["id"]
    run = await api.post(f"/projects/{project_id}/protocols", json={"protocol_name": "0001-demo",
                                                                   "description": "Demo protocol"})
    assert run.status_code == 200, run.text
    return remote, run.json()


async def test_three_script_steps_from_plan_to_pull_request(api, worker, temporal_client, fake_forge, tmp_path):
    remote, run = await setup_run(api, tmp_path, ci_provider="github", forge_repository="acme/demo")
    rid = run["id"]
    assert run["status"] == "pending" and run["workflow_id"] == f"protocol-run-{rid}"

    started = await api.post(f"/protocols/{rid}/actions/start")
    assert started.status_code == 200, started.text
    assert started.json()["job"]["type"] == "plan_protocol_job"
    assert (await api.get(f"/protocols/{rid}")).json()["status"] == "planning"
    assert await settle(temporal_client, rid) == "planned"
    steps = (await api.get(f"/protocols/{rid}/steps")).json()
    assert [(s["step_index"], s["step_name"], s["status"], s["engine_id"]) for s in steps] == [
        (0, "01-first.md", "pending", "script"), (1, "02-second.md", "pending", "script"),
        (2, "03-third.md", "pending", "script")]

    for step in steps:
        action = await api.post(f"/protocols/{rid}/actions/run_next_step")
        assert action.status_code == 200, action.text
        assert action.json()["job"]["type"] == "execute_step_job"
        assert (await api.get(f"/steps/{step['id']}")).json()["status"] == "running"
        await settle(temporal_client, rid)
        assert (await api.get(f"/steps/{step['id']}")).json()["status"] == "needs_qa"
        qa = await api.post(f"/steps/{step['id']}/actions/run_qa")
        assert qa.json()["job"]["type"] == "run_quality_job"
        await settle(temporal_client, rid)
        assert (await api.get(f"/steps/{step['id']}")).json()["status"] == "completed"

    assert (await api.get(f"/protocols/{rid}")).json()["status"] == "completed"
    approved = await api.post(f"/steps/{steps[-1]['id']}/actions/approve")
    assert approved.status_code == 200 and approved.json()["message"] == "Step 03-third.md approved"

    opened = await api.post(f"/protocols/{rid}/actions/open_pr")
    assert opened.status_code == 200 and opened.json()["job"]["type"] == "open_pr_job"
    await settle(temporal_client, rid)
    [pull] = fake_forge.pulls["acme/demo"]
    assert (pull.head, pull.base, pull.title) == ("0001-demo", "main", "0001-demo: Demo protocol")
    assert "03-third.md" in pull.body
    pr_event = (await api.get(f"/protocols/{rid}/events")).json()[0]
    assert pr_event["event_type"] == "pr_opened" and pr_event["metadata"]["url"] == pull.url
    assert remote_log(remote, "0001-demo")[:3] == [
        "capstan: 0001-demo step 2 03-third.md", "capstan: 0001-demo step 1 02-second.md",
        "capstan: 0001-demo step 0 01-first.md"]
    assert git("show", "refs/heads/0001-demo:notes.txt", cwd=remote) == "line 1\nline 2\nline 3"
    # main is untouched
    assert "notes.txt" not in git("ls-tree", "--name-only", "refs/heads/main", cwd=remote)
    artifacts = (await api.get(f"/steps/{steps[0]['id']}/artifacts")).json()
    assert {a["kind"] for a in artifacts} == {"engine_output", "qa_output"}
    types = [e["event_type"] for e in reversed((await api.get(f"/protocols/{rid}/events")).json())]
    assert types[:3] == ["planning_started", "protocol_planned", "step_started"]
    assert types.count("step_completed") == 3 and types.count("qa_passed") == 3
    assert types[-3:] == ["manual_approval", "open_pr_requested", "pr_opened"]
    assert "protocol_completed" in types
