"""The agent catalog, readiness of an agent for a user, the default agent, and the mock agent's script."""

from __future__ import annotations

import json
import subprocess

import pytest

from models.tasks.agents import (
    BUILTIN_AGENTS,
    MOCK_AGENT_SCRIPT,
    AgentSpec,
    agent_catalog,
    blocked_reason,
    default_agent,
    fly_blocked_reason,
    normalise_agent,
)
from models.tasks.config import DEFAULT_CONFIG, effective_config
from models.tasks.prompt import build_prompt

ANTHROPIC = "anthropic.ANTHROPIC_API_KEY"


def test_the_builtin_agents_and_their_commands():
    catalog = agent_catalog(None)
    assert set(catalog) == {"mock", "opencode", "claude-code", "amp"}
    assert catalog["mock"] == AgentSpec("mock", None, ())
    assert catalog["opencode"].command == 'opencode run --model anthropic/claude-sonnet-4 "$PROMPT"'
    assert catalog["claude-code"] == AgentSpec("claude-code", 'claude -p "$PROMPT" --dangerously-skip-permissions',
                                               ("anthropic",))
    assert catalog["amp"] == AgentSpec("amp", 'amp -x "$PROMPT" --dangerously-allow-all', ("amp",))
    assert agent_catalog("  ") == catalog


def test_the_setting_adds_agents_and_overrides_builtin_commands():
    catalog = agent_catalog(json.dumps({
        "aider": "aider --message \"$PROMPT\"",
        "Claude": {"command": "my-claude \"$PROMPT\""},
        "codex": {"command": "codex exec \"$PROMPT\"", "requires": ["openai"]},
        "amp": {"requires": []},
    }))
    assert catalog["aider"] == AgentSpec("aider", 'aider --message "$PROMPT"', ())
    assert catalog["claude-code"] == AgentSpec("claude-code", 'my-claude "$PROMPT"', ("anthropic",))
    assert catalog["codex"].requires == ("openai",)
    assert catalog["amp"] == AgentSpec("amp", BUILTIN_AGENTS["amp"].command, ())
    assert "claude" not in catalog


@pytest.mark.parametrize(("setting", "message"), [
    ("{not json", "not valid JSON"),
    ('["aider"]', "must be a JSON object"),
    ('{"bad name!": "x"}', "must match"),
    ('{"aider": ""}', "empty command"),
    ('{"aider": 3}', "command string or an object"),
    ('{"aider": {"requires": []}}', "non-empty string command"),
    ('{"aider": {"command": "x", "requires": "anthropic"}}', "requires must be a list"),
    ('{"aider": {"command": "x", "requires": ["Bad Provider"]}}', "requires must be a list"),
])
def test_a_bad_setting_says_what_is_wrong(setting, message):
    with pytest.raises(ValueError, match=message) as caught:
        agent_catalog(setting)
    assert "CAPSTAN_TASKS_AGENTS" in str(caught.value)


def test_normalise_agent():
    assert normalise_agent(" Claude ") == "claude-code"
    assert normalise_agent("OpenCode") == "opencode"
    assert normalise_agent("claude-code") == "claude-code"


def test_the_default_agent_is_the_first_enabled_one_this_server_knows():
    catalog = agent_catalog(None)
    assert default_agent(DEFAULT_CONFIG, catalog) == "opencode"
    assert default_agent({"onboarding": {"enabledAgents": ["claude", "opencode"]}}, catalog) == "claude-code"
    assert default_agent({"onboarding": {"enabledAgents": []},
                          "agents": {"opencode": {"enabled": False}, "amp": {"enabled": True}}}, catalog) == "amp"
    assert default_agent({"onboarding": {"enabledAgents": ["aider", "mock"]}}, catalog) == "mock"
    assert default_agent({}, catalog) == "opencode"
    assert default_agent({"onboarding": "junk", "agents": ["junk"]}, catalog) == "opencode"


def test_an_agent_is_ready_when_known_enabled_and_its_credentials_are_set():
    catalog, config = agent_catalog(None), effective_config(None)
    assert blocked_reason("mock", catalog, config, set()) is None
    assert blocked_reason("opencode", catalog, config, {ANTHROPIC}) is None
    assert blocked_reason("claude", catalog, config, {ANTHROPIC}) is None


def test_an_unknown_or_disabled_agent_is_blocked_as_unknown():
    catalog, config = agent_catalog(None), effective_config(None)
    assert blocked_reason("aider", catalog, config, {ANTHROPIC}) == "Task blocked: unknown agent."
    # The default config disables amp.
    assert blocked_reason("amp", catalog, config, {"amp.AMP_API_KEY"}) == "Task blocked: unknown agent."
    disabled = effective_config({"agents": {"claude": {"enabled": False}}})
    assert blocked_reason("claude-code", catalog, disabled, {ANTHROPIC}) == "Task blocked: unknown agent."


def test_a_missing_credential_names_its_provider():
    catalog = agent_catalog('{"codex": {"command": "codex", "requires": ["openai"]},'
                            ' "kimi": {"command": "kimi", "requires": ["moonshotai"]},'
                            ' "other": {"command": "o", "requires": ["acme"]}}')
    config = effective_config({"agents": {"amp": {"enabled": True}}})
    assert blocked_reason("opencode", catalog, config, set()) == "Task blocked: missing Anthropic credentials."
    assert blocked_reason("amp", catalog, config, {ANTHROPIC}) == "Task blocked: missing Amp credentials."
    assert blocked_reason("codex", catalog, config, {ANTHROPIC}) == "Task blocked: missing OpenAI credentials."
    assert blocked_reason("kimi", catalog, config, set()) == "Task blocked: missing Moonshot AI credentials."
    assert blocked_reason("kimi", catalog, config, {"moonshotai.MOONSHOT_API_KEY"}) is None
    assert blocked_reason("other", catalog, config, set()) == "Task blocked: missing acme credentials."


def test_the_fly_runner_needs_a_token_and_an_app():
    assert fly_blocked_reason({"flyAppName": "app"}, {"flyToken"}) is None
    assert fly_blocked_reason({"flyAppName": "app"}, set()) == "Task blocked: missing Fly setup."
    assert fly_blocked_reason({"flyAppName": " "}, {"flyToken"}) == "Task blocked: missing Fly setup."


def run_mock_agent(tmp_path, instructions: str, agents_md: str | None = None) -> str:
    prompt = build_prompt(agent="mock", issue_number=7, issue_title="Typo", issue_body="## Additional Instructions\n"
                          "in the body does not count", agents_md=agents_md, instructions=instructions)
    env = {"PATH": "/usr/bin:/bin", "CAPSTAN_TASK_ID": "acme/widgets#7", "PROMPT": prompt}
    subprocess.run(["/bin/sh", "-c", MOCK_AGENT_SCRIPT], cwd=tmp_path, env=env, check=True, timeout=30)
    return (tmp_path / "capstan-mock.txt").read_text()


def test_the_mock_agent_writes_the_task_id_and_the_instructions(tmp_path):
    text = run_mock_agent(tmp_path, "fix the typo\n\nin README.md", agents_md="Use tabs.")
    assert text == "Capstan mock agent\nTask: acme/widgets#7\nInstructions:\nfix the typo\n\nin README.md\n"
    assert [path.name for path in tmp_path.iterdir()] == ["capstan-mock.txt"]


def test_the_mock_agent_is_deterministic_and_copes_without_instructions(tmp_path):
    assert run_mock_agent(tmp_path, "") == "Capstan mock agent\nTask: acme/widgets#7\nInstructions:\n(none)\n"
    assert run_mock_agent(tmp_path, "x 'quoted' $HOME `date`") == run_mock_agent(tmp_path, "x 'quoted' $HOME `date`")
    assert "x 'quoted' $HOME `date`" in run_mock_agent(tmp_path, "x 'quoted' $HOME `date`")
