"""GitHub and GitLab webhooks: verify, read, match to a protocol run, record, signal.

Reading a payload is pure (``read_github``/``read_gitlab`` → ``ForgeNotice``,
``ci_report`` → ``CiReport | None``) so every mapping row is unit-tested without
a server. ``receive`` does the I/O: the delivery row and its event are written
by one statement, the ``ci_report`` signal is sent after it, and the
row is marked ``signalled`` only once Temporal has the signal, so a redelivery
after a crash (or a 503) signals again; the workflow ignores delivery ids it has
already seen.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel
from sqlalchemy import Insert, func, literal, or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.common.auth import secrets_equal
from api.common.errors import BadRequest, NotFound, ServiceUnavailable, Unauthorized
from api.protocols.services.protocol_workflows import signal_ci_report
from api.protocols.services.runs import get_run
from capstan.db import use_autocommit
from capstan.settings import Settings, WebhookSettings
from capstan.strict_json import JsonRejected, read_json
from models.protocols.event import Event
from models.protocols.protocol import ProtocolRun
from models.protocols.webhook import WebhookDelivery
from models.protocols.workflow_io import PROJECT_SETUP_PREFIX, CiOutcome, CiReport

log = logging.getLogger(__name__)

GITHUB = "github"
GITLAB = "gitlab"

PONG = "pong"
RECORDED = "Webhook recorded"
IGNORED = "Webhook ignored"
DUPLICATE = "Duplicate delivery ignored"



class WebhookAnswer(BaseModel):
    """The ``{"message": str, "job": null}`` every webhook answers with."""

    message: str
    job: dict[str, Any] | None = None


# --- verification ---------------------------------------------------------------------------------

def webhook_secret(settings: WebhookSettings) -> str | None:
    """The configured secret; an empty value counts as unset, like the API token."""
    secret = settings.token.get_secret_value() if settings.token else None
    return secret or None


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None, *, prefix_required: bool = True) -> bool:
    """``sha256=<hex HMAC-SHA256(secret, body)>``, compared in constant time."""
    if not header:
        return False
    given = header.strip()
    if given.startswith("sha256="):
        given = given[len("sha256="):]
    elif prefix_required:
        return False
    return secrets_equal(given.lower(), hmac_sha256_hex(secret, body))


def verify_github(settings: WebhookSettings, body: bytes, signature: str | None) -> None:
    secret = webhook_secret(settings)
    if secret is not None and not signature_matches(secret, body, signature):
        raise Unauthorized("missing or invalid X-Hub-Signature-256", code="invalid_signature")


def verify_gitlab(settings: WebhookSettings, body: bytes, tokens: list[str | None], signature: str | None) -> None:
    """Any of ``X-Gitlab-Token``/``X-Deksdenflow-Webhook-Token`` equal to the secret, or a valid
    ``X-Gitlab-Signature-256`` (with or without the ``sha256=`` prefix)."""
    secret = webhook_secret(settings)
    if secret is None:
        return
    token_ok = [secrets_equal(token, secret) for token in tokens if token is not None]
    signature_ok = signature_matches(secret, body, signature, prefix_required=False)
    if not (any(token_ok) or signature_ok):
        raise Unauthorized("missing or invalid webhook token", code="invalid_webhook_token")


# --- parsing --------------------------------------------------------------------------------------

def parse_payload(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A JSON object, sent as JSON or (GitHub's form option) as ``payload=<json>``."""
    raw: str | bytes = body
    if (content_type or "").lower().startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", errors="replace")).get("payload")
        if not values:
            raise BadRequest("form-encoded webhook without a 'payload' field", code="invalid_payload")
        raw = values[0]
    try:
        payload = read_json(raw)
    except JsonRejected as rejected:
        raise BadRequest(rejected.detail, code=rejected.code) from None
    if not isinstance(payload, dict):
        raise BadRequest("webhook body must be a JSON object", code="invalid_payload")
    return payload


# --- reading payloads (pure) ----------------------------------------------------------------------

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


def _dig(value: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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


def _first_text(*values: Any) -> str | None:
    return next((v for v in map(_text, values) if v), None)


# Each reader returns (status, branch, url) from a payload of its event.
Reader = Callable[[dict[str, Any]], tuple[str | None, str | None, str | None]]


def _github_workflow_run(p: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    run = p.get("workflow_run")
    return (_first_text(_dig(run, "conclusion"), _dig(run, "status")), _text(_dig(run, "head_branch")),
            _text(_dig(run, "html_url")))


def _github_check_suite(p: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    suite = p.get("check_suite")
    return (_first_text(_dig(suite, "conclusion"), _dig(suite, "status")), _text(_dig(suite, "head_branch")),
            _text(_dig(suite, "url")))


def _github_check_run(p: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    run = p.get("check_run")
    return (_first_text(_dig(run, "conclusion"), _dig(run, "status")),
            _text(_dig(run, "check_suite", "head_branch")), _text(_dig(run, "html_url")))


def _github_pull_request(p: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    pr = p.get("pull_request")
    status = "merged" if _dig(pr, "merged") is True else _text(_dig(pr, "state"))
    return status, _text(_dig(pr, "head", "ref")), _text(_dig(pr, "html_url"))


def _github_status(p: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    return _text(p.get("state")), _text(_dig(p, "branches", 0, "name")), _text(p.get("target_url"))


def _ref_only(p: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    return None, _text(p.get("ref")), None


GITHUB_READERS: dict[str, Reader] = {
    "workflow_run": _github_workflow_run,
    "check_suite": _github_check_suite,
    "check_run": _github_check_run,
    "pull_request": _github_pull_request,
    "status": _github_status,
}


def _gitlab_pipeline(p: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    attrs = p.get("object_attributes")
    return _text(_dig(attrs, "status")), _text(_dig(attrs, "ref")), _text(_dig(attrs, "url"))


def _gitlab_job(p: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    return _text(p.get("build_status")), _text(p.get("ref")), None


def _gitlab_merge_request(p: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    attrs = p.get("object_attributes")
    merged = _dig(attrs, "state") == "merged" or _dig(attrs, "action") == "merge"
    status = "merged" if merged else _text(_dig(attrs, "state"))
    return status, _text(_dig(attrs, "source_branch")), _text(_dig(attrs, "url"))


GITLAB_READERS: dict[str, Reader] = {
    "Pipeline Hook": _gitlab_pipeline,
    "Job Hook": _gitlab_job,
    "Build Hook": _gitlab_job,
    "Merge Request Hook": _gitlab_merge_request,
}

#: ``object_kind`` → event name, for GitLab senders that leave out ``X-Gitlab-Event``.
GITLAB_OBJECT_KINDS = {"pipeline": "Pipeline Hook", "build": "Job Hook", "merge_request": "Merge Request Hook",
                       "push": "Push Hook", "tag_push": "Tag Push Hook"}


def _read(provider: str, readers: dict[str, Reader], event_name: str, payload: dict[str, Any]) -> ForgeNotice:
    reader = readers.get(event_name)
    status, branch, url = (reader or _ref_only)(payload)
    return ForgeNotice(provider=provider, event_name=event_name, supported=reader is not None, status=status,
                       branch=strip_heads(branch), url=url, action=_text(payload.get("action")))


def read_github(event_name: str, payload: dict[str, Any]) -> ForgeNotice:
    return _read(GITHUB, GITHUB_READERS, event_name, payload)


def read_gitlab(event_name: str, payload: dict[str, Any]) -> ForgeNotice:
    return _read(GITLAB, GITLAB_READERS, event_name, payload)


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


def github_report(event_name: str, payload: dict[str, Any], delivery_id: str | None = None) -> CiReport | None:
    return ci_report(read_github(event_name, payload), delivery_id)


def gitlab_report(event_name: str, payload: dict[str, Any], delivery_id: str | None = None) -> CiReport | None:
    return ci_report(read_gitlab(event_name, payload), delivery_id)


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


# --- I/O ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    provider: str
    event_name: str
    delivery_id: str | None
    payload: dict[str, Any]

    def notice(self) -> ForgeNotice:
        return (read_github if self.provider == GITHUB else read_gitlab)(self.event_name, self.payload)


def gitlab_event_name(header: str | None, payload: dict[str, Any]) -> str:
    name = header or GITLAB_OBJECT_KINDS.get(_text(payload.get("object_kind")) or "")
    if not name:
        raise BadRequest("X-Gitlab-Event header is required", code="missing_event")
    return name


async def find_run(session: AsyncSession, protocol_run_id: int | None, branch: str | None) -> ProtocolRun | None:
    """By explicit id (unknown → 404), else the newest run named after the branch."""
    if protocol_run_id is not None:
        return await get_run(session, protocol_run_id)
    for name in branch_candidates(branch):
        query = (select(ProtocolRun).where(ProtocolRun.protocol_name == name,
                                           or_(col(ProtocolRun.workflow_id).is_(None),
                                               ~col(ProtocolRun.workflow_id).startswith(PROJECT_SETUP_PREFIX)))
                 .order_by(col(ProtocolRun.id).desc()).limit(1))
        run = (await session.exec(query)).first()
        if run is not None:
            return run
    return None


def record_statement(run: ProtocolRun, delivery: Delivery, notice: ForgeNotice, outcome: str | None) -> Insert:
    """One statement that inserts the delivery row and, only when its delivery id is new, its event.

    It returns the new event's id, or no row for a delivery id seen before.
    """
    events = Event.__table__
    event = {"project_id": run.project_id, "protocol_run_id": run.id, "event_type": event_type_of(notice),
             "message": event_message(notice, outcome)[:20000],
             "metadata": {"provider": notice.provider, "delivery_id": delivery.delivery_id,
                          "event": notice.event_name, "action": notice.action, "status": notice.status,
                          "outcome": outcome, "branch": notice.branch, "url": notice.url}}
    if delivery.delivery_id is None:
        return insert(events).values(event).returning(events.c.id)
    deliveries = WebhookDelivery.__table__
    # created_at is given in both INSERTs: its Python-side default would bind the same name twice.
    new_delivery = (insert(deliveries)
                    .values(provider=delivery.provider, delivery_id=delivery.delivery_id,
                            event_name=delivery.event_name[:100], protocol_run_id=run.id, created_at=func.now())
                    .on_conflict_do_nothing(index_elements=["delivery_id"])
                    .returning(deliveries.c.id)
                    .cte("new_delivery"))
    event_row = select(*(literal(value, events.c[name].type) for name, value in event.items()),
                       func.now()).select_from(new_delivery)
    return insert(events).from_select([*event, "created_at"], event_row).returning(events.c.id)


async def _record(session: AsyncSession, run: ProtocolRun, delivery: Delivery, notice: ForgeNotice,
                  outcome: str | None) -> WebhookDelivery | None:
    """Record the delivery and its event; the existing row when this delivery id was recorded before."""
    if (await session.exec(record_statement(run, delivery, notice, outcome))).first() is not None:
        return None
    existing = select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery.delivery_id)
    return (await session.exec(existing)).one()


async def _signal(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun,
                  report: CiReport) -> None:
    try:
        await signal_ci_report(session, temporal, settings, run, report)
    except (RPCError, RuntimeError) as exc:  # the SDK raises RuntimeError when it cannot connect at all
        log.warning("could not signal ci_report to run %s (delivery %s): %r", run.id, report.delivery_id, exc)
        raise ServiceUnavailable("the workflow service is unavailable; the delivery is recorded, send it again",
                                 headers={"Retry-After": "10"}) from None
    if report.delivery_id is not None:
        await use_autocommit(session)
        await session.exec(update(WebhookDelivery).where(col(WebhookDelivery.delivery_id) == report.delivery_id)
                           .values(signalled=True))
    await session.commit()


async def receive(session: AsyncSession, temporal: Client, settings: Settings, delivery: Delivery,
                  protocol_run_id: int | None) -> WebhookAnswer:
    """Handle a verified, parsed delivery (see docs/api/webhooks.md for every case)."""
    if delivery.provider == GITHUB and delivery.event_name == "ping":
        return WebhookAnswer(message=PONG)
    await use_autocommit(session)  # every write below is one statement
    notice = delivery.notice()
    run = await find_run(session, protocol_run_id, notice.branch)
    if run is None:
        if not notice.supported:
            return WebhookAnswer(message=IGNORED)
        raise NotFound(f"no protocol run for branch {notice.branch!r}" if notice.branch
                       else "no branch in the payload and no protocol_run_id given", code="protocol_run_not_found")
    report = ci_report(notice, delivery.delivery_id)
    existing = await _record(session, run, delivery, notice, report.outcome if report else None)
    if existing is not None and (existing.signalled or report is None):
        return WebhookAnswer(message=DUPLICATE)
    if report is not None:
        await _signal(session, temporal, settings, run, report)
    return WebhookAnswer(message=RECORDED if notice.supported else IGNORED)
