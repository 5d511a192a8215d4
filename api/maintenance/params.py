"""Query parameters of the maintenance lists, with the original service's rules.

- ``limit``: missing or empty → 50; a number → truncated toward zero, then clamped to 1–500
  (``0`` and ``-3`` give 1, ``2.9`` gives 2, ``9999`` gives 500); anything else → 400.
- ``status``: empty → no filter; a value outside the list's statuses → 400 ``invalid_status`` with
  the allowed values in ``allowed``.
- Ids in paths are percent-decoded once and may hold ``/`` (sent as ``%2F``), ``:``, ``@`` and ``,``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Query

from api.common.errors import BadRequest
from models.maintenance.status import AttemptStatus, DispatchStatus

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def parse_limit(value: str | None) -> int:
    if value is None or not value.strip():
        return DEFAULT_LIMIT
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"limit must be a number, not {value!r}", code="invalid_limit") from None
    if not math.isfinite(number):
        raise BadRequest(f"limit must be a finite number, not {value!r}", code="invalid_limit")
    return max(1, min(MAX_LIMIT, math.trunc(number)))


def parse_status(value: str | None, allowed: Iterable[str], what: str) -> str | None:
    if value is None or value == "":
        return None
    allowed = list(allowed)
    if value not in allowed:
        raise BadRequest(f"{what} status must be one of {', '.join(allowed)}; got {value!r}", code="invalid_status",
                         extra={"allowed": allowed})
    return value


async def _limit(limit: str | None = Query(None, description=f"Page size: default {DEFAULT_LIMIT}; a number is "
                                                            f"truncated and clamped to 1–{MAX_LIMIT}.")) -> int:
    return parse_limit(limit)


async def _attempt_status(status: str | None = Query(None, description="Only attempts whose latest record has this "
                                                                       f"status: {', '.join(AttemptStatus)}.")
                          ) -> str | None:
    return parse_status(status, AttemptStatus, "maintenance attempt")


async def _dispatch_status(status: str | None = Query(None, description="dispatched, failed or skipped.")
                           ) -> str | None:
    return parse_status(status, DispatchStatus, "workspace dispatch")


LimitDep = Annotated[int, Depends(_limit)]
AttemptStatusDep = Annotated[str | None, Depends(_attempt_status)]
DispatchStatusDep = Annotated[str | None, Depends(_dispatch_status)]

#: What the maintenance actions answer besides success (``api.common.openapi`` adds 400/401/404/413).
NO_WORKER = {503: {"description": "No worker finished the action within CAPSTAN_UPDATE_TIMEOUT (`no_worker`); it "
                                  "may still finish later"}}
#: A sync asks the workspace backend.
SYNC_RESPONSES = {502: {"description": "The workspace backend failed (`workspace_backend_unavailable`); nothing "
                                       "was appended"}, **NO_WORKER}
#: A poll's feed errors are its answer (202 with `error`); only Temporal trouble is an error.
POLL_RESPONSES = NO_WORKER
#: The workspace routes ask the backend.
BACKEND_RESPONSES = {502: {"description": "The workspace backend failed (`workspace_backend_unavailable`)"}}
