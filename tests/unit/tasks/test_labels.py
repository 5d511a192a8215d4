"""The issue's labels after a transition: Capstan's own replaced, everybody else's kept."""

from __future__ import annotations

from models.tasks.labels import next_labels


def test_a_first_transition_adds_the_four_task_labels_after_the_others():
    assert next_labels(["bug", "help wanted"], "capstan", "queued", "mock", "normal") == [
        "bug", "help wanted", "capstan:task", "capstan:queued", "capstan:agent:mock", "capstan:priority:normal"]


def test_a_later_transition_replaces_the_status_agent_and_priority_labels():
    current = ["capstan:task", "bug", "capstan:queued", "capstan:agent:opencode", "capstan:priority:low"]
    assert next_labels(current, "capstan", "running", "mock", "high") == [
        "bug", "capstan:task", "capstan:running", "capstan:agent:mock", "capstan:priority:high"]


def test_old_labels_are_recognised_in_any_case_and_every_status():
    current = ["Capstan:Task", "CAPSTAN:SUCCESS", "capstan:failed", "capstan:timed_out", "capstan:stopped",
               "capstan:running", "capstan:AGENT:amp", "capstan:priority:x", "capstanish", "capstan:other",
               "porter:task"]
    assert next_labels(current, "capstan", "stopped", "mock", "normal") == [
        "capstanish", "capstan:other", "porter:task",
        "capstan:task", "capstan:stopped", "capstan:agent:mock", "capstan:priority:normal"]


def test_labels_are_deduplicated():
    assert next_labels(["bug", "Bug", "bug"], "ops", "failed", "amp", "low") == [
        "bug", "ops:task", "ops:failed", "ops:agent:amp", "ops:priority:low"]
