"""What a forge delivery means, whichever forge sent it: the ``ForgeNotice`` read from a
payload, the outcome its status stands for, its ``CiReport`` and the event recorded for it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.protocols.workflow_io import CiOutcome, CiReport

GITHUB = "github"
GITLAB = "gitlab"


@dataclass(frozen=True)
class ForgeNotice:
    """What one delivery says, before it is matched to a run."""

    provider: str
    event_name: str
    supported: bool               # an event kind Capstan acts on
    status: str | None = None     # the raw status/conclusion/state the outcome comes from
    branch: str | None = None     # with ``refs/heads/`` stripped
    url: str | None = None
    action: str | None = None


# Each reader returns (status, branch, url) from a payload of its event.
Reader = Callable[[dict[str, Any]], tuple[str | None, str | None, str | None]]


def dig(value: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def first_text(*values: Any) -> str | None:
    return next((v for v in map(text, values) if v), None)


def strip_heads(ref: str | None) -> str | None:
    if ref and ref.startswith("refs/heads/"):
        return ref[len("refs/heads/"):] or None
    return ref


def branch_candidates(ref: str | None) -> list[str]:
    """Protocol names a ref may stand for: the ref without ``refs/heads/``, then its last segment."""
    branch = strip_heads(ref)
    if not branch:
        return []
    return list(dict.fromkeys([branch, branch.rsplit("/", 1)[-1]]))


def read_notice(provider: str, readers: dict[str, Reader], fallback: Reader, event_name: str,
                payload: dict[str, Any]) -> ForgeNotice:
    """Read with the event's reader; an event without one is read by ``fallback`` and not acted on."""
    reader = readers.get(event_name)
    status, branch, url = (reader or fallback)(payload)
    return ForgeNotice(provider=provider, event_name=event_name, supported=reader is not None, status=status,
                       branch=strip_heads(branch), url=url, action=text(payload.get("action")))


GITHUB_OUTCOMES: dict[str, str] = {
    **dict.fromkeys(("success", "neutral", "passed", "ok"), CiOutcome.SUCCESS),
    "merged": CiOutcome.MERGED,
    **dict.fromkeys(("in_progress", "queued", "requested", "pending"), CiOutcome.RUNNING),
    **dict.fromkeys(("failure", "timed_out", "cancelled", "action_required", "error",
                     "startup_failure"), CiOutcome.FAILURE),
}

GITLAB_OUTCOMES: dict[str, str] = {
    **dict.fromkeys(("success", "passed"), CiOutcome.SUCCESS),
    **dict.fromkeys(("merge", "merged"), CiOutcome.MERGED),
    **dict.fromkeys(("running", "pending"), CiOutcome.RUNNING),
    **dict.fromkeys(("failed", "canceled", "cancelled"), CiOutcome.FAILURE),
}

_OUTCOMES = {GITHUB: GITHUB_OUTCOMES, GITLAB: GITLAB_OUTCOMES}


def outcome_of(notice: ForgeNotice) -> str | None:
    """The outcome of a supported event's status; ``None`` for unknown statuses (recorded only)."""
    if not notice.supported or notice.status is None:
        return None
    return _OUTCOMES[notice.provider].get(notice.status.lower())


def ci_report(notice: ForgeNotice, delivery_id: str | None = None) -> CiReport | None:
    outcome = outcome_of(notice)
    if outcome is None:
        return None
    return CiReport(outcome=outcome, source=notice.provider, event_name=notice.event_name,
                    status=notice.status or "", delivery_id=delivery_id, branch=notice.branch, url=notice.url)


def event_type_of(notice: ForgeNotice) -> str:
    """``github_workflow_run``, ``gitlab_pipeline_hook``, …"""
    name = re.sub(r"[^a-z0-9]+", "_", notice.event_name.lower()).strip("_") or "unknown"
    return f"{notice.provider}_{name}"[:100]


def event_message(notice: ForgeNotice, outcome: str | None) -> str:
    forge = "GitHub" if notice.provider == GITHUB else "GitLab"
    where = f" on branch {notice.branch}" if notice.branch else ""
    if not notice.supported:
        return f"{forge} {notice.event_name}{where}: ignored"
    result = f"outcome {outcome}" if outcome else "no action for this status"
    return f"{forge} {notice.event_name}{where}: {notice.status or 'no status'} ({result})"
