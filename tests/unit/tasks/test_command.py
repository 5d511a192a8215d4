"""The comment grammar: who is mentioned, which agent, which priority, which instructions."""

from __future__ import annotations

import pytest

from models.tasks.agents import BUILTIN_AGENTS
from models.tasks.command import Command, has_mention, parse_command
from models.tasks.status import TaskPriority

KNOWN = set(BUILTIN_AGENTS)


def parse(body: str, handle: str = "capstan", default: str = "opencode") -> Command | None:
    return parse_command(body, handle, KNOWN, default)


@pytest.mark.parametrize("body", ["@capstan fix it", "hi @capstan x", "@CAPSTAN fix", "@capstan-bot please",
                                  "@capstan", "thanks @capstan.", "(@capstan)"])
def test_a_mention_followed_by_a_word_boundary_counts(body):
    assert has_mention(body, "capstan")
    assert parse(body) is not None


@pytest.mark.parametrize("body", ["@capstanfoo fix", "capstan fix", "@capstan_x", "@ capstan", "", "@porter fix"])
def test_no_mention_means_no_command(body):
    assert not has_mention(body, "capstan")
    assert parse(body) is None


def test_the_handle_is_configurable_and_taken_literally():
    assert parse("@porter mock x", handle="porter") == Command("mock", True, "x", TaskPriority.NORMAL)
    assert parse("@capstan mock x", handle="porter") is None
    assert not has_mention("@a+b x", "a.b")


def test_the_issue_example_picks_the_mock_agent():
    assert parse("@capstan mock fix the typo") == Command("mock", True, "fix the typo", TaskPriority.NORMAL)


def test_an_explicit_agent_is_matched_in_any_case_and_through_its_alias():
    assert parse("@capstan AMP do it").agent == "amp"
    command = parse("@capstan Claude refactor   the\nparser")
    assert command == Command("claude-code", True, "refactor the parser", TaskPriority.NORMAL)


def test_without_an_agent_the_default_agent_gets_the_whole_remainder_with_its_newlines():
    command = parse("Hello\n@capstan please fix\n\n- step one\n- step two  ", default="claude-code")
    assert command == Command("claude-code", False, "please fix\n\n- step one\n- step two", TaskPriority.NORMAL)


def test_the_remainder_starts_after_the_first_mention():
    assert parse("@capstan mock first @capstan amp second").instructions == "first @capstan amp second"


def test_a_priority_flag_is_cut_out_wherever_it_is():
    assert parse("@capstan mock fix --priority=high the typo") == Command("mock", True, "fix the typo",
                                                                           TaskPriority.HIGH)
    assert parse("@capstan mock --PRIORITY=Low x").priority is TaskPriority.LOW


def test_a_priority_before_the_agent_makes_the_agent_part_of_the_instructions():
    assert parse("@capstan --priority=high mock x") == Command("opencode", False, "mock x", TaskPriority.HIGH)


def test_only_the_first_priority_flag_counts_and_other_values_stay_in_the_text():
    command = parse("@capstan mock a --priority=low b --priority=high")
    assert command.priority is TaskPriority.LOW
    assert command.instructions == "a b --priority=high"
    command = parse("@capstan mock a --priority=urgent --priority=highest")
    assert command.priority is TaskPriority.NORMAL
    assert command.instructions == "a --priority=urgent --priority=highest"


def test_a_bare_mention_has_empty_instructions():
    assert parse("@capstan") == Command("opencode", False, "", TaskPriority.NORMAL)
    assert parse("@capstan mock") == Command("mock", True, "", TaskPriority.NORMAL)


def test_agents_from_the_setting_are_known_too():
    assert parse_command("@capstan aider go", "capstan", KNOWN | {"aider"}, "opencode").agent == "aider"
    assert parse("@capstan aider go") == Command("opencode", False, "aider go", TaskPriority.NORMAL)
