"""Feeds read over HTTP: Atom and RSS documents (parsed by feedparser) and npm registry documents."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any
from urllib.parse import quote

import feedparser
import httpx

from integrations.feeds.errors import FeedReadError
from integrations.feeds.fetch import fetch_feed
from models.maintenance.feed_config import FeedSourceConfig
from models.maintenance.feed_entries import FeedEntry, parse_feed_time, utc_from_struct

UNTITLED_ATOM_ENTRY = "Untitled feed entry"
UNTITLED_RSS_ITEM = "Untitled feed item"

# The npm registry document's `time` keys that are not versions.
_NPM_NON_VERSION_TIMES = ("created", "modified")


async def read_http_feed(source: FeedSourceConfig, *, http: httpx.AsyncClient, now: str,
                         max_bytes: int) -> list[FeedEntry]:
    document = await fetch_feed(source, http, max_bytes)
    if source.provider == "npm":
        return npm_entries(source, document.body, now)
    return await asyncio.to_thread(feed_entries, source, document.body, now, {"content-type": document.content_type})


def feed_entries(source: FeedSourceConfig, body: bytes, now: str,
                 headers: dict[str, str] | None = None) -> list[FeedEntry]:
    """The entries of an Atom or RSS document, in document order (newest first, as feeds list them)."""
    # A stream, never bytes: feedparser would take bytes for a file name and open it.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers or {})
    if not parsed.entries and (parsed.bozo or not parsed.version):
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise FeedReadError(f"Feed {source.id} is not an Atom or RSS document{detail}")
    is_atom = parsed.version.startswith("atom")
    read = _atom_entry if is_atom else _rss_entry
    entries = [read(dict(raw), now) for raw in parsed.entries]
    return [entry for entry in entries if entry.id]


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    return value.strip() if isinstance(value, str) else ""


def _links(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [link for link in raw.get("links") or [] if isinstance(link, dict) and (link.get("href") or "").strip()]


def _published(raw: dict[str, Any], keys: tuple[str, ...], now: str) -> str:
    key = next((key for key in keys if _text(raw, key)), None)
    if key is None:
        return now
    # Our own reading keeps milliseconds; feedparser's knows the rarer date forms.
    return parse_feed_time(raw[key]) or utc_from_struct(raw.get(f"{key}_parsed")) or now


def _atom_entry(raw: dict[str, Any], now: str) -> FeedEntry:
    links = _links(raw)
    url = links[0]["href"].strip() if links else None
    title = _text(raw, "title")
    author_detail = raw.get("author_detail") or {}
    author = (author_detail.get("name") or "").strip() if isinstance(author_detail, dict) else ""
    return FeedEntry(id=_text(raw, "id") or url or title, title=title or UNTITLED_ATOM_ENTRY, url=url,
                     author=author or None, published_at=_published(raw, ("updated", "published"), now))


def _rss_entry(raw: dict[str, Any], now: str) -> FeedEntry:
    # Only a real <link> counts: feedparser also copies a permalink <guid> into `link`, but not into `links`.
    links = [link for link in _links(raw) if link.get("rel", "alternate") == "alternate"]
    url = links[0]["href"].strip() if links else None
    title = _text(raw, "title")
    return FeedEntry(id=_text(raw, "id") or url or title, title=title or UNTITLED_RSS_ITEM, url=url,
                     author=_text(raw, "author") or None, published_at=_published(raw, ("published",), now))


def npm_entries(source: FeedSourceConfig, body: bytes, now: str) -> list[FeedEntry]:
    """One entry per published version of an npm registry document, newest first."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FeedReadError(f"Feed {source.id} is not a JSON npm registry document: {exc}") from None
    times = document.get("time") if isinstance(document, dict) else None
    if not isinstance(times, dict):
        raise FeedReadError(f'Feed {source.id} is not an npm registry document: it has no "time" object')
    name = document.get("name") if isinstance(document.get("name"), str) else source.repo.fullName
    entries = [
        FeedEntry(id=f"npm:{name}:{version}", title=version, url=_npm_version_url(name, version), author="npm",
                  published_at=parse_feed_time(published if isinstance(published, str) else None) or now)
        for version, published in times.items() if version not in _NPM_NON_VERSION_TIMES
    ]
    return sorted(entries, key=lambda entry: entry.published_at, reverse=True)


def _npm_version_url(name: str, version: str) -> str:
    def encode(text: str) -> str:  # JavaScript's encodeURIComponent (a lone surrogate is the entry's id to refuse)
        return quote(text, safe="!~*'()", errors="surrogatepass")

    return f"https://www.npmjs.com/package/{encode(name)}/v/{encode(version)}"
