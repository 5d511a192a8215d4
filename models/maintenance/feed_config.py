"""The feed sources file: ``{"sources": [FeedSourceConfig, ...]}`` (camelCase, as operators write it).

The file is checked when it is read: a bad file or a bad source is reported by name in
``FeedSourcesFile.errors`` and the valid sources still run. Unknown keys are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

DEFAULT_POLL_INTERVAL_SECONDS = 300
MIN_POLL_INTERVAL_SECONDS = 30

#: Target modes whose entries become flow events; the others (and no target) only move the cursor.
FLOW_TARGET_MODES = ("workspace_flow", "flow_dispatch")
OTHER_TARGET_MODES = ("notify_only", "fork_sync")

FeedProvider = Literal["github", "codeberg", "jojo", "npm", "git"]
FeedEvent = Literal["push", "release"]
TargetMode = Literal["workspace_flow", "flow_dispatch", "notify_only", "fork_sync"]


class _ConfigModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FeedRepo(_ConfigModel):
    owner: str
    name: str
    fullName: str
    webUrl: str
    defaultBranch: str | None = None


class FeedTarget(_ConfigModel):
    mode: TargetMode
    eventType: str | None = None
    workspaceUrl: str | None = None
    workspaceUrlEnv: str | None = None
    workspaceSecretEnv: str | None = None
    dispatchUrl: str | None = None
    dispatchUrlEnv: str | None = None
    dispatchSecretEnv: str | None = None
    payload: dict[str, Any] | None = None
    # fork_sync targets
    provider: str | None = None
    repoFullName: str | None = None
    branch: str | None = None

    @model_validator(mode="after")
    def _flow_targets_name_their_event_type(self) -> FeedTarget:
        if self.mode in FLOW_TARGET_MODES and not (self.eventType or "").strip():
            raise ValueError(f"a {self.mode} target needs an eventType")
        return self


class FeedSourceConfig(_ConfigModel):
    id: str
    provider: FeedProvider
    url: str
    event: FeedEvent
    repo: FeedRepo
    target: FeedTarget | None = None
    pollIntervalSeconds: int | None = None
    primeOnly: bool = True

    @field_validator("id", "url")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("url")
    @classmethod
    def _not_an_option(cls, value: str) -> str:
        # The git provider hands the url to `git ls-remote`.
        if value.lstrip().startswith("-"):
            raise ValueError("must not start with '-'")
        return value

    @property
    def effective_interval_seconds(self) -> int:
        return effective_interval_seconds(self)

    @property
    def creates_flow_events(self) -> bool:
        return creates_flow_events(self)


def effective_interval_seconds(source: FeedSourceConfig) -> int:
    """``pollIntervalSeconds`` (default 300), never below 30."""
    interval = source.pollIntervalSeconds
    return max(MIN_POLL_INTERVAL_SECONDS, DEFAULT_POLL_INTERVAL_SECONDS if interval is None else interval)


def creates_flow_events(source: FeedSourceConfig) -> bool:
    return source.target is not None and source.target.mode in FLOW_TARGET_MODES


@dataclass
class FeedSourcesFile:
    """The valid sources of the file, and one message per problem found in it."""

    sources: list[FeedSourceConfig] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def get(self, source_id: str) -> FeedSourceConfig | None:
        return next((source for source in self.sources if source.id == source_id), None)


def load_feed_sources(path: Path | None) -> FeedSourcesFile:
    """Read and check the sources file. A missing file (or none configured) is no sources and no error;
    nothing in the file's content makes this raise."""
    if path is None or not path.exists():
        return FeedSourcesFile()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return FeedSourcesFile(errors=[f"feed sources file {path}: cannot be read: {reason}"])
    return parse_feed_sources(text, origin=str(path))


def parse_feed_sources(text: str, *, origin: str = "feed sources") -> FeedSourcesFile:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return FeedSourcesFile(errors=[f"feed sources file {origin}: not valid JSON: {exc}"])
    if not isinstance(document, dict) or not isinstance(document.get("sources"), list):
        return FeedSourcesFile(errors=[f'feed sources file {origin}: needs an object with a "sources" list'])
    loaded = FeedSourcesFile()
    first_index_of: dict[str, int] = {}
    for index, raw in enumerate(document["sources"]):
        name = _source_name(raw, index)
        if not isinstance(raw, dict):
            loaded.errors.append(f"feed source {name}: must be an object")
            continue
        try:
            source = FeedSourceConfig.model_validate(raw)
        except ValidationError as exc:
            loaded.errors.append(f"feed source {name}: {_describe(exc)}")
            continue
        if source.id in first_index_of:
            first = first_index_of[source.id]
            loaded.errors.append(f"feed source {name}: duplicate id, already used by sources[{first}]")
            continue
        first_index_of[source.id] = index
        loaded.sources.append(source)
    return loaded


def _source_name(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"].strip():
        return f"{raw['id']!r} (sources[{index}])"
    return f"sources[{index}]"


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "source"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)
