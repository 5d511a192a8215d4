"""The maintenance API's wire contracts: one model family per entity, camelCase on the wire.

Records are stored in their wire shape (``body`` JSONB); the API validates the stored dict into the
entity's ``…Public`` model once and serialises that instance (the routes declare it as
``response_model`` with ``response_model_exclude_unset``), so a key a record does not hold is left
out, never ``null``, and a key the model does not name is kept as stored.
"""

from models.maintenance.public.attempts import (
    CandidateRefPublic,
    MaintenanceAttemptEnvelope,
    MaintenanceAttemptList,
    MaintenanceAttemptPublic,
    ThreadRefPublic,
)
from models.maintenance.public.dispatches import DispatchRecordList, DispatchRecordPublic
from models.maintenance.public.feed_sources import FeedCursorPublic, FeedPollPublic, FeedSourceList, FeedSourcePublic
from models.maintenance.public.flow_events import (
    FlowEventDispatchAnswer,
    FlowEventList,
    FlowEventPublic,
    FlowEventWithDispatches,
)
from models.maintenance.public.workspace import (
    RunOutputLine,
    WorkspaceEventEnvelope,
    WorkspaceEventList,
    WorkspaceEventPublic,
    WorkspaceRunEnvelope,
    WorkspaceRunList,
    WorkspaceRunPublic,
)

__all__ = [
    "CandidateRefPublic", "DispatchRecordList", "DispatchRecordPublic", "FeedCursorPublic", "FeedPollPublic",
    "FeedSourceList", "FeedSourcePublic", "FlowEventDispatchAnswer", "FlowEventList", "FlowEventPublic",
    "FlowEventWithDispatches", "MaintenanceAttemptEnvelope", "MaintenanceAttemptList", "MaintenanceAttemptPublic",
    "RunOutputLine", "ThreadRefPublic", "WorkspaceEventEnvelope", "WorkspaceEventList", "WorkspaceEventPublic",
    "WorkspaceRunEnvelope", "WorkspaceRunList", "WorkspaceRunPublic",
]
