"""Fixtures of the platform API v1 tests: the test's settings with a JWT key, two workspaces, a fake agent node,
a fake accounting system."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from capstan.settings import Settings
from models.platform_v1.settings import PlatformSettings
from tests.e2e.platform_v1.support import JWT_SECRET, new_workspace
from tests.fakes.accounting import FakeAccounting
from tests.fakes.agent_node import FakeAgentNode


@pytest.fixture(autouse=True)
def platform_settings(settings: Settings) -> Settings:
    settings.platform = PlatformSettings(jwt_secret=JWT_SECRET)
    return settings


@pytest.fixture
async def workspaces(api) -> tuple[str, str]:
    """Workspace A and workspace B."""
    return await new_workspace(api, "Workspace A"), await new_workspace(api, "Workspace B")


@pytest.fixture
def agent_node() -> Iterator[FakeAgentNode]:
    """A fake agent node on a free port (``tests.fakes.agent_node``)."""
    node = FakeAgentNode().start()
    try:
        yield node
    finally:
        node.release()
        node.stop()


@pytest.fixture
def accounting() -> Iterator[FakeAccounting]:
    """A fake accounting system on a free port (``tests.fakes.accounting``)."""
    fake = FakeAccounting().start()
    try:
        yield fake
    finally:
        fake.stop()
