"""The prompt an agent gets, line for line."""

from __future__ import annotations

from models.tasks.prompt import build_prompt

CONTRACT = [
    "## Execution Contract",
    "- Agent: mock",
    "- Target issue: #11",
    "- Make focused code changes that solve the issue.",
    "- Commit your changes to the current branch.",
    "- Do not open a pull request. Capstan will create or link the PR.",
    "",
]
EXPECTATIONS = [
    "## Output Expectations",
    "- Keep changes minimal and production-ready.",
    "- If blocked, explain the blocker clearly in the final response.",
]


def test_a_full_prompt_has_every_section_in_order():
    prompt = build_prompt(agent="mock", issue_number=11, issue_title="Fix the typo", issue_body="It says teh.\n",
                          agents_md="# Rules\nRun make test.\n", instructions="fix the typo")
    assert prompt == "\n".join([
        "## Task", "Fix the typo", "",
        "## Description", "It says teh.", "",
        "## Repository Context", "The repository AGENTS.md guidance is below. Follow it when making changes.", "",
        "# Rules", "Run make test.", "",
        *CONTRACT,
        "## Additional Instructions", "fix the typo", "",
        *EXPECTATIONS,
    ])


def test_missing_parts_take_their_stand_ins_and_empty_sections_are_left_out():
    prompt = build_prompt(agent="mock", issue_number=11, issue_title="  ", issue_body=None, agents_md="  \n",
                          instructions=" ")
    assert prompt == "\n".join(["## Task", "Issue #11", "", "## Description", "No issue description provided.", "",
                                *CONTRACT, *EXPECTATIONS])


def test_multiline_instructions_are_kept():
    prompt = build_prompt(agent="mock", issue_number=11, issue_title="t", issue_body="b", agents_md=None,
                          instructions="first\n\n- then this")
    assert "## Additional Instructions\nfirst\n\n- then this\n\n## Output Expectations" in prompt
