"""The prompt an agent gets: the issue, the repository's AGENTS.md, the execution contract, the instructions."""

from __future__ import annotations


def build_prompt(*, agent: str, issue_number: int, issue_title: str | None, issue_body: str | None,
                 agents_md: str | None, instructions: str) -> str:
    lines = ["## Task", (issue_title or "").strip() or f"Issue #{issue_number}", ""]
    lines += ["## Description", (issue_body or "").rstrip() or "No issue description provided.", ""]
    if agents_md and agents_md.strip():
        lines += ["## Repository Context",
                  "The repository AGENTS.md guidance is below. Follow it when making changes.",
                  "", agents_md.rstrip(), ""]
    lines += ["## Execution Contract",
              f"- Agent: {agent}",
              f"- Target issue: #{issue_number}",
              "- Make focused code changes that solve the issue.",
              "- Commit your changes to the current branch.",
              "- Do not open a pull request. Capstan will create or link the PR.",
              ""]
    if instructions.strip():
        lines += ["## Additional Instructions", instructions.rstrip(), ""]
    lines += ["## Output Expectations",
              "- Keep changes minimal and production-ready.",
              "- If blocked, explain the blocker clearly in the final response."]
    return "\n".join(lines)
