"""What an action costs in Temporal round trips, held in check.

One protocol runs through plan, run, QA and approve on the test stack (real worker, real Postgres,
real git). Each action is followed by ``wait_idle``, as a client that waits for its result would.
Every workflow task, activity task and history event is a trip through the Temporal server, so the
history of the run is the cost: a change that adds round trips (a record write as a normal activity
again, a write per field, an extra Update) fails here with the figures in the message.
See docs/performance.md, "History budget".
"""

from __future__ import annotations

from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from models.protocols.workflow_io import protocol_run_workflow_id
from tests.e2e.protocols.support import create_project, create_run, step_file
from tests.support import settle

#: The real work of this protocol, one activity each: plan, two executions, one QA.
WORK_ACTIVITIES = ["plan_protocol", "execute_step", "execute_step", "run_qa"]
#: Upper bounds for the whole run (5 actions, each with its ``wait_idle``): measured 89 events and 14
#: workflow tasks (a ``wait_idle`` that arrives while work runs costs one more task); 143 and 24 before
#: record writes became local activities.
MAX_EVENTS = 100
MAX_WORKFLOW_TASKS = 16
ACTIONS = 5


async def history_counts(client: Client, run_id: int) -> tuple[Counter, list[str]]:
    history = await client.get_workflow_handle(protocol_run_workflow_id(run_id)).fetch_history()
    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events)
    activities = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                  if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    return kinds, activities


async def test_a_protocol_run_stays_within_its_history_budget(api, worker, temporal_client, tmp_path):
    files = {".protocols/0001-demo/01-first.md": step_file("echo 1 > one", qa="test -f one"),
             ".protocols/0001-demo/02-second.md": step_file("echo 2 > two")}
    _, project = await create_project(api, tmp_path, files)
    rid = (await create_run(api, project["id"]))["id"]

    async def act(path: str) -> str | None:
        response = await api.post(path)
        assert response.status_code == 200, response.text
        return await settle(temporal_client, rid)

    assert await act(f"/protocols/{rid}/actions/start") == "planned"
    await act(f"/protocols/{rid}/actions/run_next_step")
    first, second = (await api.get(f"/protocols/{rid}/steps")).json()
    await act(f"/steps/{first['id']}/actions/run_qa")
    await act(f"/protocols/{rid}/actions/run_next_step")
    await act(f"/steps/{second['id']}/actions/approve")
    assert [s["status"] for s in (await api.get(f"/protocols/{rid}/steps")).json()] == ["completed", "completed"]

    kinds, activities = await history_counts(temporal_client, rid)
    total = sum(kinds.values())
    figures = (f"{total} events ({total / ACTIONS:.1f} per action), {kinds['WORKFLOW_TASK_SCHEDULED']} workflow "
               f"tasks, activities {activities}, {kinds['MARKER_RECORDED']} markers; all: {dict(kinds)}")
    assert sorted(activities) == sorted(WORK_ACTIVITIES), f"record writes went back to activities? {figures}"
    assert kinds["WORKFLOW_TASK_SCHEDULED"] <= MAX_WORKFLOW_TASKS, f"more workflow tasks than budgeted: {figures}"
    assert total <= MAX_EVENTS, f"history over budget: {figures}"
