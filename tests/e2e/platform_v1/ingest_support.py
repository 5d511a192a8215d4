"""What the ingest tests share: event builders and what the ingest wrote to Postgres, read back directly."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

#: Rows of one workspace in each table the ingest may write (directly, or through the record store and outbox).
WRITTEN = {
    "batches": "SELECT count(*) FROM platform_ingest_batches WHERE workspace_id = :ws",
    "event ids": "SELECT count(*) FROM platform_ingest_events WHERE workspace_id = :ws",
    "records": "SELECT count(*) FROM platform_resources WHERE workspace_id = :ws",
    "audit": "SELECT count(*) FROM platform_audit WHERE workspace_id = :ws",
    "outbox": "SELECT count(*) FROM platform_events WHERE workspace_id = :ws",
    "record versions": "SELECT coalesce(sum(version), 0) FROM platform_resources WHERE workspace_id = :ws",
}


async def written(db_engine: AsyncEngine, workspace: str) -> dict[str, int]:
    """How many rows of ``workspace`` each table holds (and the records' versions summed: a change shows)."""
    async with db_engine.connect() as conn:
        return {what: int((await conn.execute(text(sql), {"ws": workspace})).scalar_one())
                for what, sql in WRITTEN.items()}


def event_id() -> str:
    return f"dev-{uuid.uuid4().hex[:12]}"


def telemetry(**data: Any) -> dict[str, Any]:
    return {"id": event_id(), "type": "telemetry", "data": data or {"cpu": 42.5, "memory": 61}}


def heartbeat() -> dict[str, Any]:
    return {"id": event_id(), "type": "heartbeat", "data": {"uptimeSeconds": 86400}}


def alert(title: str = "Disk full", severity: str = "error", **more: Any) -> dict[str, Any]:
    return {"id": event_id(), "type": "alert.triggered", "occurredAt": "2026-05-13T08:00:00Z",
            "data": {"title": title, "severity": severity, **more}}


def state_change(asset_id: str, status: str) -> dict[str, Any]:
    return {"id": event_id(), "type": "asset.state_changed", "data": {"assetId": asset_id, "status": status}}


def pipeline_failure(pipeline: str = "build", **more: Any) -> dict[str, Any]:
    return {"id": event_id(), "type": "pipeline.failed", "data": {"pipeline": pipeline, **more}}
