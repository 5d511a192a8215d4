"""GitHub payloads: where each event keeps its status, branch and link (docs/api/webhooks.md, "Mapping tables")."""

from __future__ import annotations

from typing import Any

from api.protocols.webhooks.mapping import GITHUB, ForgeNotice, Reader, ci_report, dig, first_text, read_notice, text
from models.protocols.workflow_io import CiReport

Fields = tuple[str | None, str | None, str | None]


def _workflow_run(p: dict[str, Any]) -> Fields:
    run = p.get("workflow_run")
    return first_text(dig(run, "conclusion"), dig(run, "status")), text(dig(run, "head_branch")), \
        text(dig(run, "html_url"))


def _check_suite(p: dict[str, Any]) -> Fields:
    suite = p.get("check_suite")
    return first_text(dig(suite, "conclusion"), dig(suite, "status")), text(dig(suite, "head_branch")), \
        text(dig(suite, "url"))


def _check_run(p: dict[str, Any]) -> Fields:
    run = p.get("check_run")
    return first_text(dig(run, "conclusion"), dig(run, "status")), text(dig(run, "check_suite", "head_branch")), \
        text(dig(run, "html_url"))


def _pull_request(p: dict[str, Any]) -> Fields:
    pr = p.get("pull_request")
    status = "merged" if dig(pr, "merged") is True else text(dig(pr, "state"))
    return status, text(dig(pr, "head", "ref")), text(dig(pr, "html_url"))


def _status(p: dict[str, Any]) -> Fields:
    return text(p.get("state")), text(dig(p, "branches", 0, "name")), text(p.get("target_url"))


def _other(p: dict[str, Any]) -> Fields:
    return None, text(p.get("ref")), None


GITHUB_READERS: dict[str, Reader] = {
    "workflow_run": _workflow_run,
    "check_suite": _check_suite,
    "check_run": _check_run,
    "pull_request": _pull_request,
    "status": _status,
}


def read_github(event_name: str, payload: dict[str, Any]) -> ForgeNotice:
    return read_notice(GITHUB, GITHUB_READERS, _other, event_name, payload)


def github_report(event_name: str, payload: dict[str, Any], delivery_id: str | None = None) -> CiReport | None:
    return ci_report(read_github(event_name, payload), delivery_id)
