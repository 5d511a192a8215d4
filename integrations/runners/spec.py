"""A runner's environment: what the launch (no secrets, it goes through Temporal history) and the
secrets (opened inside the activity, never returned) become for the runner and for the agent."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.tasks.workflow_io import RunnerLaunch

__all__ = ["RunnerLaunch", "RunnerSecrets", "agent_env", "runner_env"]


@dataclass(repr=False)
class RunnerSecrets:
    github_token: str
    callback_token: str
    #: Provider keys by environment name (``ANTHROPIC_API_KEY``, every ``providerCredentials`` key).
    provider_env: dict[str, str] = field(default_factory=dict)
    fly_token: str | None = None
    fly_app: str | None = None

    def __repr__(self) -> str:  # never a value in a log line or a traceback
        return f"RunnerSecrets(provider_env={sorted(self.provider_env)}, fly_app={self.fly_app!r})"

    def values(self) -> list[str]:
        """Every secret value, to scrub from text that leaves the runner."""
        return [v for v in (self.github_token, self.callback_token, self.fly_token, *self.provider_env.values()) if v]

    def scrub(self, text: str) -> str:
        """``text`` with every secret value of the run replaced by ``***`` (longest first, so a secret that
        contains another is replaced whole)."""
        for value in sorted(self.values(), key=len, reverse=True):
            text = text.replace(value, "***")
        return text


def runner_env(launch: RunnerLaunch, secrets: RunnerSecrets) -> dict[str, str]:
    """The runner contract's environment (the original's names, plus Capstan's two ids)."""
    return {
        **secrets.provider_env,
        "TASK_ID": launch.execution_id,
        "CAPSTAN_TASK_ID": launch.task_id,
        "CAPSTAN_EXECUTION_ID": launch.execution_id,
        "REPO_FULL_NAME": launch.repo_full_name,
        "REPO_URL": launch.clone_url,
        "ISSUE_NUMBER": str(launch.issue_number),
        "AGENT": launch.agent,
        "PROMPT": launch.prompt,
        "BRANCH": launch.branch,
        "BRANCH_NAME": launch.branch,
        "BASE_BRANCH": launch.base_branch,
        "GITHUB_TOKEN": secrets.github_token,
        "CALLBACK_URL": launch.callback_url,
        "CALLBACK_TOKEN": secrets.callback_token,
    }


def agent_env(launch: RunnerLaunch, secrets: RunnerSecrets) -> dict[str, str]:
    """What the local agent process sees: the runner's environment without the GitHub token (the runner
    around the agent pushes with it). ``REPO_URL`` is the clone URL as given, which holds no credentials."""
    env = runner_env(launch, secrets)
    del env["GITHUB_TOKEN"]
    return env
