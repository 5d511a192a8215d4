"""RunView and EventView: one shape for the runs and events of any workspace backend.

Both take the backend's object as it came (a read answer ``{run}`` / ``{event, runs}`` or the bare object) and
return wire dicts (optional keys omitted, never ``None``) with the backend object kept under ``raw``.
"""

from __future__ import annotations

import json
from typing import Any

from models.maintenance.status import NEEDS_ATTENTION, RESULT_STATUSES

_RUN_TEXT_FIELDS = ("eventId", "flowName")
_RUN_TEXT_FIELDS_AFTER_VERSION = ("stepName", "runner", "backend")
_RUN_TIME_FIELDS = ("createdAt", "startedAt")
_EVENT_TEXT_FIELDS = ("type", "source", "occurredAt", "receivedAt")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _result_payload(run: dict) -> Any:
    """``result`` when the backend sends that key, else ``resultJson`` (a JSON string parsed when it parses)."""
    if "result" in run:
        return run["result"]
    payload = run.get("resultJson")
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except ValueError:
            return payload
    return payload


def _output(run: dict) -> list[dict]:
    if isinstance(run.get("output"), list):
        items = []
        for item in run["output"]:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                entry = {"kind": _text(item.get("kind")) or "stdout", "text": item["text"]}
                if created_at := _text(item.get("createdAt")):
                    entry["createdAt"] = created_at
                items.append(entry)
        return items
    return [{"kind": kind, "text": run[kind]} for kind in ("stdout", "stderr") if _text(run.get(kind))]


def runs_of(answer: dict) -> list[dict]:
    """The run objects of a backend answer's ``runs`` (a dispatch answer, a run list); anything else left out."""
    runs = answer.get("runs")
    return [run for run in runs if isinstance(run, dict)] if isinstance(runs, list) else []


def run_view(raw: dict) -> dict:
    """The RunView of a backend run (or of a run read answer ``{run: ...}``)."""
    run = raw["run"] if isinstance(raw.get("run"), dict) else raw
    view: dict[str, Any] = {"id": str(run.get("id") or run.get("runId") or "")}
    for field in _RUN_TEXT_FIELDS:
        if value := _text(run.get(field)):
            view[field] = value
    if (version := _number(run.get("flowVersion"))) is not None:
        view["flowVersion"] = version
    for field in _RUN_TEXT_FIELDS_AFTER_VERSION:
        if value := _text(run.get(field)):
            view[field] = value
    process_status = _text(run.get("status"))
    if process_status:
        view["processStatus"] = process_status
    payload = _result_payload(run)
    if payload is not None:
        view["resultPayload"] = payload
    result_status = None
    if isinstance(payload, dict) and payload.get("status") in RESULT_STATUSES:
        result_status = payload["status"]
    elif process_status in RESULT_STATUSES:
        result_status = process_status
    if result_status:
        view["resultStatus"] = result_status
    effective_status = result_status or process_status or "unknown"
    view["status"] = view["effectiveStatus"] = effective_status
    view["needsAttention"] = effective_status in NEEDS_ATTENTION
    attempts = [attempt for attempt in run.get("attempts") or [] if isinstance(attempt, dict)]
    count = _number(run.get("attemptCount"))
    view["attemptCount"] = int(count) if count is not None else len(attempts)
    view["attempts"] = attempts
    view["output"] = _output(run)
    if view["output"]:
        view["latestOutput"] = view["output"][-1]["text"]
    elif latest := _text(run.get("latestOutput")):
        view["latestOutput"] = latest
    if error := _text(run.get("error")):
        view["error"] = error
    for field in _RUN_TIME_FIELDS:
        if value := _text(run.get(field)):
            view[field] = value
    if completed_at := _text(run.get("completedAt")) or _text(run.get("finishedAt")):
        view["completedAt"] = completed_at
    if updated_at := _text(run.get("updatedAt")):
        view["updatedAt"] = updated_at
    if web_url := _text(run.get("webUrl")):
        view["webUrl"] = web_url
    view["raw"] = run
    return view


def event_view(raw: dict, runs: list | None = None) -> dict:
    """The EventView of a backend event (or of an event read answer ``{event, runs}``).

    Its runs: ``runs`` when given, else the read answer's sibling ``runs``, else the event's own ``runs``.
    """
    event = raw["event"] if isinstance(raw.get("event"), dict) else raw
    if runs is None:
        sibling = raw.get("runs") if event is not raw else None
        runs = sibling if isinstance(sibling, list) else event.get("runs")
    run_views = [run_view(run) for run in runs or [] if isinstance(run, dict)]
    view: dict[str, Any] = {"id": str(event.get("id") or event.get("eventId") or "")}
    for field in _EVENT_TEXT_FIELDS:
        if value := _text(event.get(field)):
            view[field] = value
    if "payload" in event and event["payload"] is not None:
        view["payload"] = event["payload"]
    own_ids = [run_id for run_id in event.get("runIds") or [] if _text(run_id)]
    view["runIds"] = list(dict.fromkeys([*own_ids, *(run["id"] for run in run_views if run["id"])]))
    view["runs"] = run_views
    if created_at := _text(event.get("createdAt")):
        view["createdAt"] = created_at
    view["raw"] = event
    return view
