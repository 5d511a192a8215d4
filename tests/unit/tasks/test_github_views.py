"""The typed views of GitHub's data: GitHub's own objects passed on exactly as sent, Capstan's views built
from them, and what a malformed object becomes."""

from __future__ import annotations

import json

from models.tasks.github_views import (
    GitHubInstallation,
    GitHubInstallationObject,
    GitHubIssue,
    GitHubRepository,
    GitHubSummary,
    GitHubUserWithEmail,
)

INSTALLATION = {"id": 7, "client_id": "Iv1", "account": {"login": "acme", "id": 6, "node_id": "O_1",
                                                          "avatar_url": "https://a/acme", "type": "Organization"},
                "repository_selection": "selected", "app_id": 424242, "app_slug": "capstan", "target_id": 6,
                "target_type": "Organization", "permissions": {"issues": "write"}, "events": ["issue_comment"],
                "created_at": "2026-05-13T10:00:00Z", "suspended_at": None}


def test_githubs_objects_are_passed_on_as_sent_key_for_key_and_in_order():
    summary = GitHubSummary(user=GitHubUserWithEmail.from_profile({"id": 1, "login": "alice"}, None),
                            organizations=[], repositories=[], warnings=[],
                            installations=[GitHubInstallationObject.model_validate(INSTALLATION)])
    sent = json.loads(summary.model_dump_json())["installations"][0]
    assert sent == INSTALLATION and list(sent) == list(INSTALLATION)
    assert list(sent["account"]) == list(INSTALLATION["account"])
    bare = GitHubInstallationObject.model_validate({"id": 8})
    assert bare.model_dump_json() == '{"id":8}'  # declared fields GitHub did not send stay absent, not null


def test_the_views_of_githubs_objects():
    installation = GitHubInstallation.of(GitHubInstallationObject.model_validate(INSTALLATION))
    assert installation.model_dump() == {"id": 7, "appId": 424242, "appSlug": "capstan",
                                         "targetType": "Organization", "createdAt": "2026-05-13T10:00:00Z",
                                         "account": {"id": 6, "login": "acme", "avatarUrl": "https://a/acme"}}
    repository = GitHubRepository.from_github({"id": 5, "name": "widgets", "owner": {"login": "acme"},
                                               "private": 1, "description": None})
    assert repository is not None and repository.model_dump() == {
        "id": 5, "fullName": "acme/widgets", "name": "widgets", "owner": "acme", "private": True, "description": None}
    assert repository.get("fullName") == "acme/widgets"  # callers that still read it as a dict
    assert GitHubRepository.from_github({"name": "no-id"}) is None
    issue = GitHubIssue.from_github({"number": 3, "title": "T", "body": None, "state": "open",
                                     "labels": [{"id": 1, "name": "bug", "default": False}, "plain"]})
    assert json.loads(issue.model_dump_json()) == {"number": 3, "title": "T", "body": "", "state": "open",
                                                   "labels": [{"id": 1, "name": "bug", "default": False}, "plain"],
                                                   "html_url": None}
