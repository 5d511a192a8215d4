"""The workspace setting ``integrations.notifications`` as the outbox reads it: ``{url, topics?, timeoutSeconds?}``.

Read defensively through this one function (a value that is not what the setting documents counts as no
adapter, or its default): the typed validation of the workspace settings replaces the body of
``notification_adapter`` and nothing else has to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.platform_v1.events import SEED_TOPICS

DEFAULT_TIMEOUT_SECONDS = 10.0
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 1.0, 30.0
#: The secret of the workspace whose value signs every notification (``x-capstan-signature``).
SIGNING_SECRET_KEY = "notifications.signing_secret"


@dataclass(frozen=True)
class NotificationAdapter:
    url: str
    topics: frozenset[str]
    timeout_seconds: float


def notification_adapter(workspace_settings: dict[str, Any] | None) -> NotificationAdapter | None:
    """The workspace's notification adapter, or ``None`` when its settings name no URL."""
    integrations = (workspace_settings or {}).get("integrations")
    adapter = integrations.get("notifications") if isinstance(integrations, dict) else None
    if not isinstance(adapter, dict) or not isinstance(adapter.get("url"), str) or not adapter["url"]:
        return None
    topics = adapter.get("topics")
    chosen = frozenset(t for t in topics if isinstance(t, str)) if isinstance(topics, list) else frozenset(SEED_TOPICS)
    timeout = adapter.get("timeoutSeconds")
    seconds = float(timeout) if isinstance(timeout, int | float) and not isinstance(timeout, bool) \
        and MIN_TIMEOUT_SECONDS <= timeout <= MAX_TIMEOUT_SECONDS else DEFAULT_TIMEOUT_SECONDS
    return NotificationAdapter(url=adapter["url"], topics=chosen, timeout_seconds=seconds)
