"""Helpers for protocol-run tests: projects with real remotes, runs, steps and settings variants."""

from __future__ import annotations

from pathlib import Path

from capstan.settings import Settings
from models.protocols.settings import ExecutionSettings
from tests.support import make_bare_remote

SCRIPT_STEP = """---
engine_id: script
---
# {title}

```sh
{script}
```
{qa}"""


def step_file(script: str, qa: str | None = None, title: str = "Step") -> str:
    qa_block = f"\n## QA\n\n```sh\n{qa}\n```\n" if qa is not None else ""
    return SCRIPT_STEP.format(title=title, script=script, qa=qa_block)


def with_execution(settings: Settings, **options) -> Settings:
    return Settings(**{**vars(settings), "execution": ExecutionSettings(**options)})


async def create_project(api, tmp_path: Path, files: dict[str, str] | None = None, **fields) -> tuple[Path, dict]:
    remote = make_bare_remote(tmp_path, files or {"README.md": "demo\n"})
    response = await api.post("/projects", json={"name": "demo", "git_url": str(remote), **fields})
    assert response.status_code == 200, response.text
    return remote, response.json()


async def create_run(api, project_id: int, name: str = "0001-demo", **fields) -> dict:
    response = await api.post(f"/projects/{project_id}/protocols", json={"protocol_name": name, **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def add_step(api, run_id: int, index: int, name: str | None = None, **fields) -> dict:
    response = await api.post(f"/protocols/{run_id}/steps",
                              json={"step_index": index, "step_name": name or f"step-{index}", **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def status_of(api, run_id: int) -> str:
    return (await api.get(f"/protocols/{run_id}")).json()["status"]


async def step_statuses(api, run_id: int) -> list[str]:
    return [s["status"] for s in (await api.get(f"/protocols/{run_id}/steps")).json()]


async def event_types(api, run_id: int) -> list[str]:
    """Oldest first."""
    return [e["event_type"] for e in reversed((await api.get(f"/protocols/{run_id}/events",
                                                             params={"limit": 500})).json())]
