"""Dispatch records, under their name and the older operators' alias."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.deps import SessionDep
from api.maintenance.params import DispatchStatusDep, LimitDep
from api.maintenance.services import records

router = APIRouter(tags=["dispatches"])


@router.get("/workspace-dispatches", summary="Dispatch records, newest first")
@router.get("/flow-dispatches", summary="Dispatch records, newest first (alias of /workspace-dispatches)")
async def list_dispatches(session: SessionDep, limit: LimitDep, status: DispatchStatusDep,
                          eventId: str | None = None) -> dict:  # noqa: N803 - the documented query name
    return {"dispatches": await records.list_dispatches(session, event_id=eventId, status=status, limit=limit)}
