"""Reading a feed source: Atom/RSS and npm documents over HTTP, git remotes with ``git ls-remote``."""

from __future__ import annotations

import httpx

from integrations.feeds.errors import FeedReadError
from integrations.feeds.git_feeds import read_git_feed
from integrations.feeds.http_feeds import read_http_feed
from integrations.git import GitRunner
from models.maintenance.feed_config import FeedSourceConfig
from models.maintenance.feed_entries import FeedEntry

__all__ = ["FeedReadError", "read_feed"]


async def read_feed(source: FeedSourceConfig, *, http: httpx.AsyncClient, git: GitRunner,
                    now: str) -> list[FeedEntry]:
    """The source's entries, newest first. ``now`` is the receive time (entries without a readable date
    get it). Every failure raises FeedReadError."""
    if source.provider == "git":
        return await read_git_feed(source, git=git, now=now)
    return await read_http_feed(source, http=http, now=now)
