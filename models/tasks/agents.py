"""The agents a task can run, what each needs before it may run, and the built-in mock agent.

The catalog is the built-ins plus ``CAPSTAN_TASKS_AGENTS`` (JSON ``{"<name>": "<command>"}`` or
``{"<name>": {"command": ..., "requires": [<provider>, ...]}}``). A command runs as ``/bin/sh -c <command>``
in the clone, with the prompt in ``$PROMPT``; ``None`` is the built-in mock agent (:data:`MOCK_AGENT_SCRIPT`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
PROVIDER_ID = re.compile(r"^[a-z0-9-]+$")
FALLBACK_AGENT = "opencode"
_ALIASES = {"claude": "claude-code"}

PROVIDER_NAMES = {
    "anthropic": "Anthropic",
    "openai": "OpenAI",
    "google": "Google",
    "openrouter": "OpenRouter",
    "amp": "Amp",
    "xai": "xAI",
    "groq": "Groq",
    "deepseek": "DeepSeek",
    "zai": "Z.AI",
    "moonshotai": "Moonshot AI",
    "mistral": "Mistral",
    "cerebras": "Cerebras",
}
#: The secret (``task_user_secrets.name``) each legacy requirement needs; other providers need any ``<p>.<KEY>``.
REQUIREMENT_SECRETS = {
    "anthropic": "anthropic.ANTHROPIC_API_KEY",
    "amp": "amp.AMP_API_KEY",
    "openai": "openai.OPENAI_API_KEY",
}

UNKNOWN_AGENT_SUMMARY = "Task blocked: unknown agent."
MISSING_FLY_SETUP_SUMMARY = "Task blocked: missing Fly setup."


@dataclass(frozen=True)
class AgentSpec:
    name: str
    #: The shell command line; ``None`` = the built-in mock agent.
    command: str | None
    #: Provider ids whose credentials must be set (``anthropic``, ``amp``, ...).
    requires: tuple[str, ...] = ()


BUILTIN_AGENTS: dict[str, AgentSpec] = {
    spec.name: spec
    for spec in (
        AgentSpec("mock", None),
        AgentSpec("opencode", 'opencode run --model anthropic/claude-sonnet-4 "$PROMPT"', ("anthropic",)),
        AgentSpec("claude-code", 'claude -p "$PROMPT" --dangerously-skip-permissions', ("anthropic",)),
        AgentSpec("amp", 'amp -x "$PROMPT" --dangerously-allow-all', ("amp",)),
    )
}


def normalise_agent(name: str) -> str:
    """Lowercased, with the alias ``claude`` → ``claude-code``."""
    lowered = name.strip().lower()
    return _ALIASES.get(lowered, lowered)


def _configured_spec(name: str, value: Any, builtin: AgentSpec | None) -> AgentSpec:
    where = f"CAPSTAN_TASKS_AGENTS: agent {name!r}"
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{where} has an empty command")
        return AgentSpec(name, value, builtin.requires if builtin else ())
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a command string or an object with a command")
    if "command" in value or builtin is None:
        command = value.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ValueError(f"{where} needs a non-empty string command")
    else:
        command = builtin.command
    requires = value.get("requires", list(builtin.requires) if builtin else [])
    if not isinstance(requires, list) or not all(isinstance(p, str) and PROVIDER_ID.match(p) for p in requires):
        raise ValueError(f"{where}: requires must be a list of provider ids such as \"anthropic\"")
    return AgentSpec(name, command, tuple(requires))


def agent_catalog(agents_json: str | None) -> dict[str, AgentSpec]:
    """The built-in agents with the setting's additions and overrides; ``ValueError`` for a bad setting."""
    catalog = dict(BUILTIN_AGENTS)
    if not agents_json or not agents_json.strip():
        return catalog
    try:
        configured = json.loads(agents_json)
    except ValueError as err:
        raise ValueError(f"CAPSTAN_TASKS_AGENTS is not valid JSON: {err}") from None
    if not isinstance(configured, dict):
        raise ValueError('CAPSTAN_TASKS_AGENTS must be a JSON object {"<name>": "<command>"}')
    for raw_name, value in configured.items():
        name = normalise_agent(raw_name)
        if not AGENT_NAME.match(name):
            raise ValueError(f"CAPSTAN_TASKS_AGENTS: agent name {raw_name!r} must match [a-z0-9][a-z0-9-]*")
        catalog[name] = _configured_spec(name, value, catalog.get(name))
    return catalog


def default_agent(config: Mapping[str, Any], catalog: Collection[str]) -> str:
    """The commenter's first enabled agent (``onboarding.enabledAgents``, then ``agents`` with ``enabled: true``)
    that this server knows, else ``opencode``."""
    onboarding = config.get("onboarding")
    enabled = onboarding.get("enabledAgents") if isinstance(onboarding, dict) else None
    candidates = [name for name in enabled if isinstance(name, str)] if isinstance(enabled, list) else []
    agents = config.get("agents")
    if isinstance(agents, dict):
        candidates += [name for name, entry in agents.items()
                       if isinstance(entry, dict) and entry.get("enabled") is True]
    for name in candidates:
        if normalise_agent(name) in catalog:
            return normalise_agent(name)
    return FALLBACK_AGENT


def _disabled(agent: str, config: Mapping[str, Any]) -> bool:
    agents = config.get("agents")
    if not isinstance(agents, dict):
        return False
    return any(isinstance(entry, dict) and entry.get("enabled") is False
               for name, entry in agents.items() if normalise_agent(name) == agent)


def _has_credentials(provider: str, secret_names: Collection[str]) -> bool:
    if provider in REQUIREMENT_SECRETS:
        return REQUIREMENT_SECRETS[provider] in secret_names
    return any(name.startswith(f"{provider}.") for name in secret_names)


def missing_credentials_summary(provider: str) -> str:
    return f"Task blocked: missing {PROVIDER_NAMES.get(provider, provider)} credentials."


def blocked_reason(agent: str, catalog: Mapping[str, AgentSpec], config: Mapping[str, Any],
                   secret_names: Collection[str]) -> str | None:
    """Why ``agent`` may not run for this user (the task's blocked summary), or ``None`` when it is ready.

    ``config`` is the user's effective config (``models.tasks.config.effective_config``: the defaults disable amp);
    ``secret_names`` the names of their stored secrets.
    """
    name = normalise_agent(agent)
    spec = catalog.get(name)
    if spec is None or _disabled(name, config):
        return UNKNOWN_AGENT_SUMMARY
    for provider in spec.requires:
        if not _has_credentials(provider, secret_names):
            return missing_credentials_summary(provider)
    return None


def fly_blocked_reason(config: Mapping[str, Any], secret_names: Collection[str]) -> str | None:
    """The fly runner needs the user's Fly token and app name."""
    app = config.get("flyAppName")
    if "flyToken" not in secret_names or not isinstance(app, str) or not app.strip():
        return MISSING_FLY_SETUP_SUMMARY
    return None


#: The mock agent: writes ``capstan-mock.txt`` with the task id and the prompt's "Additional Instructions"
#: (deterministic, no model). It does not commit; the runner commits what an agent leaves.
MOCK_AGENT_SCRIPT = r"""set -eu
instructions=$(printf '%s\n' "$PROMPT" | awk '
  $0 == "## Execution Contract" { contract = 1 }
  inside && $0 == "## Output Expectations" { exit }
  inside { if ($0 == "") { blanks++ } else { while (blanks > 0) { print ""; blanks-- } print } }
  contract && $0 == "## Additional Instructions" { inside = 1 }
')
{
  printf 'Capstan mock agent\n'
  printf 'Task: %s\n' "$CAPSTAN_TASK_ID"
  printf 'Instructions:\n%s\n' "${instructions:-(none)}"
} > capstan-mock.txt
"""
