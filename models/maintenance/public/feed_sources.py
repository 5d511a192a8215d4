"""Feed sources as operators see them: the file's sources with what polling left, and a poll's answer."""

from __future__ import annotations

from pydantic import Field

from models.maintenance.feed_config import FeedEvent, FeedProvider
from models.maintenance.public.base import Timestamp, WireModel


class FeedCursorPublic(WireModel):
    """Where the last poll left the source."""

    entry_id: str
    checked_at: Timestamp
    tags: list[str] | None = Field(None, description="git `release` sources: every tag seen")


class FeedSourcePublic(WireModel):
    """One source; its state fields are ``null`` until they have a value."""

    id: str
    provider: FeedProvider
    event: FeedEvent
    url: str = Field(description="The feed or remote, without credentials")
    poll_interval_seconds: int
    prime_only: bool
    cursor: FeedCursorPublic | None
    last_polled_at: Timestamp | None
    last_error: str | None
    next_run_at: Timestamp | None = Field(description="The schedule's next run; null while there is no schedule")
    paused: bool | None


class FeedSourceList(WireModel):
    sources: list[FeedSourcePublic]
    errors: list[str] | None = Field(None, description="What the sources file gets wrong; left out when nothing")


class FeedPollPublic(WireModel):
    """What a poll found."""

    source_id: str
    primed: bool = Field(description="The source's first poll with `primeOnly`: only the cursor was saved")
    entries: int = Field(description="How many entries the feed listed")
    events: list[str] = Field(description="Flow events this poll stored, oldest first")
    error: str | None = Field(None, description="Why the feed could not be read or stored; left out when it was")
