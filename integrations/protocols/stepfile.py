"""Reading a protocol step file: Markdown with optional YAML front matter and ``sh`` blocks.

The first fenced ``sh``/``bash``/``shell`` block outside a ``## QA`` section is
what the ``script`` engine runs; the first one inside it is the step's QA check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

_FENCE = re.compile(r"^```[ \t]*(sh|bash|shell)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_STEP_FIELDS = {"step_type", "engine_id", "engine", "model", "policy"}


class StepFileError(ValueError):
    pass


@dataclass
class StepFile:
    front_matter: dict[str, Any] = field(default_factory=dict)
    script: str | None = None
    qa_script: str | None = None

    @property
    def step_type(self) -> str:
        return str(self.front_matter.get("step_type") or "execute")

    @property
    def engine_id(self) -> str | None:
        value = self.front_matter.get("engine_id") or self.front_matter.get("engine")
        return str(value) if value else None

    @property
    def model(self) -> str | None:
        value = self.front_matter.get("model")
        return str(value) if value else None

    @property
    def policy(self) -> Any:
        return self.front_matter.get("policy")


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            try:
                data = yaml.safe_load("\n".join(lines[1:i])) or {}
            except yaml.YAMLError as exc:
                raise StepFileError(f"front matter is not valid YAML: {exc}") from None
            if not isinstance(data, dict):
                raise StepFileError("front matter must be a mapping")
            return {k: v for k, v in data.items() if k in _STEP_FIELDS}, "\n".join(lines[i + 1:])
    raise StepFileError("front matter is not closed with ---")


def _qa_ranges(body: str) -> list[tuple[int, int]]:
    headings = [(m.start(), len(m.group(1)), m.group(2).strip()) for m in _HEADING.finditer(body)]
    ranges = []
    for i, (start, level, title) in enumerate(headings):
        if re.fullmatch(r"qa\b.*", title, re.IGNORECASE):
            end = next((s for s, lvl, _ in headings[i + 1:] if lvl <= level), len(body))
            ranges.append((start, end))
    return ranges


def parse_step_file(text: str) -> StepFile:
    front_matter, body = _split_front_matter(text)
    qa = _qa_ranges(body)
    script = qa_script = None
    for match in _FENCE.finditer(body):
        in_qa = any(start <= match.start() < end for start, end in qa)
        if in_qa and qa_script is None:
            qa_script = match.group(2)
        elif not in_qa and script is None:
            script = match.group(2)
    return StepFile(front_matter=front_matter, script=script, qa_script=qa_script)
