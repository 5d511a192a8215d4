"""The repository fetch every surface can run (``activities/common/git.py``): its name and payloads."""

from __future__ import annotations

from dataclasses import dataclass

FETCH_REPOSITORY_ACTIVITY = "fetch_repository"


@dataclass
class FetchRepositoryInput:
    git_url: str
    branch: str


@dataclass
class FetchRepositoryResult:
    head_sha: str
    detected_ci_provider: str | None
