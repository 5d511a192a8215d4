"""Fixtures of the coding-tasks tests: a fake GitHub, the API served over real HTTP (runners call it
back), and settings pointing the worker and the API at both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from capstan.devstack.ports import free_port
from capstan.settings import Settings
from models.protocols.settings import ForgeSettings
from models.tasks.settings import TasksSettings
from tests.e2e.tasks.support import WEBHOOK_SECRET, LiveApi
from tests.fakes.github import FakeGitHub


@pytest.fixture
def live_port() -> int:
    return free_port()


@pytest.fixture(autouse=True)
def tasks_settings(settings: Settings, fake_github: FakeGitHub, live_port: int, tmp_path: Path) -> Settings:
    """The test's settings, set before any worker or API reads them: the fake GitHub, the webhook secret,
    callbacks to the live API, clones under the test's directory."""
    settings.tasks = TasksSettings(webhook_secret=WEBHOOK_SECRET, callback_base_url=f"http://127.0.0.1:{live_port}",
                                   workdir=tmp_path / "task-runs")
    settings.github_app = fake_github.github_app_settings()
    settings.forge = ForgeSettings(github_api_url=fake_github.url)
    return settings


@pytest.fixture
async def live_api(tasks_settings: Settings, temporal_client: Client, live_port: int
                   ) -> AsyncIterator[httpx.AsyncClient]:
    """The real app served by uvicorn on ``live_port`` in this event loop, and a client of it."""
    async with LiveApi(tasks_settings, temporal_client, live_port) as client:
        yield client
