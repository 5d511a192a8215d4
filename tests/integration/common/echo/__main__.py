"""``python -m tests.integration.common.echo worker --surfaces ...``: the ``capstan`` command with the echo surface
registered next to the real ones."""

from __future__ import annotations

import sys

from capstan.cli import main
from tests.integration.common.echo.workflow import EchoWorkflow, echo
from worker.registry import WORKER_SURFACES, WorkerSurface

ECHO = WorkerSurface("echo", [EchoWorkflow], lambda resources: [echo])

if __name__ == "__main__":
    WORKER_SURFACES.append(ECHO)
    sys.exit(main())
