"""Workflow executions: the list (filters, sorts, ``q``, the envelope), one execution, and the two actions,
retry (a new run of the same workflow id, same input, ``retryCount`` + 1, fields cleared) and cancel
(Temporal's cancellation, recorded ``cancelled`` within 10 s), each refused by the status rules with 409
``invalid_transition`` and ``currentStatus``."""

from __future__ import annotations

import asyncio
import time

from tests.e2e.platform_v1.engine_world import execute, register_agent, settled
from tests.e2e.platform_v1.support import V1
from tests.fakes.agent_node import Answer


async def test_the_list_filters_sorts_and_searches(api, worker, workspaces, agent_node):
    a, b = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    await register_agent(ops, agent_node.url)
    await register_agent(ops, agent_node.url, agent_id="other")
    ok = (await execute(ops, "helper.echo")).json()
    bad = (await execute(ops, "helper.reject")).json()
    elsewhere = (await execute(ops, "other.echo")).json()
    viewer = V1(api, "viewer", workspace=a)
    listed = (await viewer.get("/workflow-executions")).json()
    assert [e["id"] for e in listed["data"]] == [elsewhere["id"], bad["id"], ok["id"]]
    assert listed["page"] == {"limit": 50, "offset": 0, "returned": 3, "total": 3}
    assert listed["sort"] == {"by": "createdAt", "order": "desc"}
    failed = (await viewer.get("/workflow-executions", params={"status": "failed"})).json()
    assert [e["id"] for e in failed["data"]] == [bad["id"]] and failed["filters"] == {"status": "failed"}
    by_agent = (await viewer.get("/workflow-executions", params={"agentId": "other", "type": "agent"})).json()
    assert [e["id"] for e in by_agent["data"]] == [elsewhere["id"]]
    searched = (await viewer.get("/workflow-executions", params={"q": "AGENT_REJ"})).json()
    assert [e["id"] for e in searched["data"]] == [bad["id"]]
    fastest = (await viewer.get("/workflow-executions", params={"sortBy": "durationMs", "sortOrder": "asc",
                                                                 "limit": 1})).json()
    assert fastest["page"]["returned"] == 1 and fastest["page"]["total"] == 3
    for params, error in (({"status": "sleeping"}, "validation_error"), ({"type": "cron"}, "validation_error"),
                          ({"sortBy": "id"}, "invalid_sort"), ({"agentId": "Bad Agent"}, "validation_error"),
                          ({"colour": "red"}, "unknown_parameter"), ({"limit": 0}, "validation_error")):
        refused = await viewer.get("/workflow-executions", params=params)
        assert (refused.status_code, refused.json()["error"]) == (400, error), (params, refused.text)
    one = await viewer.get(f"/workflow-executions/{ok['id']}")
    assert one.status_code == 200 and one.json()["status"] == "succeeded"
    for missing in ("wex_" + "f" * 32, "not-an-id", ok["id"].upper()):
        gone = await viewer.get(f"/workflow-executions/{missing}")
        assert (gone.status_code, gone.json()["error"]) == (404, "not_found"), missing
    from_b = await V1(api, "msp_admin", workspace=b).get(f"/workflow-executions/{ok['id']}")
    assert from_b.status_code == 404


async def test_a_failed_execution_is_retried_as_a_new_run_of_its_workflow(api, worker, workspaces, agent_node):
    a, _ = workspaces
    ops = V1(api, "automation_operator", workspace=a)
    await register_agent(ops, agent_node.url, reasoners=[{"id": "flaky"}])
    agent_node.script("flaky", Answer(400))
    failed = (await execute(ops, "flaky" and "helper.flaky", {"n": 7})).json()
    assert (failed["status"], failed["failureCode"], failed["retryCount"]) == ("failed", "agent_rejected", 0)
    refused_cancel = await ops.post(f"/workflow-executions/{failed['id']}/cancel")
    assert refused_cancel.status_code == 409 and refused_cancel.json()["currentStatus"] == "failed"

    retried = await ops.post(f"/workflow-executions/{failed['id']}/retry", json={})
    assert retried.status_code == 202, retried.text
    record = retried.json()
    assert record["status"] in ("queued", "running", "succeeded") and record["retryCount"] == 1
    assert record["temporal"]["workflowId"] == failed["temporal"]["workflowId"]
    assert record["temporal"]["runId"] != failed["temporal"]["runId"]
    assert record["inputRef"] == failed["inputRef"] and retried.headers["location"].endswith(failed["id"])
    done = await settled(ops, failed["id"], "succeeded")
    assert done["retryCount"] == 1 and done["failureCode"] is None and done["failureMessage"] is None
    assert done["outputRef"] and done["evidenceRef"] != failed["evidenceRef"]
    calls = agent_node.calls("flaky")
    assert [call.json for call in calls] == [{"n": 7}, {"n": 7}]
    assert {call.headers["x-execution-id"] for call in calls} == {failed["id"]}

    again = await ops.post(f"/workflow-executions/{failed['id']}/retry")
    assert again.status_code == 409, again.text
    assert (again.json()["error"], again.json()["currentStatus"]) == ("invalid_transition", "succeeded")
    cancel_done = await ops.post(f"/workflow-executions/{failed['id']}/cancel", json={})
    assert cancel_done.status_code == 409 and cancel_done.json()["currentStatus"] == "succeeded"
    bad_body = await ops.post(f"/workflow-executions/{failed['id']}/retry", json={"force": True})
    assert bad_body.status_code == 400
    assert len(agent_node.calls("flaky")) == 2


async def test_two_retries_at_once_start_one_run(api, worker, workspaces, agent_node):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    await register_agent(ops, agent_node.url)
    failed = (await execute(ops, "helper.reject")).json()
    agent_node.script("reject", Answer(200, hold=True))
    answers = await asyncio.gather(*(ops.post(f"/workflow-executions/{failed['id']}/retry") for _ in range(3)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [202, 409, 409], [answer.text for answer in answers]
    assert {answer.json()["currentStatus"] for answer in answers if answer.status_code == 409} <= {"queued",
                                                                                                   "running"}
    agent_node.release()
    done = await settled(ops, failed["id"], "succeeded")
    assert done["retryCount"] == 1 and len(agent_node.calls("reject")) == 2


async def test_a_cancel_abandons_the_call_and_is_recorded_within_ten_seconds(api, worker, workspaces, agent_node,
                                                                             db_engine):
    a, _ = workspaces
    ops = V1(api, "msp_admin", workspace=a)
    await register_agent(ops, agent_node.url)
    started = (await execute(ops, "helper.hold", mode="async")).json()
    await asyncio.to_thread(agent_node.wait_for_calls, 1)
    asked = time.monotonic()
    cancelled = await ops.post(f"/workflow-executions/{started['id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    record = await settled(ops, started["id"], "cancelled", timeout=10)
    assert time.monotonic() - asked < 10
    assert record["failureCode"] is None and record["completedAt"] and record["evidenceRef"]
    again = await ops.post(f"/workflow-executions/{started['id']}/cancel")
    assert again.status_code == 409 and again.json()["currentStatus"] == "cancelled"
    agent_node.release()  # the abandoned call answers now: nothing changes
    retried = await ops.post(f"/workflow-executions/{started['id']}/retry")
    assert retried.status_code == 202 and retried.json()["retryCount"] == 1
    done = await settled(ops, started["id"], "succeeded")
    assert done["completedAt"] != record["completedAt"]
