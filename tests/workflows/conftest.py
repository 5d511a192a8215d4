"""Workflow tests: ``ProtocolRunWorkflow`` on a Temporal dev server of their own, with stub
activities. They use neither Postgres nor git, so they ask for none of the session ``stack``
fixtures of ``tests/conftest.py`` (fixtures start only when a test asks for them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import ProtocolRunHarness, harness_for, local_environment
from tests.workflows.protocols.stubs import StubActivities


@pytest.fixture(scope="session")
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    async with local_environment() as env:
        yield env


@pytest.fixture
def stubs() -> StubActivities:
    return StubActivities()


@pytest.fixture
async def harness(workflow_env: WorkflowEnvironment, stubs: StubActivities) -> AsyncIterator[ProtocolRunHarness]:
    """A worker on this test's own task queue, running the real workflow with ``stubs``."""
    async with harness_for(workflow_env.client, stubs) as harness:
        yield harness
