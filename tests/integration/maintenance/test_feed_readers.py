"""Reading real feeds: Atom, RSS and npm documents over real HTTP, and real git remotes with ls-remote."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from integrations.feeds import FeedReadError, read_feed
from integrations.feeds.git_feeds import tag_entries
from integrations.git import GitRunner
from models.maintenance.feed_config import FeedSourceConfig
from models.maintenance.feed_entries import flow_event_for, select_entries
from tests.fakes.feeds import (
    ATOM,
    JSON,
    RSS,
    FakeFeedServer,
    atom_entry,
    atom_feed,
    github_releases_atom,
    npm_document,
    rss_feed,
    rss_item,
)
from tests.support import git, make_git_repo

NOW = "2026-05-13T12:00:00.000Z"
REPO = {"owner": "openai", "name": "codex", "fullName": "openai/codex", "webUrl": "https://github.com/openai/codex"}


def feed_source(url: str, **overrides) -> FeedSourceConfig:
    config = {"id": "gh-rel", "provider": "github", "url": url, "event": "release", "repo": REPO,
              "target": {"mode": "workspace_flow", "eventType": "upstream.release"}}
    return FeedSourceConfig.model_validate({**config, **overrides})


async def read(source: FeedSourceConfig, timeout: float = 5.0):
    async with httpx.AsyncClient(timeout=timeout) as http:
        return await read_feed(source, http=http, git=GitRunner(), now=NOW)


# --- Atom and RSS ---

async def test_github_releases_atom_gives_entries_newest_first_and_the_documented_events(fake_feeds: FakeFeedServer):
    url = fake_feeds.serve("/openai/codex/releases.atom",
                           github_releases_atom("openai", "codex", ["rust-v0.131.0", "rust-v0.130.0"]))
    source = feed_source(url)

    entries = await read(source)

    assert [e.id for e in entries] == ["tag:github.com,2008:Repository/9654/rust-v0.131.0",
                                       "tag:github.com,2008:Repository/9654/rust-v0.130.0"]
    newest = entries[0]
    assert newest.title == "rust-v0.131.0" and newest.author == "octocat"
    assert newest.url == "https://github.com/openai/codex/releases/tag/rust-v0.131.0"
    assert newest.published_at == "2026-05-13T00:00:00.000Z" and entries[1].published_at == "2026-05-12T23:00:00.000Z"
    [request] = fake_feeds.requests
    assert request.headers["accept"] == ("application/json, application/atom+xml, application/rss+xml, "
                                         "application/xml, text/xml;q=0.9")

    event = flow_event_for(source, newest, NOW)
    assert event["id"] == "patch:gh-rel:tag:github.com,2008:Repository/9654/rust-v0.131.0:upstream.release"
    assert event["payload"]["tag"] == "rust-v0.131.0"


async def test_a_new_release_on_the_feed_is_the_one_entry_handled(fake_feeds: FakeFeedServer):
    url = fake_feeds.serve("/releases.atom", github_releases_atom("openai", "codex", ["rust-v0.130.0"]))
    source = feed_source(url)
    first = select_entries(source, await read(source), None, NOW)
    assert first.primed and first.selected == []

    fake_feeds.serve("/releases.atom", github_releases_atom("openai", "codex", ["rust-v0.131.0", "rust-v0.130.0"]))
    second = select_entries(source, await read(source), first.cursor, NOW)
    assert [e.title for e in second.selected] == ["rust-v0.131.0"]


async def test_atom_entries_fall_back_as_documented(fake_feeds: FakeFeedServer):
    document = atom_feed([
        atom_entry(id="  urn:e:1  ", title="  Fish & chips  ", author="Ann", updated="2026-05-01T10:00:00.250Z",
                   published="2026-04-01T00:00:00Z", link="https://x.invalid/1"),
        atom_entry(link="https://x.invalid/2", published="2026-04-02T00:00:00+02:00"),   # no id, no title
        atom_entry(title="Only a title", updated="the day after tomorrow"),            # unreadable date
        "<entry><title><![CDATA[  cdata title  ]]></title></entry>",
        atom_entry(),                                                                   # nothing to name it by
    ])
    entries = await read(feed_source(fake_feeds.serve("/feed.atom", document)))

    assert [(e.id, e.title, e.url, e.author, e.published_at) for e in entries] == [
        ("urn:e:1", "Fish & chips", "https://x.invalid/1", "Ann", "2026-05-01T10:00:00.250Z"),
        ("https://x.invalid/2", "Untitled feed entry", "https://x.invalid/2", None, "2026-04-01T22:00:00.000Z"),
        ("Only a title", "Only a title", None, None, NOW),
        ("cdata title", "cdata title", None, None, NOW),
    ]


async def test_rss_items_fall_back_as_documented(fake_feeds: FakeFeedServer):
    document = rss_feed([
        rss_item(guid="guid-1", title="First", link="https://x.invalid/1", author="ann@x.invalid (Ann)",
                 pub_date="Tue, 12 May 2026 10:00:00 GMT"),
        rss_item(link="https://x.invalid/2", pub_date="Mon, 11 May 2026 12:00:00 +0200"),
        rss_item(title="Third", pub_date="not a date"),
        rss_item(),
    ])
    url = fake_feeds.serve("/feed.rss", document, content_type=RSS)
    entries = await read(feed_source(url, provider="codeberg"))

    assert [(e.id, e.title, e.url, e.author, e.published_at) for e in entries] == [
        ("guid-1", "First", "https://x.invalid/1", "ann@x.invalid (Ann)", "2026-05-12T10:00:00.000Z"),
        ("https://x.invalid/2", "Untitled feed item", "https://x.invalid/2", None, "2026-05-11T10:00:00.000Z"),
        ("Third", "Third", None, None, NOW),
    ]


async def test_a_feed_with_no_entries_reads_as_empty(fake_feeds: FakeFeedServer):
    assert await read(feed_source(fake_feeds.serve("/empty.atom", atom_feed([]), content_type=ATOM))) == []


# --- npm ---

async def test_npm_registry_document_gives_one_entry_per_version_newest_first(fake_feeds: FakeFeedServer):
    document = npm_document("@openai/codex", {"0.130.0": "2026-05-01T00:00:00.000Z",
                                              "0.131.0": "2026-05-13T00:00:01.500Z",
                                              "0.129.0-alpha.1": "2026-04-20T08:00:00Z"})
    url = fake_feeds.serve("/@openai%2fcodex", document, content_type=JSON)
    source = feed_source(url, id="npm-codex", provider="npm", repo={**REPO, "fullName": "@openai/codex"})

    entries = await read(source)

    assert [(e.id, e.title, e.published_at) for e in entries] == [
        ("npm:@openai/codex:0.131.0", "0.131.0", "2026-05-13T00:00:01.500Z"),
        ("npm:@openai/codex:0.130.0", "0.130.0", "2026-05-01T00:00:00.000Z"),
        ("npm:@openai/codex:0.129.0-alpha.1", "0.129.0-alpha.1", "2026-04-20T08:00:00.000Z"),
    ]
    assert entries[0].url == "https://www.npmjs.com/package/%40openai%2Fcodex/v/0.131.0"
    assert {e.author for e in entries} == {"npm"}
    payload = flow_event_for(source, entries[0], NOW)["payload"]
    assert (payload["packageName"], payload["version"]) == ("@openai/codex", "0.131.0")


# --- failures ---

@pytest.mark.parametrize("status", [500, 404, 429])
async def test_a_non_2xx_answer_is_a_poll_error_naming_the_source(fake_feeds: FakeFeedServer, status: int):
    url = fake_feeds.serve("/feed.atom", github_releases_atom("openai", "codex", ["v1"]))
    fake_feeds.fail_next(status, "upstream trouble")
    with pytest.raises(FeedReadError) as raised:
        await read(feed_source(url))
    assert raised.value.message == f"Feed gh-rel returned {status}" and raised.value.http_status == status


@pytest.mark.parametrize(("body", "content_type"), [
    ("<!doctype html><html><head><title>Sign in</title></head><body><p>Please log in</body></html>", "text/html"),
    ('<?xml version="1.0"?><Error><Code>SlowDown</Code></Error>', "application/xml"),
    ("Service Unavailable", "text/plain"),
    ('{"releases": []}', JSON),
])
async def test_garbage_instead_of_a_feed_is_a_clear_poll_error(fake_feeds: FakeFeedServer, body, content_type):
    url = fake_feeds.serve("/feed.atom", body, content_type=content_type)
    with pytest.raises(FeedReadError, match="^Feed gh-rel is not an Atom or RSS document"):
        await read(feed_source(url))


@pytest.mark.parametrize(("body", "complaint"), [
    ("<html>npm is down</html>", "is not a JSON npm registry document"),
    ('{"name": "left-pad"}', 'has no "time" object'),
    ("[1, 2]", 'has no "time" object'),
])
async def test_a_bad_npm_document_is_a_poll_error(fake_feeds: FakeFeedServer, body, complaint):
    url = fake_feeds.serve("/left-pad", body, content_type=JSON)
    with pytest.raises(FeedReadError, match=complaint):
        await read(feed_source(url, id="npm-left-pad", provider="npm"))


async def test_a_feed_that_does_not_answer_in_time_is_a_poll_error(fake_feeds: FakeFeedServer):
    url = fake_feeds.serve("/slow.atom", github_releases_atom("openai", "codex", ["v1"]))
    fake_feeds.delay_next(1.5)
    with pytest.raises(FeedReadError, match="^Feed gh-rel did not answer in time"):
        await read(feed_source(url), timeout=0.3)


async def test_an_unreachable_feed_is_a_poll_error():
    with FakeFeedServer() as stopped:
        url = stopped.url_for("/feed.atom")
    with pytest.raises(FeedReadError, match="^Feed gh-rel could not be fetched"):
        await read(feed_source(url))


# --- git ---

def git_source(remote: Path, event: str, **overrides) -> FeedSourceConfig:
    return feed_source(str(remote), id=f"git-{event}", provider="git", event=event, **overrides)


async def test_git_release_reads_every_tag_with_its_commit(tmp_path: Path):
    remote = make_git_repo(tmp_path / "upstream")
    first = git("rev-parse", "HEAD", cwd=remote)
    git("tag", "v1.0.0", cwd=remote)
    git("commit", "-q", "--allow-empty", "-m", "second", cwd=remote)
    second = git("rev-parse", "HEAD", cwd=remote)
    git("tag", "-a", "v1.10.0", "-m", "annotated release", cwd=remote)
    git("tag", "v1.2.0", first, cwd=remote)

    entries = await read(git_source(remote, "release"))

    assert [(e.id, e.title, e.ref, e.tag, e.sha) for e in entries] == [
        ("v1.10.0", "v1.10.0", "v1.10.0", "v1.10.0", second),   # the peeled commit, not the tag object
        ("v1.2.0", "v1.2.0", "v1.2.0", "v1.2.0", first),
        ("v1.0.0", "v1.0.0", "v1.0.0", "v1.0.0", first),
    ]
    assert {(e.url, e.published_at, e.author) for e in entries} == {(str(remote), NOW, None)}


async def test_git_release_new_tags_are_handled_in_version_order(tmp_path: Path):
    remote = make_git_repo(tmp_path / "upstream")
    git("tag", "v1.0.0", cwd=remote)
    source = git_source(remote, "release")
    primed = select_entries(source, await read(source), None, NOW)
    assert primed.primed and primed.cursor["tags"] == ["v1.0.0"]

    for tag in ("v2.0.0", "v1.0.1", "v1.10.0"):
        git("tag", tag, cwd=remote)
    selection = select_entries(source, await read(source), primed.cursor, NOW)

    assert [e.tag for e in selection.selected] == ["v1.0.1", "v1.10.0", "v2.0.0"]
    event = flow_event_for(source, selection.selected[0], NOW)
    assert event["id"] == "patch:git-release:v1.0.1:upstream.release"
    assert (event["payload"]["ref"], event["payload"]["url"]) == ("v1.0.1", str(remote))


async def test_git_push_gives_one_entry_per_movement_of_the_default_branch(tmp_path: Path):
    remote = make_git_repo(tmp_path / "upstream", branch="trunk")
    git("branch", "main", cwd=remote)       # another branch, not the one watched
    source = git_source(remote, "push", repo={**REPO, "defaultBranch": "trunk"},
                        target={"mode": "workspace_flow", "eventType": "upstream.push"})
    head = git("rev-parse", "HEAD", cwd=remote)

    [entry] = await read(source)
    assert (entry.id, entry.title, entry.ref, entry.sha) == (head, f"trunk@{head[:12]}", "refs/heads/trunk", head)
    primed = select_entries(source, [entry], None, NOW)

    git("commit", "-q", "--allow-empty", "-m", "upstream moved", cwd=remote)
    moved = git("rev-parse", "HEAD", cwd=remote)
    selection = select_entries(source, await read(source), primed.cursor, NOW)

    assert [e.sha for e in selection.selected] == [moved]
    payload = flow_event_for(source, selection.selected[0], NOW)["payload"]
    assert (payload["ref"], payload["sha"], payload["url"]) == ("refs/heads/trunk", moved, str(remote))


async def test_git_push_watches_main_when_no_default_branch_is_named(tmp_path: Path):
    remote = make_git_repo(tmp_path / "upstream")
    [entry] = await read(git_source(remote, "push"))
    assert entry.ref == "refs/heads/main" and entry.sha == git("rev-parse", "HEAD", cwd=remote)


async def test_a_missing_branch_is_a_poll_error(tmp_path: Path):
    remote = make_git_repo(tmp_path / "upstream", branch="trunk")
    with pytest.raises(FeedReadError, match="^Feed git-push: branch 'main' not found"):
        await read(git_source(remote, "push"))


async def test_a_failing_ls_remote_is_a_poll_error(tmp_path: Path):
    with pytest.raises(FeedReadError, match="^Feed git-release: git ls-remote failed .*does not appear to be a git"):
        await read(git_source(tmp_path / "no-such-repo", "release"))


async def test_credentials_in_a_git_url_stay_out_of_errors_and_entries(tmp_path: Path):
    with FakeFeedServer() as stopped:       # a port nobody listens on any more
        url = f"http://reader:s3cret-token@127.0.0.1:{stopped.port}/upstream.git"
    source = feed_source(url, id="git-private", provider="git", event="release")
    with pytest.raises(FeedReadError) as raised:
        await read(source)
    assert raised.value.message.startswith("Feed git-private: git ls-remote failed")
    assert "s3cret-token" not in raised.value.message
    [entry] = tag_entries(source, [("a" * 40, "refs/tags/v1.0.0")], NOW)
    assert entry.url == f"http://127.0.0.1:{stopped.port}/upstream.git"
