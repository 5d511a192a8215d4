"""Starts setup workflows whose start was lost (API killed or Temporal down after the commit)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlmodel import col, select
from temporalio.client import Client

from api.protocols.services.projects import start_project_setup
from capstan.db import SessionFactory
from capstan.settings import Settings
from models.common.base import utcnow
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun
from models.protocols.status import ProtocolStatus
from models.protocols.workflow_io import PROJECT_SETUP_PREFIX

log = logging.getLogger(__name__)

GRACE = timedelta(seconds=10)
INTERVAL_SECONDS = 30.0


async def start_lost_setups(sessions: SessionFactory, temporal: Client, settings: Settings) -> int:
    async with sessions() as session:
        rows = (await session.exec(
            select(ProtocolRun, Project).join(Project, col(Project.id) == col(ProtocolRun.project_id))
            .where(ProtocolRun.status == ProtocolStatus.PENDING,
                   col(ProtocolRun.workflow_id).startswith(PROJECT_SETUP_PREFIX),
                   ProtocolRun.created_at < utcnow() - GRACE)
            .limit(100))).all()
    for run, project in rows:
        await start_project_setup(temporal, settings, project, run)
    return len(rows)


async def reconcile_forever(sessions: SessionFactory, temporal: Client, settings: Settings) -> None:
    while True:
        try:
            started = await start_lost_setups(sessions, temporal, settings)
            if started:
                log.info("started %d setup runs whose start had been lost", started)
        except Exception:
            log.exception("reconcile pass failed; trying again later")
        await asyncio.sleep(INTERVAL_SECONDS)
