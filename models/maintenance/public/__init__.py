"""The maintenance API's wire contracts: one model family per entity, camelCase on the wire.

Records are stored in their wire shape (``body`` JSONB), written by Capstan itself, and the API sends
them as stored, in one pass: an envelope is built with ``stored_envelope`` (``model_construct``) around
the stored dicts, and its record fields are ``SerializeAsAny[XPublic]``, so ``/openapi.json`` documents
each record's schema while the dict itself is serialised as it is (the bytes and the speed of the untyped
routes before). The workspace views (RunView, EventView) are sent the same way, as
``models.maintenance.views`` builds them. The unit tests validate stored records and views against
these models, so the schemas stay true to what is sent.
"""

from models.maintenance.public.attempts import (
    CandidateRefPublic,
    MaintenanceAttemptEnvelope,
    MaintenanceAttemptList,
    MaintenanceAttemptPublic,
    ThreadRefPublic,
)
from models.maintenance.public.base import StoredRecord, stored_envelope
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
    "RunOutputLine", "StoredRecord", "ThreadRefPublic", "WorkspaceEventEnvelope", "WorkspaceEventList",
    "WorkspaceEventPublic", "WorkspaceRunEnvelope", "WorkspaceRunList", "WorkspaceRunPublic", "stored_envelope",
]
