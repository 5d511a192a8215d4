"""One rule for the URLs Capstan calls on a workspace's say-so (agents, accounting, notifications)."""

from __future__ import annotations

import pytest

from models.common.urls import outside_url_problem


@pytest.mark.parametrize("url", ["http://agent.internal:8080/base", "https://books.example", "http://[::1]:9/x"])
def test_http_and_https_urls_with_a_host_are_called(url):
    assert outside_url_problem(url) is None


@pytest.mark.parametrize(("url", "problem"), [
    ("", "non-empty"), (None, "non-empty"), (42, "non-empty"),
    ("https://example.com/" + "a" * 2000, "at most 2000"),
    ("ftp://example.com/x", "http or https"), ("file:///etc/passwd", "http or https"),
    ("http:///nohost", "host"), ("http://example.com:99999/", "not a URL"),
    ("https://user:pass@example.com/", "userinfo"), ("https://token@example.com/", "userinfo"),
    ("https://example.com/a b", "spaces"), ("https://example.com/\x00", "control"),
])
def test_every_other_url_is_refused_with_its_reason(url, problem):
    reason = outside_url_problem(url)
    assert reason is not None and problem in reason
