"""The edge agent's wire contracts: its policy (the workspace's ``edgeAgent`` setting over the defaults), its
enrollment (the token the agent sends as ``x-enrollment-token`` on ingest, shown only when issued), and the
body of a rotation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.platform_v1.contracts import Timestamp
from models.platform_v1.workspace_settings import Collector

#: Where an edge agent sends its telemetry.
INGEST_PATH = "/api/v1/events/ingest"
#: The longest a replaced token stays valid: a week.
GRACE_SECONDS_MAX = 604_800
#: Random bytes in a token (base64url: 43 characters).
TOKEN_BYTES = 32
#: Characters of the token an answer shows, to tell tokens apart.
HINT_LENGTH = 4


class EdgeAgentPolicyPublic(BaseModel):
    workspaceId: str
    version: int = Field(description="The workspace settings' version; the ETag is this number quoted.")
    heartbeatSeconds: int
    telemetryIntervalSeconds: int
    collectors: list[Collector]
    maxBatchEvents: int
    ingestPath: str = Field(description="Where the agent posts its events.")
    enrollmentRequired: bool = Field(description="An `endpoint_agent` ingest must send `x-enrollment-token`.")


class EnrollmentPublic(BaseModel):
    workspaceId: str
    status: Literal["active", "none"] = Field(description="`none` until a token is first issued.")
    tokenId: str | None = Field(description="`enr_` + 32 hex digits.")
    tokenHint: str | None = Field(description="The token's last 4 characters (the token itself is never shown).")
    issuedAt: Timestamp | None
    issuedBy: str | None
    previousTokenValidUntil: Timestamp | None = Field(
        description="Until when the token this one replaced is still accepted; null when it is not.")


class EnrollmentIssued(EnrollmentPublic):
    token: str | None = Field(description="The new token: shown in this answer only (a replay of the request "
                                          "with its Idempotency-Key answers null here). Store it now.")


class RotateBody(BaseModel):
    #: JSON's types strictly: ``"60"`` or ``true`` is not a number of seconds.
    model_config = ConfigDict(extra="forbid", strict=True)

    graceSeconds: Annotated[int, Field(ge=0, le=GRACE_SECONDS_MAX, description=(
        "How long the token being replaced stays valid, in seconds (0–604800)."))] = 0
