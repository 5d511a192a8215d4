"""What every surface's workflows write through ``workflows.common.records``: events, and the
one error type a refused write fails with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: ``ApplicationError.type`` of a write Postgres refused for its data: never retried
#: (``integrations.stores.db_errors``); the API answers it with 400 ``record_rejected``.
RECORD_REJECTED_ERROR = "RecordRejected"

#: The event a workflow records instead of the changes Postgres refused.
RECORD_REJECTED_EVENT = "record_rejected"


@dataclass
class EventRecord:
    event_type: str
    message: str
    step_run_id: int | None = None
    metadata: dict[str, Any] | None = None
    # A key unique to this write in the workflow's history, so a retried write records once.
    dedupe_key: str | None = None
    # The step by its index, for an event about a step the same write creates (its id is not known yet).
    step_index: int | None = None
