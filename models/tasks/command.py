"""The comment grammar: ``@<handle> [agent] [--priority=low|normal|high] <instructions>``."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from models.tasks.agents import normalise_agent
from models.tasks.status import TaskPriority

# The first one sets the priority; a value other than these three stays in the text.
_PRIORITY_FLAG = re.compile(r"[ \t]*--priority=(low|normal|high)(?![\w-])", re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    agent: str
    #: Whether the comment named the agent (else it is the commenter's default).
    explicit: bool
    instructions: str
    priority: TaskPriority


def _mention(handle: str) -> re.Pattern[str]:
    # "Followed by a word boundary": `@capstan-bot` and `@capstan.` mention, `@capstanfoo` does not.
    return re.compile(rf"@{re.escape(handle)}(?!\w)", re.IGNORECASE)


def has_mention(body: str, handle: str) -> bool:
    return _mention(handle).search(body) is not None


def parse_command(body: str, handle: str, known_agents: Collection[str], default_agent: str) -> Command | None:
    """The command of a comment, or ``None`` when it does not mention ``@<handle>``.

    The remainder after the first mention (all its lines), trimmed: a first token naming a known agent picks it
    and the other tokens, joined by single spaces, are the instructions; otherwise the whole remainder is.
    """
    mention = _mention(handle).search(body)
    if mention is None:
        return None
    remainder = body[mention.end():].strip()
    tokens = remainder.split()
    if tokens and normalise_agent(tokens[0]) in known_agents:
        agent, explicit, instructions = normalise_agent(tokens[0]), True, " ".join(tokens[1:])
    else:
        agent, explicit, instructions = default_agent, False, remainder
    priority = TaskPriority.NORMAL
    flag = _PRIORITY_FLAG.search(instructions)
    if flag:
        priority = TaskPriority(flag.group(1).lower())
        instructions = (instructions[:flag.start()] + instructions[flag.end():]).strip()
    return Command(agent=agent, explicit=explicit, instructions=instructions, priority=priority)
