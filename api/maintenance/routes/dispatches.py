"""Dispatch records, under their name and the older operators' alias."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.deps import SessionDep
from api.maintenance.params import DispatchStatusDep, LimitDep
from api.maintenance.services import records
from models.maintenance.public import DispatchRecordList

router = APIRouter(tags=["dispatches"])


@router.get("/workspace-dispatches", response_model=DispatchRecordList, response_model_exclude_unset=True,
            summary="Dispatch records, newest first")
@router.get("/flow-dispatches", response_model=DispatchRecordList, response_model_exclude_unset=True,
            summary="Dispatch records, newest first (alias of /workspace-dispatches)")
async def list_dispatches(session: SessionDep, limit: LimitDep, status: DispatchStatusDep,
                          eventId: str | None = None) -> DispatchRecordList:  # noqa: N803 - the documented name
    return await records.list_dispatches(session, event_id=eventId, status=status, limit=limit)
