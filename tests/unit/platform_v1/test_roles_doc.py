"""docs/api/platform-v1-roles.md shows the role table the API enforces, and describes every role."""

from __future__ import annotations

from pathlib import Path

from api.platform_v1.access import roles_markdown
from models.platform_v1.roles import Role

DOC = Path(__file__).resolve().parents[3] / "docs" / "api" / "platform-v1-roles.md"
REGENERATE = ("run: python -c 'from api.platform_v1.access import roles_markdown; print(roles_markdown(), end=\"\")' "
              "and paste it under '## The table' in docs/api/platform-v1-roles.md")


def _documented_table(text: str) -> str:
    """The table that starts at its '| Route |' header: every line up to the first that is not a row."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("| Route |")), None)
    assert start is not None, f"no route table in {DOC}: {REGENERATE}"
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return "\n".join(rows) + "\n"


def test_the_documented_table_is_the_enforced_one():
    assert _documented_table(DOC.read_text()) == roles_markdown(), REGENERATE


def test_every_role_is_described():
    text = DOC.read_text()
    missing = [role.value for role in Role if f"| `{role.value}` |" not in text]
    assert not missing, f"describe these roles in {DOC}: {missing}"
