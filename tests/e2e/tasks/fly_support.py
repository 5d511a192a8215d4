"""What the config, secrets and fly-runner tests share: settings pointing at the fake Fly and Anthropic,
storing a Fly setup through the API, reading a run's Temporal history, and playing a Fly machine (the
runner image's part: push the branch, call back)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.json_format import MessageToJson
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from capstan.settings import Settings
from models.tasks.workflow_io import ActivityName, coding_task_workflow_id
from tests.e2e.tasks.support import tasks_queue
from tests.fakes.fly import FakeAnthropic, FakeFly, FlyMachine
from tests.support import git

FLY_TOKEN = "fo1_fly-token-of-alice-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-api03-key-of-alice-0123456789"
FLY_APP = "widgets-runs"
RUNNER_IMAGE = "registry.example.com/capstan-runner:test"


def point_at_fakes(settings: Settings, fly: FakeFly, anthropic: FakeAnthropic) -> Settings:
    settings.tasks.fly_api_url = fly.url
    settings.tasks.anthropic_api_url = anthropic.url
    return settings


async def store_fly_setup(client: httpx.AsyncClient, token: str = FLY_TOKEN, app: str = FLY_APP) -> dict[str, Any]:
    """Save a Fly token and app through ``PUT /api/config/fly`` (no validation)."""
    saved = await client.put("/api/config/fly", json={"flyToken": token, "flyAppName": app})
    assert saved.status_code == 200, saved.text
    return saved.json()


def workflow_handle(temporal: Client, settings: Settings, execution_id: str):
    return temporal.get_workflow_handle(coding_task_workflow_id(tasks_queue(settings), execution_id))


async def history_json(temporal: Client, settings: Settings, execution_id: str) -> str:
    """The run's whole Temporal history as JSON text (payloads included, as stored)."""
    history = await workflow_handle(temporal, settings, execution_id).fetch_history()
    return history.to_json()


def _decoded_payloads(text: str) -> str:
    """The history's payload data decoded from base64, so a search sees what Temporal stores in clear."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str):
                try:
                    found.append(base64.b64decode(node["data"]).decode(errors="replace"))
                except ValueError:
                    pass
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(text))
    return "\n".join(found)


async def history_text(temporal: Client, settings: Settings, execution_id: str) -> str:
    """The history's JSON and every payload in it decoded: where a secret would show if it went through."""
    text = await history_json(temporal, settings, execution_id)
    return text + "\n" + _decoded_payloads(text)


async def await_run_waiting(temporal: Client, settings: Settings, execution_id: str, *,
                            announcing: bool = False) -> None:
    """Return once the run waits for its result: its machine started, the ``running`` announcement that
    follows done (completed or failed) and a workflow task after it completed. A stop from then on meets
    the workflow in its wait, not inside an activity. ``announcing``: return as soon as that announcement
    is scheduled instead (a stop then meets it in flight)."""
    handle = workflow_handle(temporal, settings, execution_id)
    names: dict[int, str] = {}
    machine_started = announced = False
    async for event in handle.fetch_history_events(wait_new_event=True):
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            if announcing and machine_started and names[event.event_id] == ActivityName.ANNOUNCE_TRANSITION:
                return
        elif kind in (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED):
            attributes = (event.activity_task_completed_event_attributes
                          if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                          else event.activity_task_failed_event_attributes)
            name = names.get(attributes.scheduled_event_id)
            if name == ActivityName.START_REMOTE_RUNNER and kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                machine_started = True
            elif name == ActivityName.ANNOUNCE_TRANSITION and machine_started:
                announced = True
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and announced:
            return
        elif kind in (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
                      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED):
            raise AssertionError(f"the run ended before it waited for its result: {MessageToJson(event)}")
    raise AssertionError("the run's history ended before it waited for its result")


async def await_update(temporal: Client, settings: Settings, execution_id: str, update: str) -> None:
    """Return once the run accepted an Update named ``update`` (its handler has begun)."""
    handle = workflow_handle(temporal, settings, execution_id)
    async for event in handle.fetch_history_events(wait_new_event=True):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED and \
                event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == update:
            return
    raise AssertionError(f"the run's history ended without accepting the {update} Update")


async def await_request(fly: FakeFly, path_substring: str, method: str) -> None:
    """Return once the fake Fly has received a matching request."""
    await asyncio.to_thread(fly.wait_for_request, path_substring, method)


def play_machine(machine: FlyMachine, work: Path, subject: str = "agent: fix the typo") -> str:
    """What the runner image does before calling back: clone ``REPO_URL`` at ``BASE_BRANCH``, commit on
    ``BRANCH`` and push it. The pushed commit's short hash."""
    env = machine.env
    git("clone", "--quiet", "--branch", env["BASE_BRANCH"], env["REPO_URL"], str(work), cwd=work.parent)
    git("checkout", "-q", "-B", env["BRANCH"], cwd=work)
    (work / "README.md").write_text("# widgets\nIt says the.\n")
    git("commit", "-q", "-am", subject, cwd=work)
    git("push", "-q", "--set-upstream", "origin", env["BRANCH"], cwd=work)
    return git("rev-parse", "--short", "HEAD", cwd=work)


async def call_back(machine: FlyMachine, body: dict[str, Any]) -> httpx.Response:
    """``POST $CALLBACK_URL`` with ``$CALLBACK_TOKEN``, as the runner image reports its result."""
    env = machine.env
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(env["CALLBACK_URL"], json={"execution_id": env["TASK_ID"], **body},
                               headers={"X-Capstan-Callback-Token": env["CALLBACK_TOKEN"]})
