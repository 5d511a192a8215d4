"""What a feed host cannot make a poll do: read a body past the size cap, follow a redirect to another
origin, or hand Postgres an entry it cannot store. Each is a clear ``FeedReadError`` (the poll's recorded
error), over real HTTP against the fake feed host."""

from __future__ import annotations

import json

import httpx
import pytest

from integrations.feeds import FeedLimits, FeedReadError, read_feed
from integrations.git import GitRunner
from models.maintenance.feed_config import FeedSourceConfig
from tests.fakes.feeds import JSON, FakeFeedServer, github_releases_atom, npm_document

NOW = "2026-05-13T12:00:00.000Z"
REPO = {"owner": "acme", "name": "widget", "fullName": "acme/widget", "webUrl": "https://github.com/acme/widget"}
CAP = 64 * 1024


def feed_source(url: str, **overrides) -> FeedSourceConfig:
    config = {"id": "gh", "provider": "github", "url": url, "event": "release", "repo": REPO,
              "target": {"mode": "workspace_flow", "eventType": "upstream.release"}}
    return FeedSourceConfig.model_validate({**config, **overrides})


def npm_source(url: str) -> FeedSourceConfig:
    return feed_source(url, id="npm-left-pad", provider="npm", repo={**REPO, "fullName": "left-pad"})


async def read(source: FeedSourceConfig, limits: FeedLimits = FeedLimits(max_bytes=CAP)):
    async with httpx.AsyncClient(timeout=5.0) as http:
        return await read_feed(source, http=http, git=GitRunner(), now=NOW, limits=limits)


# --- size ---

async def test_a_streamed_body_over_the_cap_stops_the_read_there(fake_feeds: FakeFeedServer):
    stream = fake_feeds.serve_stream("/huge.atom", chunk=b"<!-- padding -->" * 4096, chunks=4096)  # 256 MiB

    with pytest.raises(FeedReadError, match=rf"^Feed gh is larger than {CAP} bytes \(CAPSTAN_FEED_MAX_BYTES\)"):
        await read(feed_source(fake_feeds.url_for("/huge.atom")))

    assert stream.closed.wait(10), "the client did not hang up"
    # What the server handed over before the client went away: the cap plus what socket buffers hold.
    assert stream.sent < stream.total // 16, f"{stream.sent} of {stream.total} bytes were sent"


async def test_a_declared_length_over_the_cap_is_refused_before_reading(fake_feeds: FakeFeedServer):
    url = fake_feeds.serve("/big.json", b" " * (CAP + 1) + b"{}", content_type=JSON)
    with pytest.raises(FeedReadError, match="is larger than"):
        await read(npm_source(url))


async def test_a_body_within_the_cap_is_read(fake_feeds: FakeFeedServer):
    url = fake_feeds.serve("/releases.atom", github_releases_atom("acme", "widget", ["v1.0.0"]))
    assert [entry.title for entry in await read(feed_source(url))] == ["v1.0.0"]


# --- redirects ---

async def test_a_redirect_within_the_origin_is_followed(fake_feeds: FakeFeedServer):
    fake_feeds.serve("/new.atom", github_releases_atom("acme", "widget", ["v2.0.0"]))
    fake_feeds.redirect("/old.atom", "/new.atom", status=301)
    assert [entry.title for entry in await read(feed_source(fake_feeds.url_for("/old.atom")))] == ["v2.0.0"]


async def test_a_redirect_to_another_origin_is_a_poll_error_and_is_not_followed(fake_feeds: FakeFeedServer):
    with FakeFeedServer() as internal:
        internal.serve("/secret.atom", github_releases_atom("acme", "internal", ["secret"]))
        fake_feeds.redirect("/releases.atom", internal.url_for("/secret.atom"))

        with pytest.raises(FeedReadError) as raised:
            await read(feed_source(fake_feeds.url_for("/releases.atom")))

        assert raised.value.message == (
            f"Feed gh redirected to another origin (http://127.0.0.1:{internal.port}); redirects are followed "
            f"only within http://127.0.0.1:{fake_feeds.port}")
        assert internal.requests == []


async def test_a_redirect_loop_ends(fake_feeds: FakeFeedServer):
    fake_feeds.redirect("/a.atom", "/b.atom")
    fake_feeds.redirect("/b.atom", "/a.atom")
    with pytest.raises(FeedReadError, match="redirected more than 5 times"):
        await read(feed_source(fake_feeds.url_for("/a.atom")))
    assert len(fake_feeds.requests) == 6


# --- entries Postgres could not store ---

@pytest.mark.parametrize(("version", "complaint"), [
    ("1.0.0\u0000", r"id 'npm:left-pad:1\.0\.0\\x00' holds a NUL character"),
    ("1.0.0-\ud800", r"id 'npm:left-pad:1\.0\.0-\\ud800' holds a lone surrogate"),
    ("9" * 600, r"id 'npm:left-pad:9+'… is longer than 512 bytes"),
], ids=["nul", "lone-surrogate", "too-long"])
async def test_an_npm_version_postgres_cannot_store_is_a_poll_error(fake_feeds: FakeFeedServer, version, complaint):
    document = npm_document("left-pad", {"1.0.0": "2026-05-01T00:00:00Z", version: "2026-05-02T00:00:00Z"})
    url = fake_feeds.serve("/left-pad", json.dumps(document), content_type=JSON)  # \u escapes, as npm sends them
    with pytest.raises(FeedReadError, match=rf"^Feed npm-left-pad has an entry Capstan cannot store: {complaint}"):
        await read(npm_source(url))


async def test_json_nested_too_deep_to_parse_is_a_poll_error(fake_feeds: FakeFeedServer):
    url = fake_feeds.serve("/left-pad", "[" * 100_000 + "]" * 100_000, content_type=JSON)
    with pytest.raises(FeedReadError, match="is not a JSON npm registry document"):
        await read(npm_source(url), FeedLimits())


async def test_a_read_has_one_deadline_however_slowly_the_feed_answers(fake_feeds: FakeFeedServer):
    url = fake_feeds.serve("/slow.atom", github_releases_atom("acme", "widget", ["v1.0.0"]))
    fake_feeds.delay_next(3)
    with pytest.raises(FeedReadError, match=r"^Feed gh did not answer within 0\.5s"):
        await read(feed_source(url), FeedLimits(timeout_seconds=0.5))
