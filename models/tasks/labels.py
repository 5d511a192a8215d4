"""The issue labels a task keeps current: its own labels replaced on every transition, all others kept."""

from __future__ import annotations

_STATUS_WORDS = ("queued", "running", "success", "failed", "timed_out", "stopped")


def is_task_label(label: str, handle: str) -> bool:
    """Whether ``label`` is one Capstan sets (``<h>:task``, ``<h>:agent:*``, ``<h>:priority:*``, a status)."""
    lowered, h = label.lower(), handle.lower()
    prefixes = (f"{h}:agent:", f"{h}:priority:", *(f"{h}:{word}" for word in _STATUS_WORDS))
    return lowered == f"{h}:task" or lowered.startswith(prefixes)


def next_labels(current: list[str], handle: str, status: str, agent: str, priority: str) -> list[str]:
    """The labels to ``PUT`` on the issue: the others of ``current`` then the task's four, deduplicated."""
    kept = [label for label in current if not is_task_label(label, handle)]
    added = [f"{handle}:task", f"{handle}:{status}", f"{handle}:agent:{agent}", f"{handle}:priority:{priority}"]
    labels: list[str] = []
    seen: set[str] = set()
    for label in kept + added:
        if label.lower() not in seen:
            seen.add(label.lower())
            labels.append(label)
    return labels
