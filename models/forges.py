"""Which forge a project's pull requests go to, and the repository there. Pure: workflows use it."""

from __future__ import annotations

import re

_FORGE_URL = re.compile(
    r"^(?:(?:https?|ssh|git)://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/|(?:[^@/]+@)?(?P<scp_host>[^/:]+):)"
    r"(?P<path>.+?)(?:\.git)?/?$")


def _parse(git_url: str) -> tuple[str, str] | None:
    match = _FORGE_URL.match(git_url.strip())
    if not match:
        return None
    return (match.group("host") or match.group("scp_host")).lower(), match.group("path")


def forge_for(ci_provider: str | None, git_url: str) -> str | None:
    """``github`` or ``gitlab``: the project's CI provider when it names one, else the URL's host."""
    if ci_provider in ("github", "gitlab"):
        return ci_provider
    parsed = _parse(git_url)
    if parsed is None:
        return None
    host = parsed[0]
    if host == "github.com" or host.startswith("github."):
        return "github"
    if host == "gitlab.com" or host.startswith("gitlab."):
        return "gitlab"
    return None


def forge_repository(git_url: str, explicit: str | None, forge: str) -> str | None:
    """``owner/name`` on the forge (GitLab: the full group path): the explicit one, else from the URL."""
    if explicit:
        return explicit.strip("/")
    parsed = _parse(git_url)
    if parsed is None:
        return None
    path = parsed[1].strip("/")
    parts = path.split("/")
    if len(parts) < 2 or (forge == "github" and len(parts) != 2):
        return None
    return path
