"""The issue comment of each transition: a one-line summary and a hidden marker with the task's state.

The blocked summaries (unknown agent, missing credentials, missing Fly setup) are in ``models.tasks.agents``.
"""

from __future__ import annotations

import json
from typing import Any

QUEUED_SUMMARY = "Task queued"
STOPPED_SUMMARY = "Stopped by user"


def queued_summary() -> str:
    return QUEUED_SUMMARY


def running_summary(runner: str, ref: str | None) -> str:
    return f"Task running on {runner} runner {ref}." if ref else f"Task running on {runner} runner."


def launch_failed_summary(runner: str) -> str:
    return f"Task failed to start on {runner} runner."


def agent_failed_summary(text: str) -> str:
    return f"❌ Capstan failed: {text}"


def success_summary(pr_url: str, summary: str | None) -> str:
    head = f"✅ Capstan completed this task. PR: {pr_url}"
    return f"{head}\n\n{summary.strip()}" if summary and summary.strip() else head


def pr_failed_summary(summary: str | None, error: str) -> str:
    if summary and summary.strip():
        return f"{summary.strip()}\n\nPR creation failed: {error}"
    return f"Task complete, but PR creation failed: {error}"


def watchdog_wait(seconds: float) -> str:
    """How long the watchdog waited: in minutes from two minutes on (the default, 17 minutes), else in seconds."""
    if seconds >= 120:
        return f"{round(seconds / 60)} minutes"
    whole = max(1, round(seconds))
    return f"{whole} second{'' if whole == 1 else 's'}"


def timeout_summary(seconds: float) -> str:
    return agent_failed_summary(f"timeout after {watchdog_wait(seconds)}")


def comment_body(handle: str, summary: str, marker: dict[str, Any]) -> str:
    """``<summary>\\n\\n<!-- <h>:<json> -->``; the JSON is compact, without ``None`` values, and cannot end the
    HTML comment early (``<`` and ``>`` are escaped)."""
    data = json.dumps({key: value for key, value in marker.items() if value is not None},
                      separators=(",", ":"), ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e")
    return f"{summary}\n\n<!-- {handle}:{data} -->"
