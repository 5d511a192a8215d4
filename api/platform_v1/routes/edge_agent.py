"""The edge agent's routes: its policy (cacheable: ``ETag``, ``If-None-Match`` → 304) and its enrollment token
(read without the token; rotated, the only answer that shows it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from api.common.deps import SessionDep
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.edge_agent import none_match, policy_etag, read_policy
from api.platform_v1.services.enrollment import read_enrollment, rotate_enrollment
from models.platform_v1.edge_agent import EdgeAgentPolicyPublic, EnrollmentIssued, EnrollmentPublic, RotateBody

router = APIRouter(tags=["edge-agent"])

IfNoneMatch = Annotated[str | None, Header(description="The policy's ETag the agent holds: 304 while it is current.")]
POLICY_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: `If-None-Match` is the current ETag (no body)"}}


@platform_route(router, "GET", f"{V1}/edge-agent/policy", summary="The edge agent's policy",
                description="The defaults, overridden by the workspace's `edgeAgent` setting; `version` is the "
                            "workspace settings' version and the `ETag`.",
                responses=POLICY_RESPONSES, response_model=EdgeAgentPolicyPublic)
async def get_edge_agent_policy(caller: CallerDep, db: SessionDep, if_none_match: IfNoneMatch = None) -> Response:
    policy = await read_policy(db, caller)
    etag = policy_etag(policy)
    if none_match(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return json_answer(policy, headers={"ETag": etag})


@platform_route(router, "GET", f"{V1}/edge-agent/enrollment", summary="The workspace's enrollment token (never the "
                "token itself)", response_model=EnrollmentPublic)
async def get_edge_agent_enrollment(caller: CallerDep, db: SessionDep) -> Response:
    return json_answer(await read_enrollment(db, caller))


@platform_route(router, "POST", f"{V1}/edge-agent/enrollment/rotate", summary="Issue a new enrollment token",
                description="Answers the new token once (store it: no other answer shows it, and a replay of "
                            "this request answers `token: null`). The token it replaces stays valid for "
                            "`graceSeconds` (default 0).", status_code=201, response_model=EnrollmentIssued)
async def rotate_edge_agent_enrollment(caller: CallerDep, key: KeyDep, db: SessionDep,
                                       body: RotateBody | None = None) -> Response:
    issued = await rotate_enrollment(db, caller, body.graceSeconds if body is not None else 0)
    # The answer kept under the Idempotency-Key leaves the token out: the key table is no place for it.
    kept = json_answer(issued.model_copy(update={"token": None}), status_code=201)
    return await key.commit(db, json_answer(issued, status_code=201), kept=kept)
