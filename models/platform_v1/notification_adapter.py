"""The workspace setting ``integrations.notifications`` as the outbox reads it: ``{url, topics?, timeoutSeconds?}``.

Read through the workspace settings' typed reader (``models.platform_v1.workspace_settings``), in the
shape the relay and the notification test use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.platform_v1.workspace_settings import notifications_adapter

#: The secret of the workspace whose value signs every notification (``x-capstan-signature``).
SIGNING_SECRET_KEY = "notifications.signing_secret"


@dataclass(frozen=True)
class NotificationAdapter:
    url: str
    topics: frozenset[str]
    timeout_seconds: float


def notification_adapter(workspace_settings: dict[str, Any] | None) -> NotificationAdapter | None:
    """The workspace's notification adapter, or ``None`` when its settings configure none (a stored value the
    settings' validation would refuse counts as none: ``models.platform_v1.workspace_settings``)."""
    adapter = notifications_adapter(workspace_settings or {})
    if adapter is None:
        return None
    return NotificationAdapter(url=adapter.url, topics=frozenset(str(topic) for topic in adapter.topics),
                               timeout_seconds=adapter.timeoutSeconds)
