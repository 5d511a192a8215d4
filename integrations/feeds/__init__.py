"""Reading a feed source: Atom/RSS and npm documents over HTTP, git remotes with ``git ls-remote``.

Everything a feed sends is bounded and checked here: the time a read may take, the size of an HTTP
body, where its redirects may lead (``integrations.feeds.fetch``), and each entry's text
(``models.maintenance.feed_entries.FeedEntry``). Whatever fails is a ``FeedReadError``: the poll
records it as its error, and no retry is made for data that cannot change.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from integrations.feeds.errors import FeedReadError, printable
from integrations.feeds.git_feeds import read_git_feed
from integrations.feeds.http_feeds import read_http_feed
from integrations.git import GitRunner
from models.maintenance.feed_config import FeedSourceConfig
from models.maintenance.feed_entries import FeedEntry
from models.maintenance.settings import DEFAULT_FEED_MAX_BYTES, PatchSettings

__all__ = ["FeedLimits", "FeedReadError", "read_feed"]


@dataclass(frozen=True)
class FeedLimits:
    """How long one read may take in all (HTTP or git), and how many bytes an HTTP body may have."""

    timeout_seconds: float = 20.0
    max_bytes: int = DEFAULT_FEED_MAX_BYTES

    @classmethod
    def of(cls, settings: PatchSettings) -> FeedLimits:
        return cls(settings.feed_timeout_seconds, settings.feed_max_bytes)


async def read_feed(source: FeedSourceConfig, *, http: httpx.AsyncClient, git: GitRunner, now: str,
                    limits: FeedLimits = FeedLimits()) -> list[FeedEntry]:
    """The source's entries, newest first. ``now`` is the receive time (entries without a readable date
    get it). Every failure raises FeedReadError."""
    try:
        async with asyncio.timeout(limits.timeout_seconds):
            if source.provider == "git":
                return await read_git_feed(source, git=git, now=now)
            return await read_http_feed(source, http=http, now=now, max_bytes=limits.max_bytes)
    except TimeoutError:
        raise FeedReadError(f"Feed {source.id} did not answer within {limits.timeout_seconds:g}s") from None
    except ValidationError as error:
        raise FeedReadError(f"Feed {source.id} has an entry Capstan cannot store: {_problem(error)}") from None


def _problem(error: ValidationError) -> str:
    """The first bad field of the first bad entry, its value quoted safely (escaped, shortened)."""
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "entry"
    value = first.get("input")
    quoted = f" {printable(value)}" if isinstance(value, str) else ""
    return f"{field}{quoted} {first['msg'].removeprefix('Value error, ')}"
