"""What every surface's activities share in one worker process, made once and closed on shutdown."""

from __future__ import annotations

from temporalio.client import Client

from activities.common.heartbeat import activity_heartbeat
from capstan.db import SessionFactory, create_engine, create_session_factory
from capstan.secrets import SecretBox
from capstan.settings import Settings
from integrations.git import GitRunner, RepositoryCache
from integrations.sandbox import Sandbox
from models.common.settings import secret_value


class WorkerResources:
    def __init__(self, settings: Settings, temporal: Client | None = None) -> None:
        self.settings = settings
        #: The worker's own client, for activities that start workflows (the protocols' lost-setup sweep).
        self.temporal = temporal
        self.engine = create_engine(settings.database)
        self.sessions: SessionFactory = create_session_factory(self.engine)
        self.repositories = RepositoryCache(
            settings.worker.git_cache_dir.resolve(),
            GitRunner(settings.worker.git_binary, settings.worker.git_author_name, settings.worker.git_author_email,
                      heartbeat=activity_heartbeat))
        self.sandbox = Sandbox(settings.sandbox, heartbeat=activity_heartbeat)
        self.secret_box = SecretBox(secret_value(settings.secrets.key))

    async def close(self) -> None:
        await self.engine.dispose()
