"""The workspace settings Capstan itself reads, typed: ``ticketSla``, ``edgeAgent``, ``integrations.accounting``
and ``integrations.notifications``. Every other key of a workspace's settings stays free-form.

``PUT`` and ``PATCH /api/v1/workspace/settings`` validate a new settings object with ``settings_errors``
(each error's path under ``settings``, e.g. ``ticketSla.resolutionMinutes.high``) and refuse it whole when
one of these keys is bad. Code that needs a value reads it with the functions at the end
(``ticket_sla_minutes``, ``edge_agent_policy``, ``accounting_adapter``, ``notifications_adapter``), which fill
in the defaults. A key stored before it was validated and holding a bad value reads as if it were absent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from models.common.urls import OUTSIDE_URL_MAX_LENGTH, outside_url_problem
from models.platform_v1.events import SEED_TOPICS, EventTopic
from models.platform_v1.schemas import TicketPriority

URL_MAX_LENGTH = OUTSIDE_URL_MAX_LENGTH
#: A ticket's resolution target by priority, in minutes, when ``ticketSla`` does not set it.
DEFAULT_SLA_MINUTES: dict[TicketPriority, float] = {
    TicketPriority.CRITICAL: 240, TicketPriority.HIGH: 480, TicketPriority.MEDIUM: 1440, TicketPriority.LOW: 4320}
DEFAULT_ADAPTER_TIMEOUT_SECONDS = 10


class Collector(StrEnum):
    """What an edge agent collects."""

    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"
    NETWORK = "network"
    SERVICES = "services"
    PROCESSES = "processes"
    PATCHES = "patches"


def _adapter_url(url: str) -> str:
    """An adapter's URL, by the one rule of a URL Capstan calls (``models.common.urls``)."""
    if problem := outside_url_problem(url):
        raise ValueError(f"the URL {problem}")
    return url


def _distinct(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("each value at most once")
    return values


AdapterUrl = Annotated[str, Field(min_length=1, max_length=URL_MAX_LENGTH), AfterValidator(_adapter_url)]
Minutes = Annotated[float, Field(gt=0, le=525_600, allow_inf_nan=False)]
AgentSeconds = Annotated[int, Field(ge=10, le=86_400)]


class _Typed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResolutionMinutes(_Typed):
    critical: Minutes | None = None
    high: Minutes | None = None
    medium: Minutes | None = None
    low: Minutes | None = None


class TicketSlaSetting(_Typed):
    """``ticketSla``: the resolution target of each priority, in minutes (fractions allowed)."""

    resolutionMinutes: ResolutionMinutes = ResolutionMinutes()


class EdgeAgentSetting(_Typed):
    """``edgeAgent``: what the edge agent policy overrides of its defaults."""

    heartbeatSeconds: AgentSeconds | None = None
    telemetryIntervalSeconds: AgentSeconds | None = None
    collectors: Annotated[list[Collector], AfterValidator(_distinct)] | None = None
    maxBatchEvents: Annotated[int, Field(ge=1, le=500)] | None = None


class AccountingSetting(_Typed):
    """``integrations.accounting``: where the accounting adapter is (its token is the secret ``accounting.token``)."""

    baseUrl: AdapterUrl
    timeoutSeconds: Annotated[float, Field(ge=1, le=60, allow_inf_nan=False)] = DEFAULT_ADAPTER_TIMEOUT_SECONDS


class NotificationsSetting(_Typed):
    """``integrations.notifications``: where events are delivered, and which topics (by default the seven of
    ``SEED_TOPICS``); signed with the secret ``notifications.signing_secret`` when it is set."""

    url: AdapterUrl
    topics: Annotated[list[EventTopic], Field(min_length=1), AfterValidator(_distinct)] | None = None
    timeoutSeconds: Annotated[float, Field(ge=1, le=30, allow_inf_nan=False)] = DEFAULT_ADAPTER_TIMEOUT_SECONDS


class IntegrationsSetting(BaseModel):
    """``integrations``: the two adapters Capstan reads; other keys are free-form."""

    model_config = ConfigDict(extra="allow", frozen=True)

    accounting: AccountingSetting | None = None
    notifications: NotificationsSetting | None = None


class WorkspaceSettings(BaseModel):
    """A workspace's settings object: the typed keys, and any other key free-form."""

    model_config = ConfigDict(extra="allow", frozen=True)

    ticketSla: TicketSlaSetting | None = None
    edgeAgent: EdgeAgentSetting | None = None
    integrations: IntegrationsSetting | None = None


def settings_errors(settings: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each bad value of the typed keys as ``{field, message, type}``, ``field`` its path inside the settings
    (``ticketSla.resolutionMinutes.high``); empty when the settings are valid. JSON's types, strictly: a
    number is not ``"60"``, a URL not a number."""
    try:
        WorkspaceSettings.model_validate_json(json.dumps(dict(settings)), strict=True)
    except ValidationError as error:
        return [{"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"], "type": item["type"]}
                for item in error.errors(include_url=False, include_input=False)]
    return []


def _typed(model: type[_Typed], value: Any) -> Any:
    """``value`` as ``model``, or ``None`` when it is absent or (stored before it was validated) bad."""
    if value is None:
        return None
    try:
        return model.model_validate_json(json.dumps(value), strict=True)
    except (ValidationError, TypeError, ValueError):
        return None


def _integration(settings: Mapping[str, Any], name: str) -> Any:
    integrations = settings.get("integrations")
    return integrations.get(name) if isinstance(integrations, Mapping) else None


# --- what code reads, defaults filled in -----------------------------------------------------------

def ticket_sla_minutes(settings: Mapping[str, Any]) -> dict[TicketPriority, float]:
    """The resolution target of every priority, in minutes: ``ticketSla`` over ``DEFAULT_SLA_MINUTES``."""
    sla = _typed(TicketSlaSetting, settings.get("ticketSla"))
    chosen = sla.resolutionMinutes.model_dump(exclude_none=True) if sla else {}
    return {priority: chosen.get(priority.value, default) for priority, default in DEFAULT_SLA_MINUTES.items()}


class EdgeAgentPolicy(BaseModel):
    """The edge agent's settings with the defaults filled in."""

    model_config = ConfigDict(frozen=True)

    heartbeatSeconds: int = 60
    telemetryIntervalSeconds: int = 300
    collectors: list[Collector] = [Collector.CPU, Collector.MEMORY, Collector.DISK, Collector.SERVICES]
    maxBatchEvents: int = 500


def edge_agent_policy(settings: Mapping[str, Any]) -> EdgeAgentPolicy:
    """``edgeAgent`` over the policy's defaults."""
    chosen = _typed(EdgeAgentSetting, settings.get("edgeAgent"))
    return EdgeAgentPolicy(**(chosen.model_dump(exclude_none=True) if chosen else {}))


class AccountingAdapter(BaseModel):
    model_config = ConfigDict(frozen=True)

    baseUrl: str
    timeoutSeconds: float


def accounting_adapter(settings: Mapping[str, Any]) -> AccountingAdapter | None:
    """The accounting adapter, or ``None`` when ``integrations.accounting`` is not set."""
    chosen = _typed(AccountingSetting, _integration(settings, "accounting"))
    return AccountingAdapter(baseUrl=chosen.baseUrl, timeoutSeconds=chosen.timeoutSeconds) if chosen else None


class NotificationsAdapter(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: str
    topics: frozenset[EventTopic]
    timeoutSeconds: float


def notifications_adapter(settings: Mapping[str, Any]) -> NotificationsAdapter | None:
    """The notification adapter (topics default to ``SEED_TOPICS``), or ``None`` when
    ``integrations.notifications`` is not set."""
    chosen = _typed(NotificationsSetting, _integration(settings, "notifications"))
    if chosen is None:
        return None
    topics = frozenset(chosen.topics) if chosen.topics is not None else SEED_TOPICS
    return NotificationsAdapter(url=chosen.url, topics=topics, timeoutSeconds=chosen.timeoutSeconds)
