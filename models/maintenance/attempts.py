"""Maintenance attempts: the record a dispatch starts, and what its workspace runs make of it.

Every function takes and returns wire dicts (camelCase, optional keys omitted, never ``None``); inputs are
never changed. Runs are RunView dicts (``models.maintenance.views.run_view``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from models.maintenance.status import AttemptStatus, DispatchStatus

#: The fields whose change makes a synced attempt worth appending.
CHANGE_FIELDS: tuple[str, ...] = (
    "status", "workspaceRunIds", "workspaceRunStatuses", "candidateRefs", "message", "error", "completedAt")

#: Payload statuses whose ``message`` is the attempt's error.
_ERROR_STATUSES = frozenset({AttemptStatus.FAILED, AttemptStatus.BLOCKED, AttemptStatus.NEEDS_INTERVENTION})
#: Attempt statuses that are final at once, with no run to wait for.
_DONE_WITHOUT_RUNS = frozenset({AttemptStatus.FAILED, AttemptStatus.SKIPPED})
_UPSTREAM_FIELDS = (("repo", "upstreamRepo"), ("ref", "upstreamRef"), ("sha", "upstreamSha"), ("tag", "upstreamTag"))
_CANDIDATE_STRING_FIELDS = ("repo", "remote", "sha", "url")
_THREAD_REF_FIELDS = ("threadId", "turnId", "threadJsonPath", "turnStatus", "label", "runId", "flowName", "stepName")
_THREAD_REF_KEY = ("runId", "flowName", "stepName", "label", "threadId", "turnId")


def _text(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def attempt_id(event_id: str, operation: str, created_at: str) -> str:
    return f"{event_id}:{operation}:{created_at}"


def attempt_for_dispatch(event: dict, record: dict, runs: list[dict] | None = None) -> dict:
    """The attempt a dispatch record starts; with the dispatch answer's run views applied at ``createdAt``."""
    created_at = record["createdAt"]
    event_id = record.get("eventId") or event["id"]
    operation = record["operation"]
    status = AttemptStatus.STARTED if record["status"] == DispatchStatus.DISPATCHED else record["status"]
    attempt: dict[str, Any] = {
        "id": attempt_id(event_id, operation, created_at),
        "eventId": event_id,
    }
    if event_type := _text(record.get("eventType")) or _text(event.get("type")):
        attempt["eventType"] = event_type
    attempt["operation"] = operation
    attempt["status"] = str(status)
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    for payload_key, field in _UPSTREAM_FIELDS:
        if value := _text(payload.get(payload_key)):
            attempt[field] = value
    if backend_url := _text(record.get("workspaceBackendUrl")):
        attempt["workspaceBackendUrl"] = backend_url
    attempt["workspaceRunIds"] = [run_id for run_id in record.get("runIds") or [] if isinstance(run_id, str)]
    attempt["candidateRefs"] = []
    if error := _text(record.get("error")):
        attempt["error"] = error
    attempt["createdAt"] = created_at
    attempt["updatedAt"] = created_at
    if runs:
        attempt = derive_attempt(attempt, runs, created_at)
    if attempt["status"] in _DONE_WITHOUT_RUNS and "completedAt" not in attempt:
        attempt["completedAt"] = created_at
    return attempt


def result_payload_of(run: dict) -> dict | None:
    """The run's result payload: ``resultPayload`` or ``resultPayload.result``, whichever has a string status."""
    payload = run.get("resultPayload")
    if isinstance(payload, dict) and isinstance(payload.get("status"), str):
        return payload
    nested = payload.get("result") if isinstance(payload, dict) else None
    if isinstance(nested, dict) and isinstance(nested.get("status"), str):
        return nested
    return None


def run_status_of(run: dict, payload: dict | None) -> str:
    return (_text(payload.get("status")) if payload else None) or _text(run.get("effectiveStatus")) \
        or _text(run.get("status")) or AttemptStatus.STARTED


def combined_status(statuses: list[str]) -> str:
    """The attempt status of its runs' statuses: the first rule that holds wins."""
    for status in (AttemptStatus.NEEDS_INTERVENTION, AttemptStatus.BLOCKED, AttemptStatus.FAILED,
                   AttemptStatus.CHANGED):
        if status in statuses:
            return str(status)
    if statuses and all(status == AttemptStatus.SKIPPED for status in statuses):
        return str(AttemptStatus.SKIPPED)
    if statuses and all(status in (AttemptStatus.COMPLETED, AttemptStatus.SKIPPED) for status in statuses):
        return str(AttemptStatus.COMPLETED)
    return str(AttemptStatus.STARTED)


def derive_attempt(attempt: dict, runs: list[dict], now: str) -> dict:
    """The attempt after its runs: ``attempt`` itself (a copy) when there are no runs."""
    derived = dict(attempt)
    if not runs:
        return derived
    payloads = [result_payload_of(run) for run in runs]
    statuses = [run_status_of(run, payload) for run, payload in zip(runs, payloads, strict=True)]

    derived["workspaceRunStatuses"] = {
        str(run.get("id")): _text(run.get("effectiveStatus")) or _text(run.get("status")) or "unknown"
        for run in runs}
    status = combined_status(statuses)
    derived["status"] = status

    messages = [message for payload in payloads if payload and (message := _text(payload.get("message")))]
    if messages:
        derived["message"] = messages[-1]

    derived["candidateRefs"] = dedupe_candidate_refs(
        [*attempt.get("candidateRefs", []), *(ref for payload in payloads if payload
                                               for ref in candidate_refs_of(payload))])

    errors = [error for run in runs if (error := _text(run.get("error")))]
    errors += [message for payload in payloads
               if payload and payload.get("status") in _ERROR_STATUSES and (message := _text(payload.get("message")))]
    if errors:
        derived["error"] = errors[-1]

    if status != AttemptStatus.STARTED:
        completed = [value for run in runs if (value := _text(run.get("completedAt")))]
        derived["completedAt"] = completed[-1] if completed else now

    derived["workspaceRunIds"] = _unique([*attempt.get("workspaceRunIds", []),
                                          *(run["id"] for run in runs if _text(run.get("id")))])
    thread_refs = _unique_thread_refs([*attempt.get("workspaceThreadRefs", []),
                                       *(ref for run, payload in zip(runs, payloads, strict=True)
                                         for ref in thread_refs_of(run, payload))])
    if thread_refs:
        derived["workspaceThreadRefs"] = thread_refs
    derived["updatedAt"] = now
    return derived


def attempt_changed(previous: dict, derived: dict) -> bool:
    """Whether a sync found something worth a new record (``updatedAt`` alone is not)."""
    return any(previous.get(field) != derived.get(field) for field in CHANGE_FIELDS)


def candidate_refs_of(payload: Any) -> list[dict]:
    """The candidate refs a result payload names under ``artifacts``, in order (not deduplicated)."""
    artifacts = payload.get("artifacts") if isinstance(payload, dict) else None
    if not isinstance(artifacts, dict):
        return []
    items: list[Any] = []
    for key in ("candidateRefs", "candidates"):
        if isinstance(artifacts.get(key), list):
            items += artifacts[key]
    if "candidateRef" in artifacts:
        items.append(artifacts["candidateRef"])
    return [ref for item in items if (ref := _candidate_ref(item)) is not None]


def _candidate_ref(item: Any) -> dict | None:
    if isinstance(item, str):
        return {"kind": "ref", "ref": item.strip()} if item.strip() else None
    if not isinstance(item, dict) or not _text(item.get("ref")):
        return None
    ref: dict[str, Any] = {"kind": _text(item.get("kind")) or "ref", "ref": item["ref"]}
    for field in _CANDIDATE_STRING_FIELDS:
        if value := _text(item.get(field)):
            ref[field] = value
    if isinstance(item.get("pushed"), bool):
        ref["pushed"] = item["pushed"]
    return ref


def dedupe_candidate_refs(refs: Iterable[dict]) -> list[dict]:
    """First occurrence of each ``kind:repo:remote:ref:sha`` kept, in order (``url``/``pushed`` ignored)."""
    seen: set[tuple[str, ...]] = set()
    unique = []
    for ref in refs:
        key = tuple(str(ref.get(part) or "") for part in ("kind", "repo", "remote", "ref", "sha"))
        if key not in seen:
            seen.add(key)
            unique.append(ref)
    return unique


def thread_refs_of(run: dict, payload: dict | None) -> list[dict]:
    """Codex thread pointers in a run's result artifacts: every nested object with a string ``threadId``."""
    artifacts = payload.get("artifacts") if payload else None
    found: list[dict] = []
    _collect_thread_refs(artifacts, None, found)
    context = {"runId": _text(run.get("id")), "flowName": _text(run.get("flowName")),
               "stepName": _text(run.get("stepName"))}
    refs = []
    for item, label in found:
        ref = {field: item[field] for field in _THREAD_REF_FIELDS if _text(item.get(field))}
        if "label" not in ref and label:
            ref["label"] = label
        for field, value in context.items():
            if field not in ref and value:
                ref[field] = value
        refs.append(ref)
    return refs


def _collect_thread_refs(value: Any, key: str | None, found: list[tuple[dict, str | None]]) -> None:
    if isinstance(value, dict):
        if _text(value.get("threadId")):
            found.append((value, key))
        for child_key, child in value.items():
            _collect_thread_refs(child, child_key, found)
    elif isinstance(value, list):
        for child in value:
            _collect_thread_refs(child, key, found)


def _unique_thread_refs(refs: Iterable[dict]) -> list[dict]:
    seen: set[tuple[str, ...]] = set()
    unique = []
    for ref in refs:
        key = tuple(str(ref.get(part) or "") for part in _THREAD_REF_KEY)
        if key not in seen:
            seen.add(key)
            unique.append(ref)
    return unique


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
