"""A user's config: defaults, secrets split out on save, nothing secret shown, the providers list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from models.tasks.agents import REQUIREMENT_SECRETS
from models.tasks.config import (
    DEFAULT_CONFIG,
    credentials_writes,
    effective_config,
    fly_put,
    is_repo_selected,
    normalise_fly_app_name,
    provider_writes,
    split_config_put,
)
from models.tasks.config_views import (
    AnthropicValidation,
    FlySetupPublic,
    FlyValidation,
    LegacyCredentialStatus,
    SecretStatus,
    TasksConfigPublic,
    providers_answer,
    public_config,
    secret_status,
)

CHANGED = datetime(2026, 5, 13, 10, 0, tzinfo=UTC)


def test_the_default_config():
    assert DEFAULT_CONFIG["version"] == "1.0.0"
    assert DEFAULT_CONFIG["executionMode"] == "cloud"
    assert {name: entry["enabled"] for name, entry in DEFAULT_CONFIG["agents"].items()} == {
        "opencode": True, "claude-code": True, "amp": False}
    assert DEFAULT_CONFIG["settings"] == {"maxRetries": 3, "taskTimeout": 90, "pollInterval": 10}
    assert DEFAULT_CONFIG["onboarding"] == {"completed": False, "selectedRepos": [],
                                            "enabledAgents": ["opencode", "claude-code"]}
    assert effective_config(None) == DEFAULT_CONFIG
    assert effective_config(None) is not DEFAULT_CONFIG


def test_a_stored_config_is_read_over_the_defaults_section_by_section():
    config = effective_config({"executionMode": "priority", "settings": {"maxRetries": 1},
                               "agents": {"amp": {"enabled": True}}, "credentials": {"anthropic": "leak"},
                               "onboarding": "junk", "unknown": 1})
    assert config["executionMode"] == "priority"
    assert config["settings"] == {"maxRetries": 1, "taskTimeout": 90, "pollInterval": 10}
    assert config["agents"]["amp"] == {"enabled": True} and config["agents"]["opencode"]["enabled"] is True
    assert config["credentials"] == {} and config["onboarding"] == DEFAULT_CONFIG["onboarding"]
    assert "unknown" not in config


def full_body(**fields) -> dict:
    repo = {"id": 5, "fullName": "acme/widgets", "owner": "acme", "name": "widgets", "private": True}
    body = {"version": "1.0.0", "executionMode": "priority", "flyToken": "fly-secret", "flyAppName": " my-app ",
            "agents": {"amp": {"enabled": True, "priority": 1, "customPrompt": "be brief"}},
            "credentials": {"anthropic": "sk-ant", "openai": "", "amp": None},
            "providerCredentials": {"openrouter": {"OPENROUTER_API_KEY": "or-key", "OTHER_KEY": ""}},
            "settings": {"maxRetries": 0, "taskTimeout": 30, "pollInterval": 5},
            "onboarding": {"completed": True, "selectedRepos": [repo], "enabledAgents": ["amp"]},
            "secretStatus": {"ignored": True}}
    return {**body, **fields}


def test_a_put_splits_the_secrets_out_and_stores_the_rest():
    stored, writes = split_config_put(full_body())
    assert writes == {"flyToken": "fly-secret", "anthropic.ANTHROPIC_API_KEY": "sk-ant",
                      "openrouter.OPENROUTER_API_KEY": "or-key"}
    assert stored == {
        "version": "1.0.0", "executionMode": "priority", "flyAppName": "my-app",
        "agents": {"opencode": {"enabled": True, "priority": 1}, "claude-code": {"enabled": True, "priority": 2},
                   "amp": {"enabled": True, "priority": 1, "customPrompt": "be brief"}},
        "settings": {"maxRetries": 0, "taskTimeout": 30, "pollInterval": 5},
        "onboarding": {"completed": True, "enabledAgents": ["amp"], "selectedRepos": [
            {"id": 5, "fullName": "acme/widgets", "owner": "acme", "name": "widgets", "private": True}]},
    }
    assert "sk-ant" not in repr(stored) and "fly-secret" not in repr(stored)


def test_the_config_a_get_shows_can_be_put_back_without_touching_any_secret():
    shown = public_config(None, secret_status({"flyToken": CHANGED}, None))
    stored, writes = split_config_put(shown.model_dump(mode="json"))
    assert writes == {}
    assert effective_config(stored) == DEFAULT_CONFIG


def test_an_empty_put_stores_the_defaults():
    stored, writes = split_config_put({})
    assert writes == {} and effective_config(stored) == DEFAULT_CONFIG


@pytest.mark.parametrize(("body", "message"), [
    ([], "must be a JSON object"),
    ({"executionMode": "fast"}, "executionMode"),
    ({"flyToken": 5}, "flyToken"),
    ({"settings": {"maxRetries": "3"}}, "settings.maxRetries"),
    ({"settings": {"taskTimeout": 0}}, "settings.taskTimeout"),
    ({"agents": {"amp": {"enabled": "yes"}}}, "agents.amp.enabled"),
    ({"onboarding": {"completed": 1}}, "onboarding.completed"),
    ({"onboarding": {"selectedRepos": [{"id": "5"}]}}, "onboarding.selectedRepos.0"),
    ({"credentials": {"anthropic": 1}}, "credentials.anthropic"),
    ({"providerCredentials": {"Open Router": {"KEY": "x"}}}, "provider 'Open Router' must match"),
    ({"providerCredentials": {"openrouter": {"lower": "x"}}}, "key 'lower' must match"),
    ({"providerCredentials": {"openrouter": "x"}}, "providerCredentials.openrouter"),
])
def test_a_put_with_wrong_types_says_which_field(body, message):
    with pytest.raises(ValueError, match=message):
        split_config_put(body)


def test_credentials_writes_map_to_the_provider_secrets_and_empty_clears():
    assert credentials_writes({"anthropic": " sk-ant \n", "openai": "", "other": "x"}) == {
        "anthropic.ANTHROPIC_API_KEY": "sk-ant", "openai.OPENAI_API_KEY": None}
    assert credentials_writes({}) == {}
    with pytest.raises(ValueError, match="amp must be a string"):
        credentials_writes({"amp": None})
    with pytest.raises(ValueError, match="JSON object"):
        credentials_writes("sk-ant")


def test_provider_writes_check_names_and_empty_deletes():
    assert provider_writes({"google": {"GEMINI_API_KEY": "g", "GOOGLE_GENERATIVE_AI_API_KEY": ""}}) == {
        "google.GEMINI_API_KEY": "g", "google.GOOGLE_GENERATIVE_AI_API_KEY": None}
    for body, message in [({"Google": {"KEY": "x"}}, "provider"), ({"google": {"key": "x"}}, "key"),
                          ({"google": {"KEY": 1}}, "google.KEY must be a string"), ({"google": ["x"]}, "object")]:
        with pytest.raises(ValueError, match=message):
            provider_writes(body)


def test_the_secret_status_says_what_is_set_and_when_never_the_value():
    status = secret_status({"anthropic.ANTHROPIC_API_KEY": CHANGED, "openrouter.OPENROUTER_API_KEY": CHANGED,
                            "flyToken": CHANGED}, "my-app")
    assert status.model_dump() == {
        "providerCredentials": {"anthropic": {"ANTHROPIC_API_KEY": "configured"},
                                "openrouter": {"OPENROUTER_API_KEY": "configured"}},
        "legacy": {"anthropic": "configured", "amp": "not_configured", "openai": "not_configured"},
        "flyToken": "configured", "flyAppName": "configured",
        "changedAt": {"anthropic.ANTHROPIC_API_KEY": "2026-05-13T10:00:00.000Z", "flyToken": "2026-05-13T10:00:00.000Z",
                      "openrouter.OPENROUTER_API_KEY": "2026-05-13T10:00:00.000Z"}}
    empty = secret_status({}, "")
    assert (empty.flyToken, empty.flyAppName, empty.providerCredentials.root) == ("not_configured",
                                                                                "not_configured", {})


def test_a_get_shows_no_secret_and_warns_about_enabled_agents_without_credentials():
    stored, _ = split_config_put(full_body())
    shown = public_config(stored, secret_status({"flyToken": CHANGED}, "my-app"))
    assert (shown.flyToken, shown.credentials, shown.providerCredentials) == ("", {}, {})
    assert shown.secretStatus.flyToken == "configured"
    assert shown.warnings == ["opencode: missing Anthropic credentials.",
                                 "claude-code: missing Anthropic credentials.", "amp: missing Amp credentials."]
    ready = public_config(None, secret_status({"anthropic.ANTHROPIC_API_KEY": CHANGED}, None))
    assert ready.warnings == []


def test_a_repository_is_selected_until_onboarding_completes_then_only_the_chosen_ones():
    assert is_repo_selected({}, "acme/widgets", 5)
    stored, _ = split_config_put(full_body())
    assert is_repo_selected(stored, "ACME/Widgets", None)
    assert is_repo_selected(stored, "acme/renamed", 5)
    assert not is_repo_selected(stored, "acme/other", 6)


@pytest.mark.parametrize(("name", "normalised"), [
    ("My App", "my-app"), ("--a__b--", "a-b"), ("ok-123", "ok-123"), ("Ünïcode!", "n-code"), ("x" * 70, "x" * 63),
    ("a" * 62 + "-b", "a" * 62),
])
def test_fly_app_names_are_normalised(name, normalised):
    assert normalise_fly_app_name(name) == normalised


def test_the_fly_put_body():
    assert fly_put({"flyToken": " ", "flyAppName": "My App", "validate": True, "setupMode": "deploy"}) == {
        "flyToken": None, "flyAppName": "my-app", "validate": True, "setupMode": "deploy"}
    assert fly_put({}) == {"flyToken": None, "flyAppName": None, "validate": False, "setupMode": "org"}
    for body, message in [({"flyToken": 1}, "flyToken"), ({"validate": "yes"}, "validate"),
                          ({"setupMode": "cloud"}, "setupMode"), ([], "JSON object")]:
        with pytest.raises(ValueError, match=message):
            fly_put(body)


def test_the_providers_answer():
    answer = providers_answer().model_dump()
    assert answer["featuredIds"] == ["anthropic", "openai", "google", "openrouter", "amp", "xai", "groq", "deepseek",
                                     "zai", "moonshotai"]
    assert [provider["id"] for provider in answer["featured"]] == answer["featuredIds"]
    by_id = {provider["id"]: provider for provider in answer["all"]}
    assert set(answer["featuredIds"]) <= set(by_id)
    assert by_id["google"]["env"] == ["GOOGLE_GENERATIVE_AI_API_KEY", "GEMINI_API_KEY"]
    assert by_id["zai"]["env"] == ["ZHIPU_API_KEY"] and by_id["moonshotai"]["env"] == ["MOONSHOT_API_KEY"]
    assert by_id["anthropic"] == {"id": "anthropic", "name": "Anthropic", "env": ["ANTHROPIC_API_KEY"],
                                  "domain": "anthropic.com", "doc": "https://docs.anthropic.com"}
    providers_answer().all[0].env.append("MUTATED")
    assert providers_answer().all[0].env == ["ANTHROPIC_API_KEY"]


@pytest.mark.parametrize("value", ["sk-ant\u00e9", "two words", "tab\tinside", "x" * 4097])
def test_keys_and_tokens_are_printable_ascii_without_spaces(value):
    for parse, body in ((credentials_writes, {"anthropic": value}), (fly_put, {"flyToken": value}),
                        (provider_writes, {"openai": {"OPENAI_API_KEY": value}}),
                        (split_config_put, {"flyToken": value})):
        with pytest.raises(ValueError, match="printable ASCII") as raised:
            parse(body)
        assert value not in str(raised.value)


def test_the_typed_answers_cannot_carry_a_secret():
    """``flyToken`` is typed as the empty string: a code path that put the token in an answer fails loudly."""
    shown = public_config(None, secret_status({"flyToken": CHANGED}, "my-app")).model_dump()
    with pytest.raises(ValidationError, match="flyToken"):
        TasksConfigPublic.model_validate({**shown, "flyToken": "fo1_token"})
    with pytest.raises(ValidationError, match="flyToken"):
        FlySetupPublic(flyToken="fo1_token", flyAppName="a", setupMode="org", validation=FlyValidation(
            ok=True, status="ready", message="", appCreated=False, mode="org"))
    assert set(SecretStatus.model_fields) == {"providerCredentials", "legacy", "flyToken", "flyAppName", "changedAt"}
    assert list(LegacyCredentialStatus.model_fields) == list(REQUIREMENT_SECRETS)


def test_optional_fields_are_absent_from_an_answer_never_null():
    unknown = FlyValidation(ok=False, status="missing_token", message="No Fly token is stored.", appCreated=False,
                            mode="org")
    assert unknown.model_dump_json() == ('{"ok":false,"status":"missing_token","message":"No Fly token is stored.",'
                                         '"appCreated":false,"mode":"org"}')
    assert '"flyAppName":""' in unknown.model_copy(update={"flyAppName": ""}).model_dump_json()
    assert AnthropicValidation(ok=True, status="ready").model_dump_json() == '{"ok":true,"status":"ready"}'
    stored, _ = split_config_put({"agents": {"amp": {"enabled": True}}})
    agents = public_config(stored, secret_status({}, None)).model_dump(mode="json")["agents"]
    assert agents["amp"] == {"enabled": True} and agents["opencode"] == {"enabled": True, "priority": 1}
