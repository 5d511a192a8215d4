"""The feed sources file: valid sources run, every problem is reported by the name of what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.maintenance.feed_config import creates_flow_events, effective_interval_seconds, load_feed_sources


def source(**overrides):
    base = {
        "id": "gh-rel", "provider": "github", "url": "https://github.com/openai/codex/releases.atom",
        "event": "release",
        "repo": {"owner": "openai", "name": "codex", "fullName": "openai/codex", "webUrl": "https://github.com/openai/codex"},
        "target": {"mode": "workspace_flow", "eventType": "upstream.release"},
    }
    return {**base, **overrides}


def write(tmp_path: Path, document) -> Path:
    path = tmp_path / "feeds.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_a_valid_file_gives_its_sources_with_defaults_and_ignores_unknown_keys(tmp_path):
    loaded = load_feed_sources(write(tmp_path, {"sources": [source(comment="mine", extra={"x": 1})]}))

    assert loaded.errors == []
    [only] = loaded.sources
    assert only.id == "gh-rel" and only.repo.fullName == "openai/codex"
    assert only.primeOnly is True and only.pollIntervalSeconds is None
    assert only.effective_interval_seconds == 300
    assert loaded.get("gh-rel") is only and loaded.get("other") is None


@pytest.mark.parametrize(("configured", "effective"), [(None, 300), (10, 30), (30, 30), (45, 45), (3600, 3600)])
def test_poll_interval_defaults_to_300_and_is_never_below_30(tmp_path, configured, effective):
    overrides = {} if configured is None else {"pollIntervalSeconds": configured}
    [loaded] = load_feed_sources(write(tmp_path, {"sources": [source(**overrides)]})).sources
    assert effective_interval_seconds(loaded) == effective


@pytest.mark.parametrize(("target", "flows"), [
    ({"mode": "workspace_flow", "eventType": "upstream.release"}, True),
    ({"mode": "flow_dispatch", "eventType": "upstream.release", "dispatchUrl": "https://x/dispatch"}, True),
    ({"mode": "notify_only"}, False),
    ({"mode": "fork_sync", "provider": "github", "repoFullName": "me/codex", "branch": "main"}, False),
    (None, False),
])
def test_only_flow_targets_create_flow_events(tmp_path, target, flows):
    document = {"sources": [source(target=target) if target else {k: v for k, v in source().items() if k != "target"}]}
    [loaded] = load_feed_sources(write(tmp_path, document)).sources
    assert creates_flow_events(loaded) is flows and loaded.creates_flow_events is flows


def test_no_file_configured_or_no_file_there_is_no_sources_and_no_error(tmp_path):
    for path in (None, tmp_path / "absent.json"):
        loaded = load_feed_sources(path)
        assert loaded.sources == [] and loaded.errors == []


@pytest.mark.parametrize(("content", "complaint"), [
    ("{not json", "not valid JSON"),
    ("[]", '"sources" list'),
    ('{"feeds": []}', '"sources" list'),
    ('{"sources": {}}', '"sources" list'),
])
def test_a_bad_file_is_reported_by_its_path(tmp_path, content, complaint):
    path = write(tmp_path, content)
    loaded = load_feed_sources(path)
    assert loaded.sources == []
    [error] = loaded.errors
    assert str(path) in error and complaint in error


def test_an_unreadable_file_is_reported_not_raised(tmp_path):
    directory = tmp_path / "feeds.json"
    directory.mkdir()
    [error] = load_feed_sources(directory).errors
    assert str(directory) in error and "cannot be read" in error


def test_bad_sources_are_reported_by_id_or_index_and_the_good_ones_still_load(tmp_path):
    document = {"sources": [
        source(id="good"),
        source(id="odd-provider", provider="gitlab"),
        source(id="odd-event", event="tag"),
        source(id="no-event-type", target={"mode": "workspace_flow"}),
        source(id="odd-mode", target={"mode": "carrier_pigeon", "eventType": "x"}),
        source(id="good"),
        {"provider": "github"},
        "not an object",
        source(id="bad-repo", repo={"owner": "o"}),
        source(id="second-good", provider="git", url="/srv/git/codex.git", event="push"),
    ]}
    loaded = load_feed_sources(write(tmp_path, document))

    assert [s.id for s in loaded.sources] == ["good", "second-good"]
    errors = "\n".join(loaded.errors)
    assert len(loaded.errors) == 8, errors
    assert "'odd-provider' (sources[1]): provider:" in errors
    assert "'odd-event' (sources[2]): event:" in errors
    assert "'no-event-type' (sources[3]): target: a workspace_flow target needs an eventType" in errors
    assert "'odd-mode' (sources[4]): target.mode:" in errors
    assert "'good' (sources[5]): duplicate id, already used by sources[0]" in errors
    assert "sources[6]: id: Field required" in errors
    assert "sources[7]: must be an object" in errors
    assert "'bad-repo' (sources[8]): repo.name: Field required" in errors


def test_a_url_that_git_would_read_as_an_option_is_refused(tmp_path):
    loaded = load_feed_sources(write(tmp_path, {"sources": [
        source(id="sneaky", provider="git", url="--upload-pack=touch /tmp/owned", event="push")]}))
    assert loaded.sources == []
    assert "'sneaky' (sources[0]): url: must not start with '-'" in loaded.errors[0]
