"""The config routes a signed-in user's settings page calls, over real HTTP, with Fly and Anthropic
played by fakes: what each answers, what it stores, and how each refuses a bad body."""

from __future__ import annotations

import pytest

from capstan.settings import Settings
from tests.e2e.tasks.fly_support import ANTHROPIC_KEY, FLY_APP, FLY_TOKEN, point_at_fakes, store_fly_setup
from tests.e2e.tasks.support import github_world
from tests.support import assert_error

DEFAULT_AGENTS = {"opencode": {"enabled": True, "priority": 1}, "claude-code": {"enabled": True, "priority": 2},
                  "amp": {"enabled": False, "priority": 3}}
NOT_CONFIGURED = {"anthropic": "not_configured", "openai": "not_configured", "amp": "not_configured"}


@pytest.fixture
def fakes_settings(tasks_settings: Settings, fake_fly, fake_anthropic) -> Settings:
    """Fly and Anthropic calls go to the fakes (set before the API starts)."""
    return point_at_fakes(tasks_settings, fake_fly, fake_anthropic)


@pytest.fixture
async def signed_in(fakes_settings, live_api, fake_github, tmp_path):
    """alice signed in (her App installed on acme/widgets); the API client carries her session."""
    await github_world(live_api, fake_github, tmp_path)
    return live_api


async def config_of(client) -> dict:
    answer = await client.get("/api/config")
    assert answer.status_code == 200, answer.text
    return answer.json()


# --- GET/PUT /api/config -----------------------------------------------------------------------------

async def test_every_config_route_needs_a_session(fakes_settings, live_api):
    for method, path in [("GET", "/api/config"), ("PUT", "/api/config"), ("PUT", "/api/config/credentials"),
                         ("GET", "/api/config/provider-credentials"), ("PUT", "/api/config/provider-credentials"),
                         ("PUT", "/api/config/fly"), ("GET", "/api/config/providers"),
                         ("POST", "/api/config/validate/anthropic"), ("GET", "/api/config/validate/anthropic"),
                         ("POST", "/api/config/validate/fly"), ("GET", "/api/config/validate/fly")]:
        answer = await live_api.request(method, path, json={} if method == "PUT" else None)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["error"] == "unauthorized"


async def test_a_new_user_gets_the_default_config_with_nothing_configured(signed_in):
    config = await config_of(signed_in)

    assert config["version"] == "1.0.0" and config["executionMode"] == "cloud"
    assert (config["flyToken"], config["flyAppName"], config["credentials"], config["providerCredentials"]) == (
        "", "", {}, {})
    assert config["agents"] == DEFAULT_AGENTS
    assert config["settings"] == {"maxRetries": 3, "taskTimeout": 90, "pollInterval": 10}
    # signing in with the App installed completed onboarding with the installation's repositories
    onboarding = config["onboarding"]
    assert onboarding["completed"] is True and onboarding["enabledAgents"] == ["opencode", "claude-code"]
    assert [repo["fullName"] for repo in onboarding["selectedRepos"]] == ["acme/widgets"]
    assert config["secretStatus"] == {"providerCredentials": {}, "legacy": NOT_CONFIGURED,
                                      "flyToken": "not_configured", "flyAppName": "not_configured", "changedAt": {}}
    assert len(config["warnings"]) == 2
    assert all("Anthropic" in warning for warning in config["warnings"]), config["warnings"]


async def test_a_put_stores_the_config_and_its_secrets_and_answers_without_them(signed_in):
    body = {
        "version": "1.0.0", "executionMode": "priority", "flyToken": FLY_TOKEN, "flyAppName": FLY_APP,
        "agents": {"opencode": {"enabled": False, "priority": 5}, "amp": {"enabled": True, "priority": 1,
                                                                          "customPrompt": "Be brief."}},
        "credentials": {"anthropic": ANTHROPIC_KEY, "amp": "amp-key-0123"},
        "providerCredentials": {"openrouter": {"OPENROUTER_API_KEY": "or-key-0123"}},
        "settings": {"maxRetries": 1, "taskTimeout": 30, "pollInterval": 5},
        "onboarding": {"completed": True, "enabledAgents": ["amp"], "selectedRepos": [
            {"id": 99, "fullName": "acme/gadgets", "owner": "acme", "name": "gadgets", "private": True}]},
        "somethingElse": {"ignored": True},
    }

    answer = await signed_in.put("/api/config", json=body)

    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown == await config_of(signed_in)
    assert "somethingElse" not in shown
    assert (shown["flyToken"], shown["credentials"], shown["providerCredentials"]) == ("", {}, {})
    assert (shown["executionMode"], shown["flyAppName"]) == ("priority", FLY_APP)
    assert shown["agents"]["opencode"] == {"enabled": False, "priority": 5}
    assert shown["agents"]["amp"] == {"enabled": True, "priority": 1, "customPrompt": "Be brief."}
    assert shown["agents"]["claude-code"] == DEFAULT_AGENTS["claude-code"]
    assert shown["settings"] == {"maxRetries": 1, "taskTimeout": 30, "pollInterval": 5}
    assert shown["onboarding"]["selectedRepos"] == body["onboarding"]["selectedRepos"]
    status = shown["secretStatus"]
    assert status["legacy"] == {"anthropic": "configured", "openai": "not_configured", "amp": "configured"}
    assert status["providerCredentials"] == {"amp": {"AMP_API_KEY": "configured"},
                                             "anthropic": {"ANTHROPIC_API_KEY": "configured"},
                                             "openrouter": {"OPENROUTER_API_KEY": "configured"}}
    assert (status["flyToken"], status["flyAppName"]) == ("configured", "configured")
    assert set(status["changedAt"]) == {"flyToken", "anthropic.ANTHROPIC_API_KEY", "amp.AMP_API_KEY",
                                        "openrouter.OPENROUTER_API_KEY"}
    assert shown["warnings"] == []


async def test_empty_or_missing_secrets_in_a_put_keep_what_is_stored(signed_in):
    first = await signed_in.put("/api/config", json={
        "flyToken": FLY_TOKEN, "flyAppName": FLY_APP, "credentials": {"anthropic": ANTHROPIC_KEY},
        "providerCredentials": {"google": {"GEMINI_API_KEY": "gm-key-0123"}}})
    assert first.status_code == 200, first.text
    stored_status = first.json()["secretStatus"]

    # the settings page's round trip: GET, edit a field, PUT it all back (secret fields come back empty)
    edited = {**first.json(), "executionMode": "priority"}
    again = await signed_in.put("/api/config", json=edited)
    assert again.status_code == 200, again.text
    assert again.json()["executionMode"] == "priority"
    assert again.json()["secretStatus"] == stored_status

    # the secret fields left out entirely, or blank
    for body in ({"flyAppName": FLY_APP}, {"flyAppName": FLY_APP, "flyToken": "  ", "credentials": {"anthropic": ""},
                                          "providerCredentials": {"google": {"GEMINI_API_KEY": ""}}}):
        kept = await signed_in.put("/api/config", json=body)
        assert kept.status_code == 200, kept.text
        assert kept.json()["secretStatus"] == stored_status

    # a new value replaces the stored one
    replaced = await signed_in.put("/api/config", json={"credentials": {"anthropic": "sk-ant-another-one"}})
    changed = replaced.json()["secretStatus"]["changedAt"]
    assert changed["anthropic.ANTHROPIC_API_KEY"] > stored_status["changedAt"]["anthropic.ANTHROPIC_API_KEY"]
    assert changed["flyToken"] == stored_status["changedAt"]["flyToken"]


async def test_a_put_stores_the_fly_app_name_as_fly_spells_it(signed_in):
    answer = await signed_in.put("/api/config", json={"flyAppName": "  Widgets Runs!  "})
    assert answer.status_code == 200, answer.text
    assert answer.json()["flyAppName"] == "widgets-runs"
    assert (await config_of(signed_in))["flyAppName"] == "widgets-runs"


@pytest.mark.parametrize("body", [
    {"executionMode": "fastest"},
    {"flyAppName": 7},
    {"flyToken": 12345},
    {"agents": {"amp": {"enabled": "yes"}}},
    {"agents": ["opencode"]},
    {"credentials": {"anthropic": 42}},
    {"providerCredentials": {"openai": "sk-flat"}},
    {"providerCredentials": {"Open AI": {"OPENAI_API_KEY": "x"}}},
    {"providerCredentials": {"openai": {"openai_api_key": "x"}}},
    {"settings": {"maxRetries": "3"}},
    {"settings": {"taskTimeout": 0}},
    {"onboarding": {"completed": "true"}},
    {"onboarding": {"selectedRepos": [{"fullName": "acme/widgets"}]}},
    ["not", "an", "object"],
    "a string",
])
async def test_a_put_with_wrong_types_is_refused_and_changes_nothing(signed_in, body):
    before = await config_of(signed_in)
    answer = await signed_in.put("/api/config", json=body)
    assert_error(answer, 400)
    assert await config_of(signed_in) == before


async def test_malformed_json_and_nul_bytes_are_refused(signed_in):
    before = await config_of(signed_in)
    for path in ("/api/config", "/api/config/credentials", "/api/config/provider-credentials", "/api/config/fly"):
        malformed = await signed_in.put(path, content=b'{"flyAppName": ', headers={"Content-Type": "application/json"})
        assert_error(malformed, 400)
    nul = await signed_in.put("/api/config", json={"flyAppName": "widgets\u0000runs"})
    assert_error(nul, 400)
    nul_key = await signed_in.put("/api/config/credentials", json={"anthropic": "sk-ant\u0000"})
    assert_error(nul_key, 400)
    nul_custom = await signed_in.put("/api/config", json={"agents": {"amp": {"customPrompt": "a\u0000b"}}})
    assert_error(nul_custom, 400)
    assert await config_of(signed_in) == before


# --- credentials and provider credentials ------------------------------------------------------------

async def test_credentials_are_set_and_cleared_and_mirror_the_provider_keys(signed_in):
    answer = await signed_in.put("/api/config/credentials", json={"anthropic": ANTHROPIC_KEY, "openai": "sk-oa-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True
    assert body["secretStatus"]["legacy"] == {"anthropic": "configured", "openai": "configured",
                                              "amp": "not_configured"}
    assert body["secretStatus"] == (await config_of(signed_in))["secretStatus"]
    providers = await signed_in.get("/api/config/provider-credentials")
    assert providers.json() == {"anthropic": {"ANTHROPIC_API_KEY": "configured"},
                                "openai": {"OPENAI_API_KEY": "configured"}}

    # keys not named stay; "" clears
    cleared = await signed_in.put("/api/config/credentials", json={"openai": ""})
    assert cleared.json()["secretStatus"]["legacy"] == {"anthropic": "configured", "openai": "not_configured",
                                                        "amp": "not_configured"}
    # with the Anthropic key set, the agents that need it no longer warn
    assert (await config_of(signed_in))["warnings"] == []


@pytest.mark.parametrize("body", [{"anthropic": 5}, {"openai": None}, {"amp": ["x"]}, ["anthropic"]])
async def test_credentials_of_the_wrong_type_are_refused(signed_in, body):
    answer = await signed_in.put("/api/config/credentials", json=body)
    assert_error(answer, 400)
    assert (await config_of(signed_in))["secretStatus"]["legacy"] == NOT_CONFIGURED


async def test_provider_credentials_are_set_deleted_and_listed_by_name_only(signed_in):
    assert (await signed_in.get("/api/config/provider-credentials")).json() == {}

    answer = await signed_in.put("/api/config/provider-credentials", json={
        "google": {"GOOGLE_GENERATIVE_AI_API_KEY": "g-1", "GEMINI_API_KEY": "g-2"},
        "my-proxy": {"MY_PROXY_TOKEN_2": "p-1"}})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"google": {"GEMINI_API_KEY": "configured", "GOOGLE_GENERATIVE_AI_API_KEY": "configured"},
                             "my-proxy": {"MY_PROXY_TOKEN_2": "configured"}}
    assert (await signed_in.get("/api/config/provider-credentials")).json() == answer.json()

    deleted = await signed_in.put("/api/config/provider-credentials", json={"google": {"GEMINI_API_KEY": ""},
                                                                            "my-proxy": {"MY_PROXY_TOKEN_2": ""}})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"google": {"GOOGLE_GENERATIVE_AI_API_KEY": "configured"}}
    assert (await config_of(signed_in))["secretStatus"]["providerCredentials"] == deleted.json()


@pytest.mark.parametrize("body", [
    {"Google": {"GEMINI_API_KEY": "x"}},
    {"goo gle": {"GEMINI_API_KEY": "x"}},
    {"google": {"gemini_api_key": "x"}},
    {"google": {"1GEMINI": "x"}},
    {"google": {"GEMINI-API-KEY": "x"}},
    {"google": {"GEMINI_API_KEY": 1}},
    {"google": {"GEMINI_API_KEY": None}},
    {"google": "x"},
    ["google"],
])
async def test_bad_provider_or_key_names_are_refused_and_nothing_is_stored(signed_in, body):
    answer = await signed_in.put("/api/config/provider-credentials",
                                 json={"openai": {"OPENAI_API_KEY": "stored-only-if-all-valid"}, **body}
                                 if isinstance(body, dict) else body)
    assert_error(answer, 400)
    assert (await signed_in.get("/api/config/provider-credentials")).json() == {}


# --- fly ---------------------------------------------------------------------------------------------

async def test_fly_settings_saved_without_validation(signed_in, fake_fly):
    answer = await signed_in.put("/api/config/fly", json={"flyToken": FLY_TOKEN, "flyAppName": "Widgets Runs"})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"flyToken": "", "flyAppName": "widgets-runs", "setupMode": "org", "validation": {
        "ok": True, "status": "ready", "message": "Fly settings saved.", "appCreated": False,
        "flyAppName": "widgets-runs", "mode": "org"}}
    config = await config_of(signed_in)
    assert config["flyAppName"] == "widgets-runs" and config["flyToken"] == ""
    assert (config["secretStatus"]["flyToken"], config["secretStatus"]["flyAppName"]) == ("configured", "configured")
    assert fake_fly.requests == []

    # a blank token keeps the stored one; a new app name replaces the old
    renamed = await signed_in.put("/api/config/fly",
                                  json={"flyToken": "", "flyAppName": "other", "setupMode": "deploy"})
    assert renamed.json()["flyAppName"] == "other" and renamed.json()["setupMode"] == "deploy"
    assert renamed.json()["validation"]["mode"] == "deploy"
    assert (await config_of(signed_in))["secretStatus"]["flyToken"] == "configured"


async def test_fly_settings_validated_first_create_the_app_and_save_it(signed_in, fake_fly):
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")

    answer = await signed_in.put("/api/config/fly", json={"flyToken": FLY_TOKEN, "validate": True})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["flyToken"] == "" and body["setupMode"] == "org"
    validation = body["validation"]
    assert (validation["ok"], validation["status"], validation["appCreated"]) == (True, "ready", True)
    created = validation["flyAppName"]
    assert body["flyAppName"] == created and fake_fly.apps == {created: "personal"}
    config = await config_of(signed_in)
    assert config["flyAppName"] == created and config["secretStatus"]["flyToken"] == "configured"
    assert {r.headers["authorization"] for r in fake_fly.requests} == {f"Bearer {FLY_TOKEN}"}


async def test_fly_settings_that_fail_validation_are_not_saved(signed_in, fake_fly):
    await store_fly_setup(signed_in)
    before = await config_of(signed_in)

    answer = await signed_in.put("/api/config/fly", json={"flyToken": "fo1_wrong", "flyAppName": "elsewhere",
                                                         "validate": True, "setupMode": "deploy"})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"flyToken": "", "flyAppName": "elsewhere", "setupMode": "deploy", "validation": {
        "ok": False, "status": "invalid_token", "message": "Invalid Fly token.", "appCreated": False,
        "flyAppName": "elsewhere", "mode": "deploy"}}
    after = await config_of(signed_in)
    assert after["flyAppName"] == FLY_APP
    assert after["secretStatus"]["changedAt"] == before["secretStatus"]["changedAt"]


async def test_a_blank_token_validates_the_stored_one(signed_in, fake_fly):
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")
    fake_fly.add_app(FLY_APP)
    await store_fly_setup(signed_in)

    answer = await signed_in.put("/api/config/fly", json={"validate": True, "setupMode": "deploy"})

    assert answer.json()["validation"]["status"] == "ready", answer.text
    assert answer.json()["flyAppName"] == FLY_APP
    assert [r.headers["authorization"] for r in fake_fly.requests] == [f"Bearer {FLY_TOKEN}"] * 2


@pytest.mark.parametrize("body", [{"flyToken": 5}, {"flyAppName": ["a"]}, {"validate": "yes"},
                                  {"setupMode": "cluster"}, ["fly"]])
async def test_fly_settings_of_the_wrong_type_are_refused(signed_in, fake_fly, body):
    answer = await signed_in.put("/api/config/fly", json=body)
    assert_error(answer, 400)
    assert (await config_of(signed_in))["secretStatus"]["flyToken"] == "not_configured"
    assert fake_fly.requests == []


# --- providers ---------------------------------------------------------------------------------------

async def test_the_providers_list(signed_in):
    answer = await signed_in.get("/api/config/providers")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["featuredIds"] == ["anthropic", "openai", "google", "openrouter", "amp", "xai", "groq", "deepseek",
                                   "zai", "moonshotai"]
    assert [provider["id"] for provider in body["featured"]] == body["featuredIds"]
    env = {provider["id"]: provider["env"] for provider in body["featured"]}
    assert env == {"anthropic": ["ANTHROPIC_API_KEY"], "openai": ["OPENAI_API_KEY"],
                   "google": ["GOOGLE_GENERATIVE_AI_API_KEY", "GEMINI_API_KEY"],
                   "openrouter": ["OPENROUTER_API_KEY"], "amp": ["AMP_API_KEY"], "xai": ["XAI_API_KEY"],
                   "groq": ["GROQ_API_KEY"], "deepseek": ["DEEPSEEK_API_KEY"], "zai": ["ZHIPU_API_KEY"],
                   "moonshotai": ["MOONSHOT_API_KEY"]}
    all_ids = [provider["id"] for provider in body["all"]]
    assert set(body["featuredIds"]) <= set(all_ids) and len(all_ids) == len(set(all_ids))
    for provider in body["all"]:
        assert {"id", "name", "env", "domain"} <= set(provider) and provider["env"]


# --- validate/anthropic ------------------------------------------------------------------------------

async def test_anthropic_validation_without_a_key_is_missing(signed_in, fake_anthropic):
    for method in ("POST", "GET"):
        answer = await signed_in.request(method, "/api/config/validate/anthropic")
        body = assert_error(answer, 400)
        assert (body["ok"], body["status"]) == (False, "missing")
    assert fake_anthropic.requests == []


async def test_anthropic_validation_of_a_good_key_is_ready(signed_in, fake_anthropic):
    fake_anthropic.add_key(ANTHROPIC_KEY)
    await signed_in.put("/api/config/credentials", json={"anthropic": ANTHROPIC_KEY})

    for method in ("POST", "GET"):
        answer = await signed_in.request(method, "/api/config/validate/anthropic")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"ok": True, "status": "ready"}
    request = fake_anthropic.requests[-1]
    assert (request.method, request.path) == ("GET", "/v1/models")
    assert request.headers["x-api-key"] == ANTHROPIC_KEY and request.headers["anthropic-version"] == "2023-06-01"


async def test_anthropic_validation_of_a_refused_key_is_invalid(signed_in, fake_anthropic):
    await signed_in.put("/api/config/credentials", json={"anthropic": "sk-ant-revoked"})

    answer = await signed_in.post("/api/config/validate/anthropic")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["ok"], body["status"]) == (False, "invalid") and body["message"]
    assert "sk-ant-revoked" not in answer.text


async def test_anthropic_failing_is_a_bad_gateway(signed_in, fake_anthropic):
    fake_anthropic.add_key(ANTHROPIC_KEY)
    await signed_in.put("/api/config/credentials", json={"anthropic": ANTHROPIC_KEY})
    fake_anthropic.fail_next(500)

    answer = await signed_in.post("/api/config/validate/anthropic")

    body = assert_error(answer, 502)
    assert (body["ok"], body["status"]) == (False, "error")
    # the next check, Anthropic answering again, is ready
    assert (await signed_in.post("/api/config/validate/anthropic")).json() == {"ok": True, "status": "ready"}


# --- validate/fly --------------------------------------------------------------------------------------

async def validate_fly(client, mode: str | None = None, method: str = "POST") -> dict:
    answer = await client.request(method, "/api/config/validate/fly", params={"mode": mode} if mode else None)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_fly_validation_without_a_token_is_missing_token(signed_in, fake_fly):
    for method in ("POST", "GET"):
        assert await validate_fly(signed_in, method=method) == {
            "ok": False, "status": "missing_token", "message": "No Fly token is stored.", "appCreated": False,
            "mode": "org"}
    assert fake_fly.requests == []


async def test_fly_validation_of_a_ready_app(signed_in, fake_fly):
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")
    fake_fly.add_app(FLY_APP)
    await store_fly_setup(signed_in)

    for mode in (None, "org", "deploy"):
        answer = await validate_fly(signed_in, mode)
        assert answer == {"ok": True, "status": "ready", "message": f"Fly app {FLY_APP} is ready.",
                          "appCreated": False, "flyAppName": FLY_APP, "mode": mode or "org"}
    assert fake_fly.apps == {FLY_APP: "personal"}


async def test_fly_validation_of_an_unknown_token_is_invalid_token(signed_in, fake_fly):
    await store_fly_setup(signed_in, token="fo1_unknown")
    answer = await validate_fly(signed_in)
    assert (answer["ok"], answer["status"], answer["message"]) == (False, "invalid_token", "Invalid Fly token.")


async def test_fly_validation_of_a_token_without_scope_is_insufficient_scope(signed_in, fake_fly):
    fake_fly.add_token(FLY_TOKEN, org_slug="personal", can_read_self=False)
    await store_fly_setup(signed_in)
    answer = await validate_fly(signed_in)
    assert (answer["ok"], answer["status"]) == (False, "insufficient_scope")
    assert answer["message"] == "token lacks the scope to read its own permissions"

    # a deploy token asked to create an app it cannot
    fake_fly.add_token("fo1_deploy", apps=["one"])
    fake_fly.add_app("one")
    await store_fly_setup(signed_in, token="fo1_deploy", app="two")
    answer = await validate_fly(signed_in)
    assert (answer["ok"], answer["status"], answer["flyAppName"]) == (False, "insufficient_scope", "two")
    assert fake_fly.apps == {"one": "personal"}


async def test_fly_validation_in_deploy_mode_of_a_missing_app_is_app_not_found(signed_in, fake_fly):
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")
    await store_fly_setup(signed_in, app="gone")
    answer = await validate_fly(signed_in, "deploy")
    assert answer == {"ok": False, "status": "app_not_found", "message": "Fly app gone does not exist.",
                      "appCreated": False, "flyAppName": "gone", "mode": "deploy"}


async def test_fly_validation_without_an_app_and_several_to_choose_is_missing_app_name(signed_in, fake_fly):
    fake_fly.add_token(FLY_TOKEN, apps=["one", "two"])
    fake_fly.add_app("one")
    fake_fly.add_app("two")
    await store_fly_setup(signed_in, app="")
    for mode in ("org", "deploy"):
        answer = await validate_fly(signed_in, mode)
        assert (answer["ok"], answer["status"], answer["mode"]) == (False, "missing_app_name", mode)


async def test_fly_validation_of_a_taken_name_is_name_conflict(signed_in, fake_fly):
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")
    fake_fly.take_name(FLY_APP)
    await store_fly_setup(signed_in)
    answer = await validate_fly(signed_in)
    assert (answer["ok"], answer["status"], answer["flyAppName"]) == (False, "name_conflict", FLY_APP)


async def test_fly_validation_in_org_mode_creates_the_app_and_stores_its_name(signed_in, fake_fly):
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")
    await store_fly_setup(signed_in, app="")

    answer = await validate_fly(signed_in)

    assert (answer["ok"], answer["status"], answer["appCreated"]) == (True, "ready", True)
    created = answer["flyAppName"]
    assert answer["message"] == f"Fly app {created} created."
    assert fake_fly.apps == {created: "personal"}
    assert (await config_of(signed_in))["flyAppName"] == created
    # validating again finds it ready, creating nothing more
    again = await validate_fly(signed_in)
    assert (again["status"], again["appCreated"], again["flyAppName"]) == ("ready", False, created)
    assert list(fake_fly.apps) == [created]


async def test_fly_validation_when_fly_fails_is_an_error(signed_in, fake_fly):
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")
    await store_fly_setup(signed_in)
    fake_fly.fail_next("/tokens/current", 503, {"error": "Fly is under maintenance"})
    answer = await validate_fly(signed_in)
    assert (answer["ok"], answer["status"], answer["message"]) == (False, "error", "Fly is under maintenance")


async def test_fly_validation_mode_must_be_org_or_deploy(signed_in):
    answer = await signed_in.post("/api/config/validate/fly", params={"mode": "cluster"})
    assert_error(answer, 400)
