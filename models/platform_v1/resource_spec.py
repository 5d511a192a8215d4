"""What the resource engine knows of one resource kind: its id prefix, the schema of its body, what it
references, what a list may sort and filter on, and whether it is financial (roles differ).

The specs are data; ``models.platform_v1.catalog`` lists them, ``api.platform_v1`` serves a route
family per spec, and ``models.platform_v1.tables`` indexes the sort keys they declare.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel


class SortType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    #: An enum whose values are ranked (``rank`` gives them low to high), e.g. a priority.
    RANK = "rank"


@dataclass(frozen=True)
class SortKey:
    """A body field a list may sort by: its JSON name, how it compares, and whether it has an index."""

    field: str
    type: SortType = SortType.TEXT
    rank: tuple[str, ...] = ()
    indexed: bool = False


@dataclass(frozen=True)
class ResourceSpec:
    #: The URL segment and the ``kind`` of its rows (``tickets``, ``knowledge-base``).
    name: str
    #: Prefix of its ids (``tkt`` → ``tkt_6f1c…``).
    prefix: str
    #: One resource, in its wire shape (camelCase); unknown fields are refused.
    schema: type[BaseModel]
    #: Body fields holding the id of another resource of the same workspace: field → resource name.
    references: Mapping[str, str] = field(default_factory=dict)
    #: Body fields that must equal the same field of a referenced record: field → reference field
    #: (a payment's ``currency`` is its invoice's: ``{"currency": "invoiceId"}``).
    agrees_with: Mapping[str, str] = field(default_factory=dict)
    #: Sortable body fields by API name (``createdAt``/``updatedAt`` are always sortable).
    sorts: Mapping[str, SortKey] = field(default_factory=dict)
    #: Body fields a list filters on by equality (``?status=open&clientId=cli_…``).
    filters: tuple[str, ...] = ()
    #: Financial records (contracts, quotes, invoices, payments): read and written by other roles.
    financial: bool = False
    #: Singular noun for messages (``ticket``).
    noun: str = ""

    @property
    def singular(self) -> str:
        return self.noun or self.name.rstrip("s")
