"""What a task says on its issue at each transition, and the hidden marker with its state."""

from __future__ import annotations

import json
import re

import pytest

from models.tasks.comments import (
    STOPPED_SUMMARY,
    agent_failed_summary,
    comment_body,
    launch_failed_summary,
    pr_failed_summary,
    queued_summary,
    running_summary,
    success_summary,
    timeout_summary,
)


def test_the_summary_of_each_transition():
    assert queued_summary() == "Task queued"
    assert running_summary("fly", "e784079b449483") == "Task running on fly runner e784079b449483."
    assert running_summary("local", None) == "Task running on local runner."
    assert launch_failed_summary("docker") == "Task failed to start on docker runner."
    assert agent_failed_summary("agent made no changes") == "❌ Capstan failed: agent made no changes"
    assert STOPPED_SUMMARY == "Stopped by user"


def test_a_success_links_the_pull_request_and_adds_the_agent_summary_when_given():
    url = "https://github.com/acme/widgets/pull/3"
    assert success_summary(url, None) == f"✅ Capstan completed this task. PR: {url}"
    assert success_summary(url, " ") == f"✅ Capstan completed this task. PR: {url}"
    assert success_summary(url, "Branch pushed.") == f"✅ Capstan completed this task. PR: {url}\n\nBranch pushed."


def test_a_failed_pr_keeps_the_agent_summary():
    assert pr_failed_summary("Branch pushed.", "HTTP 422") == "Branch pushed.\n\nPR creation failed: HTTP 422"
    assert pr_failed_summary(None, "HTTP 422") == "Task complete, but PR creation failed: HTTP 422"


@pytest.mark.parametrize(("seconds", "waited"), [(1020, "17 minutes"), (900, "15 minutes"), (120, "2 minutes"),
                                                (150, "2 minutes"), (119, "119 seconds"), (3, "3 seconds"),
                                                (1, "1 second"), (0.4, "1 second")])
def test_a_timeout_says_how_long_the_watchdog_waited(seconds, waited):
    assert timeout_summary(seconds) == f"❌ Capstan failed: timeout after {waited}"


def test_the_comment_body_ends_with_a_compact_marker_without_nulls():
    body = comment_body("capstan", "Task queued", {"taskId": "acme/widgets#3", "status": "queued", "progress": 0,
                                                   "prUrl": None})
    assert body == 'Task queued\n\n<!-- capstan:{"taskId":"acme/widgets#3","status":"queued","progress":0} -->'


def test_a_summary_cannot_close_the_marker_early():
    summary = "❌ Capstan failed: saw --> and <!-- in output"
    body = comment_body("capstan", summary, {"summary": summary})
    marker = re.fullmatch(r"(?s).*\n\n<!-- capstan:(.*) -->", body).group(1)
    assert "-->" not in marker and "<" not in marker
    assert json.loads(marker) == {"summary": summary}
