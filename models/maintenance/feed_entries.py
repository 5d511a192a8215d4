"""Feed entries: which ones a poll handles, and the flow event each one becomes.

Pure functions over what a feed reader returned (newest first) and the source's saved cursor
``{entryId, checkedAt, tags?}``; ``tags`` is the tag set of a git ``release`` source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, NotRequired, TypedDict
from urllib.parse import unquote

from pydantic import AfterValidator, BaseModel

from models.maintenance.feed_config import FeedSourceConfig, creates_flow_events
from models.maintenance.timestamps import iso_ms, parse_iso

#: An entry id becomes part of a flow event id, and that of workflow ids (Temporal takes 1000 bytes) and of
#: indexed columns: bounded well below both.
MAX_ENTRY_ID_BYTES = 512
#: Any other text of an entry (title, url, author, ref …).
MAX_ENTRY_TEXT_BYTES = 8192


def storable(limit_bytes: int) -> AfterValidator:
    """Text Postgres stores as it is (no NUL, valid UTF-8: no lone surrogate) within ``limit_bytes``."""

    def check(value: str) -> str:
        if "\x00" in value:
            raise ValueError("holds a NUL character")
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError("holds a lone surrogate (not valid UTF-8)") from None
        if size > limit_bytes:
            raise ValueError(f"is longer than {limit_bytes} bytes")
        return value

    return AfterValidator(check)


EntryId = Annotated[str, storable(MAX_ENTRY_ID_BYTES)]
EntryText = Annotated[str, storable(MAX_ENTRY_TEXT_BYTES)]


class FeedEntry(BaseModel):
    """One entry as read, checked on the way in: an entry Postgres could not store (or that would not fit a
    workflow id) fails here, as a data error of the feed, before anything is written.
    ``ref``/``sha``/``tag`` are set only by the git provider (from ``ls-remote``)."""

    id: EntryId
    title: EntryText
    url: EntryText | None = None
    author: EntryText | None = None
    published_at: EntryText
    ref: EntryText | None = None
    sha: EntryText | None = None
    tag: EntryText | None = None


class FeedCursor(TypedDict):
    """What a source remembers between polls: the newest entry seen, when, and (git ``release``) every tag."""

    entryId: str
    checkedAt: str
    tags: NotRequired[list[str]]


@dataclass
class Selection:
    """The entries to handle (oldest first) and the cursor to save (None: leave the saved one as it is)."""

    selected: list[FeedEntry] = field(default_factory=list)
    cursor: FeedCursor | None = None
    primed: bool = False


def select_entries(source: FeedSourceConfig, entries: list[FeedEntry], cursor: FeedCursor | dict[str, Any] | None,
                   now: str) -> Selection:
    """``entries`` newest first (as read). No cursor: prime it (``primeOnly``) or take everything; else the
    entries above the cursor's entry, or all of them when that entry left the feed. Git ``release`` sources
    take the tags missing from the cursor's tag set instead, in version order."""
    if not entries:
        return Selection()
    entries = _first_of_each_id(entries)
    new_cursor: FeedCursor = {"entryId": entries[0].id, "checkedAt": now}
    if _tracks_tag_set(source):
        new_cursor["tags"] = sorted((entry.id for entry in entries), key=version_sort_key)
    if cursor is None:
        if source.primeOnly:
            return Selection(cursor=new_cursor, primed=True)
        selected = entries
    elif _tracks_tag_set(source) and isinstance(cursor.get("tags"), list):
        known = set(cursor["tags"])
        selected = [entry for entry in entries if entry.id not in known]
    else:
        position = next((index for index, entry in enumerate(entries) if entry.id == cursor.get("entryId")), None)
        selected = entries if position is None else entries[:position]
    if _tracks_tag_set(source):
        return Selection(selected=sorted(selected, key=lambda entry: version_sort_key(entry.id)), cursor=new_cursor)
    return Selection(selected=list(reversed(selected)), cursor=new_cursor)


def _tracks_tag_set(source: FeedSourceConfig) -> bool:
    return source.provider == "git" and source.event == "release"


def _first_of_each_id(entries: list[FeedEntry]) -> list[FeedEntry]:
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.id not in seen:
            seen.add(entry.id)
            unique.append(entry)
    return unique


_VERSION = re.compile(r"^\D*?(\d+(?:\.\d+)*)(.*)$", re.DOTALL)
_NUMBER_OR_TEXT = re.compile(r"(\d+)")


def _natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in _NUMBER_OR_TEXT.split(text) if part)


def version_sort_key(tag: str) -> tuple[Any, ...]:
    """Orders tags as versions: ``v1.2.0`` < ``v1.10.0``, a pre-release (``v2.0.0-rc.1``) before its
    release, build metadata (``+…``) ignored. Tags without a number sort after, by name."""
    match = _VERSION.match(tag)
    if not match:
        return (1, (), 0, _natural_key(tag), tag)
    release = [int(part) for part in match.group(1).split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    rest = match.group(2).split("+", 1)[0]
    is_final = 0 if rest else 1
    return (0, tuple(release), is_final, _natural_key(rest), tag)


def parse_feed_time(text: str | None) -> str | None:
    """A feed's date (ISO 8601 or RFC 822) in the records' form, or None when it cannot be read."""
    if not text or not text.strip():
        return None
    text = text.strip()
    try:
        moment = parse_iso(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return iso_ms(moment.astimezone(UTC))
    except (OverflowError, ValueError):
        return None


_RELEASE_TAG_IN_URL = re.compile(r"/releases/tag/([^?#]+)")
_GITHUB_RELEASE_ID = re.compile(r"^tag:github\.com,\d{4}:Repository/\d+/(.+)$")
_SHA = re.compile(r"[0-9a-fA-F]{40}")


def entry_ref(source: FeedSourceConfig, entry: FeedEntry) -> str | None:
    if source.provider == "git":
        return entry.ref
    if source.event == "push":
        return f"refs/heads/{source.repo.defaultBranch}" if source.repo.defaultBranch else None
    if entry.url and (match := _RELEASE_TAG_IN_URL.search(entry.url)):
        return unquote(match.group(1))
    if source.provider == "github" and (match := _GITHUB_RELEASE_ID.match(entry.id)):
        return match.group(1)
    return entry.title


def entry_sha(source: FeedSourceConfig, entry: FeedEntry) -> str | None:
    if source.provider == "git":
        return entry.sha
    match = _SHA.search(entry.url if entry.url else entry.id)
    return match.group(0) if match else None


def entry_tag(source: FeedSourceConfig, entry: FeedEntry, ref: str | None) -> str | None:
    if source.event != "release":
        return None
    if source.provider == "git":
        return entry.tag
    return (ref or "").strip() or entry.title.strip() or None


def flow_event_id(source: FeedSourceConfig, entry: FeedEntry) -> str:
    assert source.target is not None
    return f"patch:{source.id}:{entry.id}:{source.target.eventType}"


def flow_event_for(source: FeedSourceConfig, entry: FeedEntry, received_at: str) -> dict[str, Any] | None:
    """The FlowEvent an entry becomes, in wire shape (keys in the documented order, unset keys left out);
    None when the source's target makes no flow events."""
    if not creates_flow_events(source):
        return None
    assert source.target is not None
    ref = entry_ref(source, entry)
    tag = entry_tag(source, entry, ref)
    payload: dict[str, Any] = {
        "provider": source.provider,
        "event": source.event,
        "sourceId": source.id,
        "entryId": entry.id,
        "title": entry.title,
        "url": entry.url,
        "author": entry.author,
        "publishedAt": entry.published_at,
        "repo": source.repo.fullName,
        "repoOwner": source.repo.owner,
        "repoName": source.repo.name,
        "ref": ref,
        "sha": entry_sha(source, entry),
        "tag": tag,
    }
    if source.provider == "npm":
        payload["packageName"] = source.repo.fullName
        payload["version"] = tag
    payload["raw"] = _without_unset({"id": entry.id, "title": entry.title, "url": entry.url,
                                     "author": entry.author, "publishedAt": entry.published_at})
    payload = _without_unset(payload)
    payload.update(source.target.payload or {})
    return {
        "id": flow_event_id(source, entry),
        "type": source.target.eventType,
        "source": "patch",
        "occurredAt": entry.published_at,
        "receivedAt": received_at,
        "payload": payload,
    }


def _without_unset(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def utc_from_struct(parsed: Any) -> str | None:
    """A ``time.struct_time`` in UTC (what feed parsers hand back) in the records' form."""
    try:
        return iso_ms(datetime(*parsed[:6], tzinfo=UTC))
    except (TypeError, ValueError, OverflowError):
        return None
