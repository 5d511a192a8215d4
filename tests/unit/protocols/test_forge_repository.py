"""Which forge hosts a project, and its repository path there."""

from __future__ import annotations

import pytest

from models.protocols.forges import display_url, forge_for, forge_repository


@pytest.mark.parametrize(("ci_provider", "git_url", "expected"), [
    ("github", "/srv/repos/demo", "github"),
    ("GitLab", "https://github.com/acme/widgets.git", "gitlab"),      # the CI provider wins
    (None, "https://github.com/acme/widgets.git", "github"),
    (None, "git@github.com:acme/widgets.git", "github"),
    (None, "ssh://git@github.com/acme/widgets.git", "github"),
    (None, "https://gitlab.com/group/sub/widgets.git", "gitlab"),
    (None, "https://gitlab.example.com/group/sub/widgets.git", "gitlab"),
    (None, "git@gitlab.example.com:group/widgets.git", "gitlab"),
    ("jenkins", "https://github.com/acme/widgets", "github"),         # not a forge: fall back to the host
    (None, "https://git.example.com/acme/widgets.git", None),
    (None, "/srv/repos/demo", None),
    (None, "file:///srv/repos/demo", None),
    (None, "C:/repos/demo", None),
])
def test_forge_for(ci_provider: str | None, git_url: str, expected: str | None) -> None:
    assert forge_for(ci_provider, git_url) == expected


@pytest.mark.parametrize(("git_url", "forge", "expected"), [
    ("https://github.com/acme/widgets", "github", "acme/widgets"),
    ("https://github.com/acme/widgets.git", "github", "acme/widgets"),
    ("https://github.com/acme/widgets/", "github", "acme/widgets"),
    ("https://user:secret@github.com/acme/widgets.git", "github", "acme/widgets"),
    ("git@github.com:acme/widgets.git", "github", "acme/widgets"),
    ("github.com:acme/widgets", "github", "acme/widgets"),
    ("ssh://git@github.com/acme/widgets.git", "github", "acme/widgets"),
    ("ssh://git@github.example.com:2222/acme/widgets.git", "github", "acme/widgets"),
    ("https://gitlab.example.com/group/sub/widgets.git", "gitlab", "group/sub/widgets"),
    ("git@gitlab.com:group/sub/deeper/widgets.git", "gitlab", "group/sub/deeper/widgets"),
    ("https://gitlab.com/group/widgets/-/tree/main", "gitlab", "group/widgets"),
    ("https://github.com/acme/widgets/tree/main", "github", None),    # a web page, not a repository
    ("https://github.com/acme", "github", None),
    ("/srv/repos/demo", "github", None),
    ("file:///srv/repos/acme/widgets", "gitlab", None),
    ("https://github.com/acme/..", "github", None),
])
def test_repository_from_git_url(git_url: str, forge: str, expected: str | None) -> None:
    assert forge_repository(git_url, None, forge) == expected


@pytest.mark.parametrize(("explicit", "forge", "expected"), [
    ("acme/widgets", "github", "acme/widgets"),
    (" /acme/widgets.git/ ", "github", "acme/widgets"),
    ("group/sub/widgets", "gitlab", "group/sub/widgets"),
    ("https://github.com/other/repo.git", "github", "other/repo"),
    ("git@gitlab.com:group/sub/repo.git", "gitlab", "group/sub/repo"),
    ("group/sub/widgets", "github", None),                            # GitHub has no subgroups
    ("widgets", "github", None),
    ("acme/wid gets", "github", None),
    ("acme/../admin", "gitlab", None),
    ("acme/widgets?x=1", "github", None),
])
def test_explicit_repository_wins(explicit: str, forge: str, expected: str | None) -> None:
    assert forge_repository("https://github.com/acme/ignored.git", explicit, forge) == expected


def test_blank_explicit_repository_falls_back_to_the_url() -> None:
    assert forge_repository("git@github.com:acme/widgets.git", "  ", "github") == "acme/widgets"


def test_display_url_drops_credentials() -> None:
    assert display_url("https://x-token:s3cret@github.com/acme/w.git") == "https://github.com/acme/w.git"
    assert display_url("git@github.com:acme/w.git") == "git@github.com:acme/w.git"
