"""The edge agent's enrollment tokens: issue (rotate) one, describe the current one, and check one.

A token is ``TOKEN_BYTES`` random bytes, base64url; only its SHA-256 and last four characters are stored
(``platform_enrollment_tokens``), so it is shown once, in the answer of the rotation that issued it. A
rotation replaces the current token; the one replaced stays valid for the rotation's ``graceSeconds`` (and
any older one stops at once), so at most two tokens are valid at any time. Rotations of one workspace run
one after the other (the workspace's row is locked), and a partial unique index keeps one current token.

``enrollment_token_valid`` is what the events ingest asks for an ``endpoint_agent`` caller
(``require_enrollment_token`` answers its refusal: 403 ``enrollment_invalid``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import Forbidden
from api.platform_v1.caller import Caller
from models.common.base import utcnow
from models.platform_v1.edge_agent import HINT_LENGTH, TOKEN_BYTES, EnrollmentIssued, EnrollmentPublic
from models.platform_v1.enrollment_tables import EnrollmentTokenRow
from models.platform_v1.tables import WorkspaceRow

#: Longer than any token this module issues; a longer one is refused without hashing it.
TOKEN_MAX_LENGTH = 256


def new_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def enrollment_token_valid(db: AsyncSession, workspace_id: str, token: str | None) -> bool:
    """Whether ``token`` is the workspace's current enrollment token, or the one it replaced within its grace
    period. Compared in constant time against each valid token's hash; a workspace that never issued a token
    (or no token sent) → False."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return False
    offered = token_hash(token)
    hashes = (await db.exec(select(EnrollmentTokenRow.token_hash).where(
        EnrollmentTokenRow.workspace_id == workspace_id,
        or_(col(EnrollmentTokenRow.valid_until).is_(None), col(EnrollmentTokenRow.valid_until) > utcnow()),
    ))).all()
    matched = False
    for stored in hashes:  # every hash compared, whichever matches
        matched |= hmac.compare_digest(stored.encode(), offered.encode())
    return matched


#: The header an edge agent sends its enrollment token in.
ENROLLMENT_HEADER = "x-enrollment-token"


async def require_enrollment_token(db: AsyncSession, workspace_id: str, token: str | None) -> None:
    """403 ``enrollment_invalid`` unless ``token`` is valid (``enrollment_token_valid``); the same answer for a
    wrong, expired or missing token and for a workspace that never issued one."""
    if not await enrollment_token_valid(db, workspace_id, token):
        raise Forbidden(f"{ENROLLMENT_HEADER} is not this workspace's enrollment token (nor the one it replaced, "
                        "within its grace period)", code="enrollment_invalid")


async def has_current_token(db: AsyncSession, workspace_id: str) -> bool:
    """Whether the workspace has issued a token (its current one is valid until the next rotation)."""
    found = (await db.exec(select(EnrollmentTokenRow.id).where(
        EnrollmentTokenRow.workspace_id == workspace_id, col(EnrollmentTokenRow.valid_until).is_(None)))).first()
    return found is not None


async def _current_and_previous(db: AsyncSession,
                                workspace_id: str) -> tuple[EnrollmentTokenRow | None, EnrollmentTokenRow | None]:
    rows = (await db.exec(select(EnrollmentTokenRow).where(EnrollmentTokenRow.workspace_id == workspace_id)
                          .order_by(col(EnrollmentTokenRow.issued_at).desc()).limit(2))).all()
    current = rows[0] if rows and rows[0].valid_until is None else None
    previous = rows[1] if current is not None and len(rows) > 1 else None
    return current, previous


def _view(workspace_id: str, current: EnrollmentTokenRow | None,
          previous: EnrollmentTokenRow | None) -> EnrollmentPublic:
    if current is None:
        return EnrollmentPublic.model_construct(workspaceId=workspace_id, status="none", tokenId=None, tokenHint=None,
                                                issuedAt=None, issuedBy=None, previousTokenValidUntil=None)
    grace = previous.valid_until if previous is not None and previous.valid_until is not None else None
    return EnrollmentPublic.model_construct(
        workspaceId=workspace_id, status="active", tokenId=current.id, tokenHint=current.token_hint,
        issuedAt=current.issued_at, issuedBy=current.issued_by,
        previousTokenValidUntil=grace if grace is not None and grace > utcnow() else None)


async def read_enrollment(db: AsyncSession, caller: Caller) -> EnrollmentPublic:
    return _view(caller.tenant, *await _current_and_previous(db, caller.tenant))


async def rotate_enrollment(db: AsyncSession, caller: Caller, grace_seconds: int) -> EnrollmentIssued:
    """Issue a new token for the caller's workspace; the current one stays valid ``grace_seconds`` more, older
    ones stop now. Flushes; the caller commits (with its answer under the ``Idempotency-Key``)."""
    workspace_id = caller.tenant
    # One rotation of a workspace at a time: the second sees the first's token as the current one.
    await db.exec(select(WorkspaceRow.id).where(WorkspaceRow.id == workspace_id).with_for_update())
    now = utcnow()
    await db.exec(update(EnrollmentTokenRow).where(
        EnrollmentTokenRow.workspace_id == workspace_id, col(EnrollmentTokenRow.valid_until) > now)
        .values(valid_until=now))
    replaced = (await db.exec(update(EnrollmentTokenRow).where(
        EnrollmentTokenRow.workspace_id == workspace_id, col(EnrollmentTokenRow.valid_until).is_(None))
        .values(valid_until=now + timedelta(seconds=grace_seconds)).returning(EnrollmentTokenRow.id))).first()
    token = new_token()
    row = EnrollmentTokenRow(id=f"enr_{uuid.uuid4().hex}", workspace_id=workspace_id, token_hash=token_hash(token),
                             token_hint=token[-HINT_LENGTH:], issued_at=now, issued_by=caller.actor,
                             correlation_id=caller.correlation_id)
    db.add(row)
    await db.flush()
    previous_until = now + timedelta(seconds=grace_seconds) if replaced is not None and grace_seconds else None
    view = _view(workspace_id, row, None)
    return EnrollmentIssued.model_construct(**{**dict(view), "previousTokenValidUntil": previous_until},
                                            token=token)
