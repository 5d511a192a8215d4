"""Pure rules: event limits, CI detection, git URL caching."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.common.pagination import clamp_limit
from integrations.git import GitRunner, RepositoryCache, detect_ci_provider


@pytest.mark.parametrize("given, expected", [(None, 50), (0, 1), (-3, 1), (1, 1), (500, 500), (501, 500)])
def test_event_limit_is_clamped(given, expected):
    assert clamp_limit(given) == expected


@pytest.mark.parametrize("paths, provider", [
    ([".github/workflows/ci.yml"], "github"),
    ([".gitlab-ci.yml"], "gitlab"),
    ([".github/workflows/a.yml", ".gitlab-ci.yml"], "github"),
    (["README.md"], None),
])
def test_detect_ci_provider(paths, provider):
    assert detect_ci_provider(paths) == provider


def test_each_remote_has_its_own_mirror(tmp_path: Path):
    cache = RepositoryCache(tmp_path, GitRunner())
    a, b = cache.mirror_path("/srv/a"), cache.mirror_path("/srv/b")
    assert a != b and a == cache.mirror_path("/srv/a") and a.parent == tmp_path
