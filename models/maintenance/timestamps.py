"""The one timestamp form of the maintenance records: ISO 8601 UTC with milliseconds and ``Z``
(``2026-05-13T00:00:01.000Z``, JavaScript's ``toISOString``). Attempt ids are built from it."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(moment: datetime) -> str:
    """``moment`` in the records' form; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso_ms(datetime.now(UTC))


def parse_iso(text: str) -> datetime:
    """The inverse of ``iso_ms`` (and any ISO 8601 form ``datetime.fromisoformat`` reads)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
