"""Which forge a project's pull requests go to, and the repository there.

Pure (standard library only), so workflows use it as well as the forge activity.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit


class Forge:
    GITHUB = "github"
    GITLAB = "gitlab"
    ALL = (GITHUB, GITLAB)
    LABELS = {GITHUB: "GitHub", GITLAB: "GitLab"}


_GIT_URL_SCHEMES = ("http", "https", "ssh", "git", "git+ssh", "ssh+git")
# scp-like ``[user@]host:path``; a one-letter host would be a Windows drive, not a host.
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^@/:]{2,}):(?P<path>.+)$")
# What GitHub and GitLab allow in an owner, group or repository name.
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _path_segments(path: str) -> list[str]:
    path = path.strip().strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")]
    return [segment for segment in path.split("/") if segment]


def _split_git_url(git_url: str) -> tuple[str, list[str]] | None:
    """``(host, path segments)`` of a remote git URL; None for local paths and unknown schemes."""
    url = git_url.strip()
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme.lower() not in _GIT_URL_SCHEMES or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
    else:
        match = _SCP_LIKE.match(url)
        if match is None:
            return None
        host, path = match["host"], match["path"]
    segments = _path_segments(path)
    return (host.lower(), segments) if segments else None


def _looks_like_url(value: str) -> bool:
    return "://" in value or _SCP_LIKE.match(value) is not None


def _repository_path(segments: list[str], forge: str) -> str | None:
    if "-" in segments:  # GitLab web URLs: group/name/-/tree/main
        segments = segments[: segments.index("-")]
    if len(segments) < 2 or (forge == Forge.GITHUB and len(segments) != 2):
        return None
    if any(segment in (".", "..") or not _PATH_SEGMENT.match(segment) for segment in segments):
        return None
    return "/".join(segments)


def forge_for(ci_provider: str | None, git_url: str) -> str | None:
    """``github`` or ``gitlab``: the project's CI provider when it names one, else the URL's host."""
    provider = (ci_provider or "").strip().lower()
    if provider in Forge.ALL:
        return provider
    located = _split_git_url(git_url)
    if located is None:
        return None
    host = located[0]
    if host == "github.com" or host.endswith(".github.com") or host.startswith("github."):
        return Forge.GITHUB
    if host == "gitlab.com" or host.endswith(".gitlab.com") or host.startswith("gitlab."):
        return Forge.GITLAB
    return None


def forge_repository(git_url: str, explicit: str | None, forge: str) -> str | None:
    """``owner/name`` on the forge (GitLab: the full ``group/sub/name`` path).

    An explicit value wins (a path, or a URL to parse); a malformed explicit value gives
    None rather than a silent fall back to ``git_url``, which could be another repository.
    """
    if explicit and explicit.strip():
        value = explicit.strip()
        if _looks_like_url(value):
            located = _split_git_url(value)
            return _repository_path(located[1], forge) if located else None
        return _repository_path(_path_segments(value), forge)
    located = _split_git_url(git_url)
    return _repository_path(located[1], forge) if located else None


def display_url(url: str) -> str:
    """A URL safe to show: any ``user:password@`` part removed."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))

