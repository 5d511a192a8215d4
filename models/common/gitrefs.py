"""Checks on names that end up in git: branch names and folders inside a repository."""

from __future__ import annotations

import re

_BAD_REF = re.compile(r"(^[-./])|(\.\.)|([\x00-\x20~^:?*\[\\\x7f])|(@\{)|(/\.)|(//)|(\.lock$)|([./]$)")


def check_branch_name(value: str) -> str:
    """The protocol's branch is named after it, so the name must be a valid git branch name."""
    if _BAD_REF.search(value) or value == "@":
        raise ValueError("must be a valid git branch name (no spaces, '..', '~^:?*[\\', leading '-' ...)")
    return value


def check_repository_folder(value: str | None) -> str | None:
    if value is None:
        return None
    parts = value.strip("/").split("/")
    if value.startswith("/") or ".." in parts or not value.strip("/ "):
        raise ValueError("must be a folder inside the repository (relative, no '..')")
    return value
