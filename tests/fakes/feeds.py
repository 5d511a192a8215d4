"""A fake feed host speaking real HTTP: serves the Atom, RSS and npm documents a test puts on it.

Usage::

    with FakeFeedServer() as feeds:                # or the ``fake_feeds`` fixture
        url = feeds.serve("/openai/codex/releases.atom",
                          github_releases_atom("openai", "codex", ["rust-v0.131.0", "rust-v0.130.0"]))
        ...                                        # poll ``url``
        feeds.requests[-1].headers["accept"]
        feeds.fail_next(500)                       # the next request answers 500
        feeds.fail_next(200, "<html>not a feed</html>", content_type="text/html")   # garbage
        feeds.delay_next(3.0)                      # the next request answers late
        feeds.redirect("/old.atom", other.url_for("/new.atom"))   # 302 to anywhere
        stream = feeds.serve_stream("/huge.atom", chunk=b"x" * 65536, chunks=4096)  # produced lazily
        stream.sent, stream.closed.wait(5)         # bytes handed to the client; the client went away

Documents can be replaced at any time (a new release appears: ``serve`` the path again).
Unknown paths answer 404.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape, quoteattr

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.served import ServedInThread

ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
JSON = "application/json"


@dataclass
class FeedRequest:
    method: str
    path: str
    headers: dict[str, str]      # lower-case names


@dataclass
class _Document:
    body: bytes
    content_type: str
    status: int = 200


@dataclass
class _Redirect:
    location: str
    status: int = 302


@dataclass
class BodyStream:
    """A body produced lazily, ``chunks`` times ``chunk``, with no Content-Length (chunked): ``sent`` counts the
    bytes handed to the client so far; ``closed`` is set once the server stopped producing (the end, or the
    client went away)."""

    chunk: bytes
    chunks: int
    content_type: str
    sent: int = 0
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def total(self) -> int:
        return len(self.chunk) * self.chunks

    async def produce(self) -> AsyncIterator[bytes]:
        try:
            for _ in range(self.chunks):
                yield self.chunk
                self.sent += len(self.chunk)
                await asyncio.sleep(0)
        finally:
            self.closed.set()


@dataclass
class _ScriptedAnswer:
    document: _Document | None   # None: answer normally (after the delay)
    delay: float = 0.0


@dataclass
class _State:
    documents: dict[str, _Document | _Redirect | BodyStream] = field(default_factory=dict)
    requests: list[FeedRequest] = field(default_factory=list)
    script: list[_ScriptedAnswer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _encoded(body: str | bytes | dict | list) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


class FakeFeedServer(ServedInThread):
    """Start/stop with ``with``; ``.url``, ``.serve()``, ``.requests``, ``.fail_next()``, ``.delay_next()``."""

    label = "fake feed server"

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._state = _State()

    def asgi(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._answer, methods=["GET", "HEAD"])])

    def serve(self, path: str, body: str | bytes | dict | list, *, content_type: str = ATOM,
              status: int = 200) -> str:
        """Serve ``body`` at ``path`` from now on (a dict or list as JSON); returns its full URL."""
        path = "/" + path.lstrip("/")
        with self._state.lock:   # requests are matched by their decoded path
            self._state.documents[unquote(path)] = _Document(_encoded(body), content_type, status)
        return self.url_for(path)

    def redirect(self, path: str, location: str, *, status: int = 302) -> str:
        """Answer requests for ``path`` with a redirect to ``location`` (any URL); returns ``path``'s full URL."""
        path = "/" + path.lstrip("/")
        with self._state.lock:
            self._state.documents[unquote(path)] = _Redirect(location, status)
        return self.url_for(path)

    def serve_stream(self, path: str, *, chunk: bytes, chunks: int, content_type: str = JSON) -> BodyStream:
        """Serve a lazily produced body at ``path`` (for the next request of it: a stream is produced once)."""
        path = "/" + path.lstrip("/")
        stream = BodyStream(chunk, chunks, content_type)
        with self._state.lock:
            self._state.documents[unquote(path)] = stream
        return stream

    def url_for(self, path: str) -> str:
        return self.url + "/" + path.lstrip("/")

    @property
    def requests(self) -> list[FeedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def fail_next(self, status: int, body: str | bytes | dict | list = "", *, content_type: str = "text/plain",
                  times: int = 1) -> None:
        """The next ``times`` requests, whatever their path, answer ``status`` with ``body``."""
        document = _Document(_encoded(body), content_type, status)
        with self._state.lock:
            self._state.script += [_ScriptedAnswer(document) for _ in range(times)]

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests wait ``seconds`` before answering normally."""
        with self._state.lock:
            self._state.script += [_ScriptedAnswer(None, delay=seconds) for _ in range(times)]

    async def _answer(self, request: Request) -> Response:
        with self._state.lock:
            self._state.requests.append(FeedRequest(request.method, request.url.path,
                                                    {k.lower(): v for k, v in request.headers.items()}))
            scripted = self._state.script.pop(0) if self._state.script else None
            document = self._state.documents.get(request.url.path)
        if scripted is not None and scripted.delay:
            await asyncio.sleep(scripted.delay)
        if scripted is not None and scripted.document is not None:
            document = scripted.document
        if document is None:
            return Response("not found", status_code=404, media_type="text/plain")
        if isinstance(document, _Redirect):
            return RedirectResponse(document.location, status_code=document.status)
        if isinstance(document, BodyStream):
            return StreamingResponse(document.produce(), headers={"content-type": document.content_type})
        return Response(document.body, status_code=document.status, headers={"content-type": document.content_type})


@pytest.fixture
def fake_feeds() -> Iterator[FakeFeedServer]:
    """A fresh fake feed host for one test."""
    with FakeFeedServer() as feeds:
        yield feeds


# --- documents ---

BASE_TIME = datetime(2026, 5, 13, tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def github_releases_atom(owner: str, name: str, tags: Sequence[str], *, repository_number: int = 9654,
                         newest: datetime = BASE_TIME, author: str = "octocat") -> str:
    """A document shaped like GitHub's ``https://github.com/<owner>/<name>/releases.atom``: ``tags`` newest
    first, ids ``tag:github.com,2008:Repository/<n>/<tag>``, links to ``/releases/tag/<tag>``, one hour apart."""
    web = f"https://github.com/{owner}/{name}"
    entries = [
        atom_entry(id=f"tag:github.com,2008:Repository/{repository_number}/{tag}", title=tag,
                   link=f"{web}/releases/tag/{tag}", author=author, updated=_stamp(newest - timedelta(hours=index)))
        for index, tag in enumerate(tags)
    ]
    return atom_feed(entries, feed_id=f"tag:github.com,2008:{web}/releases", title=f"Release notes from {name}",
                     link=f"{web}/releases")


def github_commits_atom(owner: str, name: str, branch: str, shas: Sequence[str], *,
                        newest: datetime = BASE_TIME) -> str:
    """Like GitHub's ``/commits/<branch>.atom``: ids ``tag:github.com,2008:Grit::Commit/<sha>``, links to
    ``/commit/<sha>``, newest first."""
    web = f"https://github.com/{owner}/{name}"
    entries = [
        atom_entry(id=f"tag:github.com,2008:Grit::Commit/{sha}", title=f"Commit {sha[:7]}",
                   link=f"{web}/commit/{sha}", author="octocat", updated=_stamp(newest - timedelta(minutes=index)))
        for index, sha in enumerate(shas)
    ]
    return atom_feed(entries, feed_id=f"tag:github.com,2008:/{owner}/{name}/commits/{branch}",
                     title=f"Recent Commits to {name}:{branch}", link=f"{web}/commits/{branch}")


def atom_entry(*, id: str | None = None, title: str | None = None, link: str | None = None,
               author: str | None = None, updated: str | None = None, published: str | None = None) -> str:
    parts = []
    if id is not None:
        parts.append(f"<id>{escape(id)}</id>")
    if updated is not None:
        parts.append(f"<updated>{escape(updated)}</updated>")
    if published is not None:
        parts.append(f"<published>{escape(published)}</published>")
    if link is not None:
        parts.append(f'<link rel="alternate" type="text/html" href={quoteattr(link)}/>')
    if title is not None:
        parts.append(f"<title>{escape(title)}</title>")
    if author is not None:
        parts.append(f"<author><name>{escape(author)}</name></author>")
    return "<entry>" + "".join(parts) + "</entry>"


def atom_feed(entries: Sequence[str], *, feed_id: str = "urn:fake:feed", title: str = "Fake feed",
              link: str = "https://example.invalid/") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-US">'
            f"<id>{escape(feed_id)}</id><link type=\"text/html\" rel=\"alternate\" href={quoteattr(link)}/>"
            f"<title>{escape(title)}</title><updated>{_stamp(BASE_TIME)}</updated>"
            + "".join(entries) + "</feed>")


def rss_item(*, guid: str | None = None, title: str | None = None, link: str | None = None,
             author: str | None = None, pub_date: str | None = None) -> str:
    parts = []
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{escape(guid)}</guid>')
    if title is not None:
        parts.append(f"<title>{escape(title)}</title>")
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if author is not None:
        parts.append(f"<author>{escape(author)}</author>")
    if pub_date is not None:
        parts.append(f"<pubDate>{escape(pub_date)}</pubDate>")
    return "<item>" + "".join(parts) + "</item>"


def rss_feed(items: Sequence[str], *, title: str = "Fake feed", link: str = "https://example.invalid/") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{escape(link)}</link><description>fake</description>"
            + "".join(items) + "</channel></rss>")


def npm_document(name: str, versions: dict[str, str]) -> dict[str, Any]:
    """An npm registry document (``GET https://registry.npmjs.org/<name>``): ``versions`` maps each version
    to its publish time."""
    times = sorted(versions.values())
    return {
        "_id": name, "name": name,
        "dist-tags": {"latest": max(versions, key=versions.__getitem__)} if versions else {},
        "versions": {version: {"name": name, "version": version} for version in versions},
        "time": {"created": times[0] if times else _stamp(BASE_TIME), **versions,
                 "modified": times[-1] if times else _stamp(BASE_TIME)},
    }
