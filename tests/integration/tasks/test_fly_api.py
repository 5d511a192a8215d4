"""The Fly setup check and the machine client against the fake Fly Machines API over real HTTP: each
status a user can get from ``validate/fly``, and the machine a run starts and destroys."""

from __future__ import annotations

import re

import pytest

from integrations.runners.fly import FlyError, FlyMachines, validate_fly
from models.tasks.workflow_io import RunnerLaunch
from tests.fakes.fly import FakeFly

TIMEOUT = 10.0
GENERATED = re.compile(r"^capstan-[0-9a-f]{8}$")


async def check(fly: FakeFly, token: str | None, app: str | None, mode: str = "org") -> dict:
    return await validate_fly(fly.url, token, app, mode, timeout=TIMEOUT)  # type: ignore[arg-type]


def app_creations(fly: FakeFly) -> list[dict]:
    return [r.json for r in fly.requests_to("/apps", method="POST") if r.path == "/apps"]


async def test_a_blank_token_is_missing_without_asking_fly(fake_fly):
    for token in (None, "", "   "):
        assert await check(fake_fly, token, "widgets") == {
            "ok": False, "status": "missing_token", "message": "No Fly token is stored.", "appCreated": False,
            "flyAppName": "widgets", "mode": "org"}
    assert fake_fly.requests == []


async def test_an_unknown_token_is_invalid_and_never_appears_in_the_answer(fake_fly):
    answer = await check(fake_fly, "fo1_nobody_knows_me", None)
    assert answer == {"ok": False, "status": "invalid_token", "message": "Invalid Fly token.", "appCreated": False,
                      "mode": "org"}
    [request] = fake_fly.requests
    assert request.path == "/tokens/current" and request.headers["authorization"] == "Bearer fo1_nobody_knows_me"


async def test_a_token_fly_will_not_describe_lacks_scope_with_flys_message(fake_fly):
    fake_fly.add_token("fo1_blind", org_slug="personal", can_read_self=False)
    answer = await check(fake_fly, "fo1_blind", "widgets")
    assert answer["ok"] is False and answer["status"] == "insufficient_scope"
    assert answer["message"] == "token lacks the scope to read its own permissions"


async def test_deploy_mode_uses_the_only_app_of_a_deploy_token(fake_fly):
    fake_fly.add_app("widgets-runs")
    fake_fly.add_token("fo1_deploy", apps=["widgets-runs"])
    assert await check(fake_fly, "fo1_deploy", None, "deploy") == {
        "ok": True, "status": "ready", "message": "Fly app widgets-runs is ready.", "appCreated": False,
        "flyAppName": "widgets-runs", "mode": "deploy"}


async def test_deploy_mode_without_an_app_name_and_no_single_app_is_missing_app_name(fake_fly):
    fake_fly.add_app("one")
    fake_fly.add_app("two")
    fake_fly.add_token("fo1_two", apps=["one", "two"])
    answer = await check(fake_fly, "fo1_two", None, "deploy")
    assert (answer["ok"], answer["status"], answer["mode"]) == (False, "missing_app_name", "deploy")


async def test_deploy_mode_names_a_missing_app_not_found_and_an_existing_one_ready(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    fake_fly.add_app("widgets-runs")
    missing = await check(fake_fly, "fo1_org", "Widgets Gone!", "deploy")
    assert missing == {"ok": False, "status": "app_not_found", "message": "Fly app widgets-gone does not exist.",
                       "appCreated": False, "flyAppName": "widgets-gone", "mode": "deploy"}
    ready = await check(fake_fly, "fo1_org", "widgets-runs", "deploy")
    assert (ready["ok"], ready["status"], ready["flyAppName"]) == (True, "ready", "widgets-runs")
    assert app_creations(fake_fly) == []


async def test_org_mode_creates_the_named_app_in_the_tokens_org(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="acme-org")
    answer = await check(fake_fly, "fo1_org", "Acme  Runs")
    assert answer == {"ok": True, "status": "ready", "message": "Fly app acme-runs created.", "appCreated": True,
                      "flyAppName": "acme-runs", "mode": "org"}
    assert fake_fly.apps == {"acme-runs": "acme-org"}
    assert app_creations(fake_fly) == [{"app_name": "acme-runs", "org_slug": "acme-org"}]


async def test_org_mode_uses_an_existing_app_without_creating_it(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    fake_fly.add_app("widgets-runs", org_slug="personal")
    answer = await check(fake_fly, "fo1_org", "widgets-runs")
    assert (answer["status"], answer["message"], answer["appCreated"]) == (
        "ready", "Fly app widgets-runs is ready.", False)
    assert app_creations(fake_fly) == []


async def test_org_mode_without_an_app_generates_a_name(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    answer = await check(fake_fly, "fo1_org", None)
    assert answer["ok"] is True and answer["appCreated"] is True
    assert GENERATED.match(answer["flyAppName"]), answer
    assert list(fake_fly.apps) == [answer["flyAppName"]]


async def test_a_taken_name_is_a_conflict_when_named(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    fake_fly.take_name("widgets")
    answer = await check(fake_fly, "fo1_org", "widgets")
    assert (answer["ok"], answer["status"], answer["flyAppName"]) == (False, "name_conflict", "widgets")
    assert fake_fly.apps == {}


async def test_a_taken_generated_name_is_replaced_by_another(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    fake_fly.fail_next("/apps", 409, {"error": "app name already taken"}, method="POST")
    answer = await check(fake_fly, "fo1_org", None)
    assert answer["ok"] is True and answer["appCreated"] is True
    first, second = app_creations(fake_fly)
    assert first["app_name"] != second["app_name"] == answer["flyAppName"]


async def test_three_taken_generated_names_are_a_conflict(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    fake_fly.fail_next("/apps", 409, {"error": "app name already taken"}, method="POST", times=3)
    answer = await check(fake_fly, "fo1_org", None)
    assert (answer["ok"], answer["status"]) == (False, "name_conflict")
    assert len(app_creations(fake_fly)) == 3 and fake_fly.apps == {}


async def test_org_mode_with_several_apps_and_no_org_needs_a_name(fake_fly):
    fake_fly.add_app("one")
    fake_fly.add_app("two")
    fake_fly.add_token("fo1_two", apps=["one", "two"])
    answer = await check(fake_fly, "fo1_two", None)
    assert (answer["ok"], answer["status"]) == (False, "missing_app_name")


async def test_org_mode_without_an_org_needs_the_app_to_exist(fake_fly):
    fake_fly.add_app("widgets-runs")
    fake_fly.add_token("fo1_deploy", apps=["widgets-runs"])
    only = await check(fake_fly, "fo1_deploy", None)
    assert (only["ok"], only["status"], only["flyAppName"]) == (True, "ready", "widgets-runs")
    missing = await check(fake_fly, "fo1_deploy", "elsewhere")
    assert (missing["ok"], missing["status"], missing["flyAppName"]) == (False, "insufficient_scope", "elsewhere")
    assert app_creations(fake_fly) == []


async def test_org_mode_prefers_the_personal_org(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    await check(fake_fly, "fo1_org", "mine")
    assert fake_fly.apps == {"mine": "personal"}


async def test_fly_refusing_the_org_is_insufficient_scope(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    fake_fly.fail_next("/apps", 400, {"error": "invalid org_slug"}, method="POST")
    answer = await check(fake_fly, "fo1_org", "widgets")
    assert (answer["status"], answer["message"]) == ("insufficient_scope", "invalid org_slug")


async def test_another_fly_failure_is_an_error_with_flys_message(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    fake_fly.fail_next("/apps", 500, {"error": "internal failure in ams"}, method="POST")
    answer = await check(fake_fly, "fo1_org", "widgets")
    assert (answer["ok"], answer["status"], answer["message"]) == (False, "error", "internal failure in ams")


async def test_an_unreachable_fly_is_an_error():
    fly = FakeFly()  # never started: nothing listens on its port
    answer = await check(fly, "fo1_org", "widgets")
    assert (answer["ok"], answer["status"]) == (False, "error")
    assert "unreachable" in answer["message"]


def launch(execution_id: str = "task_1") -> RunnerLaunch:
    return RunnerLaunch(
        execution_id=execution_id, task_id="acme/widgets#11", repo_full_name="acme/widgets",
        clone_url="https://github.com/acme/widgets.git", issue_number=11, agent="mock", agent_command="true",
        prompt="## Task", branch=f"capstan/{execution_id}", base_branch="main",
        callback_url="http://capstan.test/api/callbacks/complete", image="registry.example/runner:7", cpus=4,
        memory_mb=4096)


async def test_a_machine_is_started_from_the_image_and_destroyed_with_force(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    fake_fly.add_app("widgets-runs")
    machines = FlyMachines(fake_fly.url, "fo1_org", "widgets-runs", timeout=TIMEOUT)

    machine_id = await machines.create(launch(), {"TASK_ID": "task_1"})

    machine = fake_fly.machine(machine_id)
    assert (machine.image, machine.env, machine.state) == ("registry.example/runner:7", {"TASK_ID": "task_1"},
                                                           "started")
    assert machine.guest == {"cpu_kind": "shared", "cpus": 4, "memory_mb": 4096}
    assert machine.config["auto_destroy"] is True
    await machines.destroy(machine_id)
    assert fake_fly.machine(machine_id).state == "destroyed"
    [delete] = fake_fly.requests_to(f"/machines/{machine_id}", method="DELETE")
    assert delete.query == {"force": "true"}
    await machines.destroy(machine_id)  # already gone: nothing to do


async def test_a_refused_machine_is_a_fly_error_without_the_token(fake_fly):
    fake_fly.add_token("fo1_secret_token", org_slug="personal")
    fake_fly.add_app("widgets-runs")
    fake_fly.fail_next("/machines", 422, {"error": "bad image for token fo1_secret_token"}, method="POST")
    machines = FlyMachines(fake_fly.url, "fo1_secret_token", "widgets-runs", timeout=TIMEOUT)
    with pytest.raises(FlyError) as raised:
        await machines.create(launch(), {})
    assert raised.value.status == 422
    assert "fo1_secret_token" not in str(raised.value) and "***" in str(raised.value)
    assert "fo1_secret_token" not in repr(machines)


async def test_a_start_tried_again_finds_the_machine_its_lost_answer_made(fake_fly):
    fake_fly.add_token("fo1_org", org_slug="personal")
    fake_fly.add_app("widgets-runs")
    machines = FlyMachines(fake_fly.url, "fo1_org", "widgets-runs", timeout=TIMEOUT)

    first = await machines.create(launch("task_2"), {"TASK_ID": "task_2"})
    again = await machines.create(launch("task_2"), {"TASK_ID": "task_2"})  # the activity, retried
    other = await machines.create(launch("task_3"), {"TASK_ID": "task_3"})

    assert again == first and other != first
    assert [m.id for m in fake_fly.machines("widgets-runs")] == [first, other]
    await machines.destroy(first)
    assert await machines.create(launch("task_2"), {}) != first  # a destroyed machine is not reused
