"""The records activities of every surface: how workflows write Postgres.

A surface writes its records with an activity declared with ``records_activity(name)``: one
transaction per write (``capstan.db.session_scope``), dedupe keys on every event so a retried
write records once, and data Postgres refuses failing the write at once, never retried
(``integrations.stores.db_errors``). ``workflows.common.records.RecordWriter`` is the caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity

from integrations.stores.db_errors import refuses_bad_records

F = TypeVar("F", bound=Callable[..., Awaitable])


def records_activity(name: str) -> Callable[[F], F]:
    """``activity.defn(name=name)`` for a database write whose refused data fails it for good."""

    def declare(write: F) -> F:
        return activity.defn(name=name)(refuses_bad_records(write))

    return declare
