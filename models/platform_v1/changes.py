"""JSON merge patch (RFC 7386) of a resource's body, and what a change changed (for the audit)."""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target``: objects merge key by key, ``null`` removes a key, anything else
    replaces (arrays included)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"from": old, "to": new}}`` of the top-level fields that differ (a missing one is ``null``)."""
    return {key: {"from": before.get(key), "to": after.get(key)}
            for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)}
