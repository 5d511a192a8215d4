"""Test session: one real Postgres and one real Temporal dev server for the whole run.

Each test gets its own task queue (and a worker on it when it asks for one) and
starts from empty tables. Ids are not reset between tests, so workflow ids
(``protocol-run-{id}``) never collide inside the one Temporal namespace.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import Client

from api.app import create_app
from capstan.db import create_engine
from capstan.devstack.ports import free_port
from capstan.devstack.postgres import EmbeddedPostgres
from capstan.devstack.temporal_server import TemporalDevServer
from capstan.migrate import upgrade_to_head
from capstan.secrets import SecretBox
from capstan.settings import (
    ApiSettings,
    DatabaseSettings,
    SandboxSettings,
    SecretsSettings,
    Settings,
    TemporalSettings,
    WebhookSettings,
    WorkerSettings,
)
from capstan.temporal import connect
from models.registry import metadata
from worker.main import WorkerResources, serve_surfaces

# Fixtures of the fake servers that stand in for what this machine cannot reach.
pytest_plugins = ["tests.fakes.forge", "tests.fakes.workspace_backend", "tests.fakes.feeds", "tests.fakes.github",
                  "tests.fakes.fly", "tests.fakes.notification_receiver"]

# Settings read from a developer's shell must not leak into tests.
for _name in list(os.environ):
    if _name.startswith(("CAPSTAN_", "DEKSDENFLOW_", "PATCH_")) or _name == "FEED_SOURCES_PATH":
        del os.environ[_name]


SESSION_SECRETS_KEY = SecretBox.generate_key()


@dataclass
class Stack:
    database_url: str
    temporal_address: str
    root: Path


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="capstan-test-"))
    postgres = EmbeddedPostgres(root, free_port(), password=secrets.token_urlsafe(), database="capstan_test")
    temporal = TemporalDevServer(free_port(), ui_port=None, db_file=None, log_path=root / "temporal.log")
    try:
        postgres.start()
        upgrade_to_head(postgres.url)
        temporal.start()
        yield Stack(postgres.url, temporal.address, root)
    finally:
        temporal.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def temporal_client(stack: Stack) -> Client:
    return await connect(TemporalSettings(address=stack.temporal_address))


@pytest.fixture(scope="session")
async def db_engine(stack: Stack):
    engine = create_engine(DatabaseSettings(url=stack.database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def clean_tables(db_engine) -> None:
    """Every table empty; ids keep counting so workflow ids stay unique in the session."""
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    async with db_engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def shared_with_steps(tmp_path: Path) -> Path:
    """A folder the test and the steps of its in-process worker both see (read-only for the steps):
    where FIFOs go that signal and hold a running step. Nothing else outside a step's worktree is."""
    path = tmp_path / "shared-with-steps"
    path.mkdir()
    return path


@pytest.fixture
def settings(stack: Stack, task_queue: str, tmp_path: Path, shared_with_steps: Path, clean_tables: None) -> Settings:
    return Settings(
        database=DatabaseSettings(url=stack.database_url),
        temporal=TemporalSettings(address=stack.temporal_address, task_queue=task_queue,
                                  activity_heartbeat_seconds=2.0),
        api=ApiSettings(),
        webhooks=WebhookSettings(),
        worker=WorkerSettings(git_cache_dir=tmp_path / "git-cache"),
        secrets=SecretsSettings(key=SESSION_SECRETS_KEY),
        # Real bubblewrap, never the process fallback: a machine that cannot run it fails the step tests.
        sandbox=SandboxSettings(mode="bubblewrap", read_only_paths=[shared_with_steps]),
    )


@pytest.fixture
async def worker(temporal_client: Client, settings: Settings) -> AsyncIterator[None]:
    """A worker on this test's task queues (every surface), in this process."""
    resources = WorkerResources(settings, temporal=temporal_client)
    async with serve_surfaces(temporal_client, settings, resources):
        yield
    await resources.close()


@pytest.fixture
async def api(settings: Settings, temporal_client: Client) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its lifespan, spoken to over ASGI."""
    async with _client_for(settings, temporal_client) as client:
        yield client


def _client_for(settings: Settings, temporal_client: Client):
    import contextlib

    @contextlib.asynccontextmanager
    async def managed() -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings, temporal_client=temporal_client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://capstan.test") as client:
                yield client

    return managed()


@pytest.fixture
def api_factory(temporal_client: Client):
    """Build an API client for other settings (auth on, a smaller body limit, …)."""
    return lambda settings: _client_for(settings, temporal_client)
