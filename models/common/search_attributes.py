"""Temporal search attributes, defined once.

Workflows upsert them; ``capstan dev`` registers them on the dev server and
``capstan migrate`` on a real one, so operators can filter runs in the Web UI
(``CapstanProjectId = 3``).
"""

from __future__ import annotations

from enum import Enum

from temporalio.common import SearchAttributeKey


class CapstanSearchAttribute(Enum):
    PROJECT_ID = ("CapstanProjectId", "Int")
    PROTOCOL_RUN_ID = ("CapstanProtocolRunId", "Int")
    RUN_KIND = ("CapstanRunKind", "Keyword")
    STATUS = ("CapstanStatus", "Keyword")
    #: The workspace (tenant) of a platform API v1 workflow.
    WORKSPACE_ID = ("CapstanWorkspaceId", "Keyword")

    def __init__(self, attribute_name: str, kind: str) -> None:
        self.attribute_name = attribute_name
        self.kind = kind

    @property
    def key(self) -> SearchAttributeKey:
        if self.kind == "Int":
            return SearchAttributeKey.for_int(self.attribute_name)
        return SearchAttributeKey.for_keyword(self.attribute_name)


PROJECT_ID = CapstanSearchAttribute.PROJECT_ID.key
PROTOCOL_RUN_ID = CapstanSearchAttribute.PROTOCOL_RUN_ID.key
RUN_KIND = CapstanSearchAttribute.RUN_KIND.key
STATUS = CapstanSearchAttribute.STATUS.key
WORKSPACE_ID = CapstanSearchAttribute.WORKSPACE_ID.key
