"""The protocols surface's settings: webhooks and CI, how steps run, the forges that take pull requests.

Composed with the process settings in ``capstan.settings.Settings``; every field is listed in docs/settings.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from models.common.settings import SettingsBase, env_aliases


class WebhookSettings(SettingsBase):
    token: SecretStr | None = Field(
        None, validation_alias=env_aliases("WEBHOOK_TOKEN", "DEKSDENFLOW_WEBHOOK_TOKEN"),
        description="Secret for GitHub signatures and the GitLab token. Unset means webhooks are not verified.")
    auto_qa_on_ci: bool = Field(False, validation_alias=env_aliases("AUTO_QA_ON_CI", "DEKSDENFLOW_AUTO_QA_ON_CI"),
                                description="Run QA when CI reports success instead of completing the step.")


class ExecutionSettings(SettingsBase):
    """How protocol steps run."""

    auto_qa_after_exec: bool = Field(
        False, validation_alias=env_aliases("AUTO_QA_AFTER_EXEC", "DEKSDENFLOW_AUTO_QA_AFTER_EXEC"),
        description="Run a step's QA right after it executes.")
    command_engine: str | None = Field(
        None, validation_alias=env_aliases("COMMAND_ENGINE"),
        description="Shell command of the `command` engine (an agent CLI); gets the step file as stdin "
                    "and $CAPSTAN_STEP_FILE.")
    step_timeout_seconds: float = Field(3600.0, validation_alias=env_aliases("STEP_TIMEOUT"), gt=0,
                                        description="Longest a step's engine may run.")
    qa_timeout_seconds: float = Field(1800.0, validation_alias=env_aliases("QA_TIMEOUT"), gt=0,
                                      description="Longest a step's QA check may run.")
    activity_max_attempts: int = Field(
        3, validation_alias=env_aliases("ACTIVITY_MAX_ATTEMPTS"), ge=1, le=100,
        description="Tries of a step, QA or pull-request job before the step fails with job_failed.")
    history_limit: int = Field(
        5000, validation_alias=env_aliases("WORKFLOW_HISTORY_LIMIT"), ge=50, le=40000,
        description="History events after which a protocol run's workflow continues as new.")
    codemachine_root: Path | None = Field(
        None, validation_alias=env_aliases("CODEMACHINE_ROOT"),
        description="When set, CodeMachine workspaces must lie under this directory.")


class ForgeSettings(SettingsBase):
    github_api_url: str = Field("https://api.github.com", validation_alias=env_aliases("GITHUB_API_URL"),
                                description="GitHub REST API base URL: protocol runs' pull requests, and every "
                                            "GitHub call of the coding tasks (App tokens, issues, PRs, sign-in data).")
    github_token: SecretStr | None = Field(None, validation_alias=env_aliases("GITHUB_TOKEN"),
                                           description="Token for GitHub pull requests (a project's "
                                                       "secrets.github_token wins).")
    gitlab_api_url: str = Field("https://gitlab.com/api/v4", validation_alias=env_aliases("GITLAB_API_URL"),
                                description="GitLab REST API base URL.")
    gitlab_token: SecretStr | None = Field(None, validation_alias=env_aliases("GITLAB_TOKEN"),
                                           description="Token for GitLab merge requests (a project's "
                                                       "secrets.gitlab_token wins).")
    timeout_seconds: float = Field(30.0, validation_alias=env_aliases("FORGE_TIMEOUT"), gt=0,
                                   description="Timeout of one forge API call.")
