"""GitLab payloads. Like the original orchestrator, every event's branch is read from
``object_attributes.source_branch``, then ``object_attributes.ref``, then the top-level ``ref``, and
its status from ``object_attributes.status``, then ``object_attributes.state``; job hooks keep
theirs in ``build_status``, and a merge request's merge reads as ``merged``."""

from __future__ import annotations

from typing import Any

from api.common.errors import BadRequest
from api.protocols.webhooks.mapping import GITLAB, ForgeNotice, Reader, ci_report, dig, first_text, read_notice, text
from models.protocols.workflow_io import CiReport

Fields = tuple[str | None, str | None, str | None]


def gitlab_branch(p: dict[str, Any]) -> str | None:
    attrs = p.get("object_attributes")
    return first_text(dig(attrs, "source_branch"), dig(attrs, "ref"), p.get("ref"))


def gitlab_status(p: dict[str, Any]) -> str | None:
    attrs = p.get("object_attributes")
    return first_text(dig(attrs, "status"), dig(attrs, "state"))


def _any_event(p: dict[str, Any]) -> Fields:
    return gitlab_status(p), gitlab_branch(p), text(dig(p, "object_attributes", "url"))


def _job(p: dict[str, Any]) -> Fields:
    return first_text(p.get("build_status"), gitlab_status(p)), gitlab_branch(p), None


def _merge_request(p: dict[str, Any]) -> Fields:
    attrs = p.get("object_attributes")
    merged = dig(attrs, "state") == "merged" or dig(attrs, "action") == "merge"
    status, branch, url = _any_event(p)
    return ("merged" if merged else status), branch, url


GITLAB_READERS: dict[str, Reader] = {
    "Pipeline Hook": _any_event,
    "Job Hook": _job,
    "Build Hook": _job,
    "Merge Request Hook": _merge_request,
}

#: ``object_kind`` → event name, for GitLab senders that leave out ``X-Gitlab-Event``.
GITLAB_OBJECT_KINDS = {"pipeline": "Pipeline Hook", "build": "Job Hook", "merge_request": "Merge Request Hook",
                       "push": "Push Hook", "tag_push": "Tag Push Hook"}


def gitlab_event_name(header: str | None, payload: dict[str, Any]) -> str:
    name = header or GITLAB_OBJECT_KINDS.get(text(payload.get("object_kind")) or "")
    if not name:
        raise BadRequest("X-Gitlab-Event header is required", code="missing_event")
    return name


def read_gitlab(event_name: str, payload: dict[str, Any]) -> ForgeNotice:
    return read_notice(GITLAB, GITLAB_READERS, _any_event, event_name, payload)


def gitlab_report(event_name: str, payload: dict[str, Any], delivery_id: str | None = None) -> CiReport | None:
    return ci_report(read_gitlab(event_name, payload), delivery_id)
