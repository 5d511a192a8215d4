"""What starts and ends a run without a session: the GitHub webhook (signed with the webhook
secret) and the runner's completion callback (signed per execution with the callback secret).
Both hand the run's workflow what they received (``api.tasks.services.runs``): an accepted comment is
answered as soon as Temporal has its run's workflow (the run records it as its first step), a result once
the run recorded it. Their answers are ``CommentWebhookAnswer`` and ``CallbackAnswer`` (absent fields left
out)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from api.common.auth import secrets_equal
from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.errors import BadRequest, Unauthorized
from api.common.openapi import authenticated_by, json_body
from api.tasks.schemas import CallbackBody
from api.tasks.services.callbacks import accept_callback, parse_callback
from api.tasks.services.comment_intake import IssueCommentEvent, take_comment
from capstan.secrets import tasks_callback_secret
from capstan.strict_json import JsonRejected, read_json
from integrations.runners.callback import callback_token
from models.tasks.public import CallbackAnswer, CommentWebhookAnswer

#: The OpenAPI security scheme of the runners' callback token (declared in ``api/tasks/router.py``).
TASKS_CALLBACK_TOKEN = "tasksCallbackToken"

log = logging.getLogger(__name__)
router = APIRouter(tags=["tasks-intake"])


def _json_body(raw: bytes) -> Any:
    try:
        return read_json(raw)
    except JsonRejected as error:
        raise BadRequest(f"malformed JSON: {error}", code="invalid_json") from None


@router.post(
    "/api/webhooks/github", status_code=202, response_model=CommentWebhookAnswer, response_model_exclude_none=True,
    summary="Receive a GitHub issue comment",
    description="`X-Hub-Signature-256` (`sha256=` + HMAC-SHA256 of the raw body with "
                "CAPSTAN_TASKS_WEBHOOK_SECRET) is verified before anything else: 401 `invalid_signature`. "
                "Then, in order: "
                "events other than `issue_comment` → 202 `ignored`/`event`; a comment without `@<handle>` → 202 "
                "`ignored`/`no_mention`; `action` ≠ `created` → `action`; a bot → `bot`; one of Capstan's own status "
                "comments (it ends with the `<!-- <handle>:` marker) → `own_comment`; a commenter not on the "
                "allowlist → 200 `not_authorized`; a repeated `X-GitHub-Delivery`, or a comment that started a run "
                "before under another delivery id → 202 `accepted` with `duplicate: true`; no installation → 200 "
                "`missing_installation`; a commenter who never signed in "
                "→ 200 `missing_user_oauth`; a repository not selected → 200 `repo_not_selected`; a run already "
                "queued or running → 202 `ignored`/`already_running`; else 202 `accepted` with `taskId`, as soon as "
                "Temporal has the run's workflow, the request in its input (no worker needed; the run records the "
                "task and its queued execution as its first step). Integers are bounded by their "
                "columns: an issue number by 2^31 - 1, GitHub's ids by 2^63 - 1 (else 400).",
    responses={200: {"model": CommentWebhookAnswer, "description": "Refused with a reason (`status`)"},
               400: {"description": "The body is not a JSON object, or not an issue_comment payload (a field "
                                    "missing, of the wrong type, or out of its column's range)"},
               401: {"description": "`invalid_signature`"},
               503: {"description": "`webhook_secret_not_configured`, or Temporal unreachable "
                                    "(`service_unavailable`, with `Retry-After`)"}},
    openapi_extra=json_body(IssueCommentEvent))
async def github_issue_comment(request: Request, response: Response, db: SessionDep, temporal: TemporalDep,
                               settings: SettingsDep, x_github_event: Annotated[str | None, Header()] = None,
                               x_github_delivery: Annotated[str | None, Header(max_length=200)] = None
                               ) -> CommentWebhookAnswer:
    raw = await request.body()
    if x_github_event != "issue_comment":
        return CommentWebhookAnswer(status="ignored", reason="event")
    response.status_code, answer = await take_comment(db, temporal, settings, _json_body(raw), x_github_delivery)
    log.info("issue comment delivery %s: %s", x_github_delivery, answer.status)
    return answer


@router.post(
    "/api/callbacks/complete", response_model=CallbackAnswer, response_model_exclude_none=True,
    summary="A runner reports its result",
    description="The token is `X-Capstan-Callback-Token` (or `X-Porter-Callback-Token`, or the body's "
                "`callback_token`): hex HMAC-SHA256 of the execution id with the callback secret, checked before "
                "any lookup. Body: `execution_id` (or `task_id`), `status` (`complete`|`success`|`failed`), "
                "`summary`, `error`, `branch_name`, `base_branch`, `commit_hash`, `pr_exists`, `callback_attempt`, "
                "`callback_max_attempts`, `callback_last_http_code`. Unknown executions and executions that already "
                "have a result answer 200 with `ignored`: a duplicate is a no-op (the run's `complete` Update "
                "takes only the first result). Returns once the run's workflow has the result; read the PR "
                "from `GET /api/tasks/{id}/status`.",
    responses={400: {"description": "Not a JSON object, no execution id, or a bad `status`"},
               401: {"description": "`invalid callback token`"}},
    openapi_extra=json_body(CallbackBody))
@authenticated_by(TASKS_CALLBACK_TOKEN)
async def runner_callback(request: Request, db: SessionDep, temporal: TemporalDep, settings: SettingsDep,
                          x_capstan_callback_token: Annotated[str | None, Header()] = None,
                          x_porter_callback_token: Annotated[str | None, Header()] = None) -> CallbackAnswer:
    payload = _json_body(await request.body())
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_payload")
    execution_id = payload.get("execution_id") or payload.get("task_id")
    if not isinstance(execution_id, str) or not execution_id.strip():
        raise BadRequest("missing execution id", code="missing execution id")
    token = x_capstan_callback_token or x_porter_callback_token or payload.get("callback_token")
    secret = tasks_callback_secret(settings)
    expected = callback_token(secret, execution_id) if secret else None
    if not isinstance(token, str) or expected is None or not secrets_equal(token.strip().lower(), expected):
        raise Unauthorized("invalid callback token", code="invalid callback token")
    result = parse_callback(payload)
    return await accept_callback(db, temporal, settings, execution_id, result)
