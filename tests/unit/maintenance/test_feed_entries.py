"""Which entries a poll handles, and the flow event each one becomes."""

from __future__ import annotations

import pytest

from models.maintenance.feed_config import FeedSourceConfig
from models.maintenance.feed_entries import (
    FeedEntry,
    flow_event_for,
    parse_feed_time,
    select_entries,
    version_sort_key,
)

NOW = "2026-05-13T12:00:00.000Z"
RECEIVED = "2026-05-13T12:00:01.000Z"
REPO = {"owner": "openai", "name": "codex", "fullName": "openai/codex", "webUrl": "https://github.com/openai/codex"}


def make_source(**overrides) -> FeedSourceConfig:
    config = {"id": "gh-rel", "provider": "github", "url": "https://github.com/openai/codex/releases.atom",
              "event": "release", "repo": REPO, "target": {"mode": "workspace_flow", "eventType": "upstream.release"}}
    return FeedSourceConfig.model_validate({**config, **overrides})


def entry(entry_id: str, **fields) -> FeedEntry:
    return FeedEntry(id=entry_id, title=fields.pop("title", entry_id), published_at=fields.pop("published_at", NOW),
                     **fields)


def ids(entries: list[FeedEntry]) -> list[str]:
    return [e.id for e in entries]


FEED = [entry("e5"), entry("e4"), entry("e3"), entry("e2"), entry("e1")]   # newest first, as feeds list them


# --- selection ---

def test_first_poll_primes_the_cursor_and_handles_nothing():
    selection = select_entries(make_source(), FEED, None, NOW)
    assert selection.primed is True and selection.selected == []
    assert selection.cursor == {"entryId": "e5", "checkedAt": NOW}


def test_first_poll_without_prime_only_handles_every_entry_oldest_first():
    selection = select_entries(make_source(primeOnly=False), FEED, None, NOW)
    assert selection.primed is False
    assert ids(selection.selected) == ["e1", "e2", "e3", "e4", "e5"]
    assert selection.cursor == {"entryId": "e5", "checkedAt": NOW}


def test_entries_newer_than_the_cursor_are_handled_oldest_first():
    selection = select_entries(make_source(), FEED, {"entryId": "e3", "checkedAt": "2026-05-12T00:00:00.000Z"}, NOW)
    assert ids(selection.selected) == ["e4", "e5"] and selection.primed is False
    assert selection.cursor == {"entryId": "e5", "checkedAt": NOW}


def test_nothing_new_handles_nothing_and_refreshes_the_check_time():
    selection = select_entries(make_source(), FEED, {"entryId": "e5", "checkedAt": "2026-05-12T00:00:00.000Z"}, NOW)
    assert selection.selected == [] and selection.cursor == {"entryId": "e5", "checkedAt": NOW}


def test_a_cursor_no_longer_in_the_feed_handles_every_entry():
    selection = select_entries(make_source(), FEED, {"entryId": "e0-fell-off", "checkedAt": NOW}, NOW)
    assert ids(selection.selected) == ["e1", "e2", "e3", "e4", "e5"]


def test_an_empty_feed_leaves_the_cursor_alone_and_primes_nothing():
    for cursor in (None, {"entryId": "e5", "checkedAt": NOW}):
        selection = select_entries(make_source(), [], cursor, NOW)
        assert selection.selected == [] and selection.cursor is None and selection.primed is False


def test_an_entry_listed_twice_is_handled_once():
    feed = [entry("e6"), entry("e5"), entry("e6"), entry("e4")]
    selection = select_entries(make_source(), feed, {"entryId": "e4", "checkedAt": NOW}, NOW)
    assert ids(selection.selected) == ["e5", "e6"]


# --- git release: the tag set ---

def git_release_source(**overrides) -> FeedSourceConfig:
    return make_source(id="git-rel", provider="git", url="/srv/git/codex.git", **overrides)


def tag_entries(*tags: str) -> list[FeedEntry]:
    ordered = sorted(tags, key=version_sort_key, reverse=True)
    return [entry(tag, ref=tag, tag=tag, sha=f"{index:040x}", url="/srv/git/codex.git")
            for index, tag in enumerate(ordered)]


def test_git_release_priming_remembers_every_tag():
    selection = select_entries(git_release_source(), tag_entries("v1.0.0", "v1.1.0"), None, NOW)
    assert selection.primed and selection.selected == []
    assert selection.cursor == {"entryId": "v1.1.0", "checkedAt": NOW, "tags": ["v1.0.0", "v1.1.0"]}


def test_git_release_handles_tags_not_in_the_cursor_in_version_order():
    cursor = {"entryId": "v1.1.0", "checkedAt": NOW, "tags": ["v1.0.0", "v1.1.0"]}
    # An older line gets a patch release and a new major appears in the same poll.
    feed = tag_entries("v1.0.0", "v1.1.0", "v1.0.1", "v2.0.0", "v1.10.0")
    selection = select_entries(git_release_source(), feed, cursor, NOW)

    assert ids(selection.selected) == ["v1.0.1", "v1.10.0", "v2.0.0"]
    assert selection.cursor == {"entryId": "v2.0.0", "checkedAt": NOW,
                                "tags": ["v1.0.0", "v1.0.1", "v1.1.0", "v1.10.0", "v2.0.0"]}


def test_git_release_without_prime_only_handles_all_tags_in_version_order():
    selection = select_entries(git_release_source(primeOnly=False), tag_entries("v1.10.0", "v1.9.0", "v1.2.0"),
                               None, NOW)
    assert ids(selection.selected) == ["v1.2.0", "v1.9.0", "v1.10.0"]


def test_git_release_a_deleted_tag_leaves_the_set():
    cursor = {"entryId": "v1.1.0", "checkedAt": NOW, "tags": ["v1.0.0", "v1.1.0"]}
    selection = select_entries(git_release_source(), tag_entries("v1.0.0"), cursor, NOW)
    assert selection.selected == [] and selection.cursor["tags"] == ["v1.0.0"]


def test_versions_sort_as_versions():
    tags = ["v1.10.0", "v2.0.0", "v1.2.0", "v2.0.0-rc.1", "v2.0.0-beta.2", "v2.0.0-beta.10", "v1.2", "nightly",
            "rust-v0.131.0", "rust-v0.99.0"]
    assert sorted(tags, key=version_sort_key) == [
        "rust-v0.99.0", "rust-v0.131.0", "v1.2", "v1.2.0", "v1.10.0",
        "v2.0.0-beta.2", "v2.0.0-beta.10", "v2.0.0-rc.1", "v2.0.0", "nightly"]


# --- the flow event ---

GITHUB_RELEASE = FeedEntry(
    id="tag:github.com,2008:Repository/9654/rust-v0.131.0", title="rust-v0.131.0",
    url="https://github.com/openai/codex/releases/tag/rust-v0.131.0", author="octocat",
    published_at="2026-05-13T00:00:01.000Z")


def test_a_github_release_becomes_the_documented_event():
    event = flow_event_for(make_source(), GITHUB_RELEASE, RECEIVED)

    assert event == {
        "id": "patch:gh-rel:tag:github.com,2008:Repository/9654/rust-v0.131.0:upstream.release",
        "type": "upstream.release",
        "source": "patch",
        "occurredAt": "2026-05-13T00:00:01.000Z",
        "receivedAt": RECEIVED,
        "payload": {
            "provider": "github", "event": "release", "sourceId": "gh-rel",
            "entryId": "tag:github.com,2008:Repository/9654/rust-v0.131.0", "title": "rust-v0.131.0",
            "url": "https://github.com/openai/codex/releases/tag/rust-v0.131.0", "author": "octocat",
            "publishedAt": "2026-05-13T00:00:01.000Z", "repo": "openai/codex", "repoOwner": "openai",
            "repoName": "codex", "ref": "rust-v0.131.0", "tag": "rust-v0.131.0",
            "raw": {"id": "tag:github.com,2008:Repository/9654/rust-v0.131.0", "title": "rust-v0.131.0",
                    "url": "https://github.com/openai/codex/releases/tag/rust-v0.131.0", "author": "octocat",
                    "publishedAt": "2026-05-13T00:00:01.000Z"},
        },
    }
    assert list(event["payload"]) == ["provider", "event", "sourceId", "entryId", "title", "url", "author",
                                      "publishedAt", "repo", "repoOwner", "repoName", "ref", "tag", "raw"]


def test_the_release_tag_comes_from_the_url_decoded_else_the_github_id_else_the_title():
    source = make_source()
    encoded = GITHUB_RELEASE.model_copy(update={"url": "https://github.com/o/r/releases/tag/pkg%40v1.0.0?x=1"})
    assert flow_event_for(source, encoded, RECEIVED)["payload"]["tag"] == "pkg@v1.0.0"

    no_url = GITHUB_RELEASE.model_copy(update={"url": None, "title": "Codex 0.131"})
    payload = flow_event_for(source, no_url, RECEIVED)["payload"]
    assert payload["ref"] == payload["tag"] == "rust-v0.131.0" and "url" not in payload

    codeberg = make_source(provider="codeberg")
    titled = FeedEntry(id="https://codeberg.org/o/r/releases/1", title="  v3.2.1 ", published_at=NOW,
                       url="https://codeberg.org/o/r/releases/1")
    payload = flow_event_for(codeberg, titled, RECEIVED)["payload"]
    assert payload["ref"] == "  v3.2.1 " and payload["tag"] == "v3.2.1"
    # The github id form is only read for github sources.
    assert flow_event_for(codeberg, no_url, RECEIVED)["payload"]["tag"] == "Codex 0.131"


def test_a_push_names_the_default_branch_and_the_commit_in_the_url():
    sha = "0123456789abcdef0123456789abcdef01234567"
    commit = FeedEntry(id=f"tag:github.com,2008:Grit::Commit/{sha}", title="Fix", published_at=NOW,
                       url=f"https://github.com/openai/codex/commit/{sha}")
    source = make_source(id="gh-push", event="push", repo={**REPO, "defaultBranch": "main"},
                         target={"mode": "workspace_flow", "eventType": "upstream.push"})
    payload = flow_event_for(source, commit, RECEIVED)["payload"]
    assert payload["ref"] == "refs/heads/main" and payload["sha"] == sha and "tag" not in payload

    no_branch = make_source(event="push", target={"mode": "workspace_flow", "eventType": "upstream.push"})
    no_url = commit.model_copy(update={"url": None})
    payload = flow_event_for(no_branch, no_url, RECEIVED)["payload"]
    assert "ref" not in payload and payload["sha"] == sha   # read from the id when there is no url


def test_npm_adds_the_package_name_and_version():
    source = make_source(id="npm-codex", provider="npm", url="https://registry.npmjs.org/@openai/codex",
                         repo={**REPO, "fullName": "@openai/codex"})
    version = FeedEntry(id="npm:@openai/codex:0.131.0", title="0.131.0", author="npm", published_at=NOW,
                        url="https://www.npmjs.com/package/%40openai%2Fcodex/v/0.131.0")
    payload = flow_event_for(source, version, RECEIVED)["payload"]
    assert payload["packageName"] == "@openai/codex" and payload["version"] == "0.131.0"
    assert list(payload)[-3:] == ["packageName", "version", "raw"]


def test_target_payload_is_merged_last_and_overrides():
    source = make_source(target={"mode": "flow_dispatch", "eventType": "upstream.release",
                                 "payload": {"repo": "me/codex-fork", "stack": "patches/main"}})
    payload = flow_event_for(source, GITHUB_RELEASE, RECEIVED)["payload"]
    assert payload["repo"] == "me/codex-fork" and list(payload).index("repo") == 8   # keeps its place
    assert list(payload)[-1] == "stack" and payload["raw"]["id"] == GITHUB_RELEASE.id


def test_git_entries_carry_their_own_ref_sha_and_tag():
    source = git_release_source()
    [tag] = [e for e in tag_entries("v1.1.0") if e.id == "v1.1.0"]
    event = flow_event_for(source, tag, RECEIVED)
    assert event["id"] == "patch:git-rel:v1.1.0:upstream.release"
    payload = event["payload"]
    assert (payload["ref"], payload["sha"], payload["tag"], payload["url"]) == (
        "v1.1.0", tag.sha, "v1.1.0", "/srv/git/codex.git")

    push = make_source(id="git-push", provider="git", url="/srv/git/codex.git", event="push",
                       target={"mode": "workspace_flow", "eventType": "upstream.push"})
    sha = "f" * 40
    head = FeedEntry(id=sha, title=f"main@{sha[:12]}", ref="refs/heads/main", sha=sha, url="/srv/git/codex.git",
                     published_at=NOW)
    payload = flow_event_for(push, head, RECEIVED)["payload"]
    assert payload["ref"] == "refs/heads/main" and payload["sha"] == sha and "tag" not in payload


@pytest.mark.parametrize("target", [None, {"mode": "notify_only"}])
def test_sources_without_a_flow_target_make_no_event(target):
    assert flow_event_for(make_source(target=target), GITHUB_RELEASE, RECEIVED) is None


@pytest.mark.parametrize(("text", "iso"), [
    ("2026-05-13T00:00:01Z", "2026-05-13T00:00:01.000Z"),
    ("2026-05-13T02:00:01.123+02:00", "2026-05-13T00:00:01.123Z"),
    ("Tue, 12 May 2026 10:00:00 GMT", "2026-05-12T10:00:00.000Z"),
    ("Tue, 12 May 2026 12:00:00 +0200", "2026-05-12T10:00:00.000Z"),
    ("2026-05-13", "2026-05-13T00:00:00.000Z"),
    ("last tuesday", None),
    ("", None),
    (None, None),
])
def test_feed_dates_are_normalised_and_unreadable_ones_give_none(text, iso):
    assert parse_feed_time(text) == iso
