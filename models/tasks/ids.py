"""Task ids (``owner/repo#<issue>``), execution ids (``task_<uuid>``) and branch names."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

_TASK_ID = re.compile(r"^([^/]+)/([^#]+)#(\d+)$")
EXECUTION_ID = re.compile(r"^task_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class TaskId:
    owner: str
    repo: str
    issue_number: int

    def __str__(self) -> str:
        return f"{self.owner}/{self.repo}#{self.issue_number}"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


def parse_task_id(text: str) -> TaskId | None:
    """The decoded path value as a task id, or ``None`` when it is not ``owner/repo#<number>``."""
    match = _TASK_ID.match(text)
    if not match or "\x00" in text or len(text) > 300:
        return None
    number = int(match.group(3))
    if number < 1 or number >= 2**31:
        return None
    return TaskId(match.group(1), match.group(2), number)


#: The namespace of the execution ids of comments' runs (``uuid5`` of the GitHub comment id).
COMMENT_RUNS = uuid.UUID("6d1f3b0e-5c2a-5b8e-9a47-c4f1e2d3a5b6")


def new_execution_id() -> str:
    """A dashboard create's or a retry's run: a new random id."""
    return f"task_{uuid.uuid4()}"


def comment_execution_id(comment_id: int) -> str:
    """The run of a GitHub issue comment: the same id whenever (and under whatever delivery id) the comment
    arrives, so its run's workflow id is too, and Temporal starts it once."""
    return f"task_{uuid.uuid5(COMMENT_RUNS, str(comment_id))}"


def branch_name(handle: str, execution_id: str) -> str:
    return f"{handle}/{execution_id}"
