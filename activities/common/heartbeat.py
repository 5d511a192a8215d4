"""The heartbeat an activity hands to the machinery of ``integrations`` (git, the sandbox, runners).

A long command reports progress through it about every second: that is how a cancel reaches the
command (Temporal delivers cancellation with a heartbeat's answer) and how a lost worker is noticed.
Outside an activity (a test, the API) it does nothing.
"""

from __future__ import annotations

from temporalio import activity


def activity_heartbeat(detail: str) -> None:
    if activity.in_activity():
        activity.heartbeat(detail)
