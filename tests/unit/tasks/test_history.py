"""The query strings of the task list and the history: defaults, filters, and a clear error for bad values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.tasks.history import HistoryQuery, ListQuery, parse_history_query, parse_list_query
from models.tasks.status import TaskStatus


def test_the_defaults():
    assert parse_history_query({}) == HistoryQuery(limit=50, offset=0)
    assert parse_list_query({}) == ListQuery(status=None, limit=100, offset=0)
    assert parse_history_query({"agent": "", "repo": " ", "from": ""}) == HistoryQuery()


def test_every_history_filter():
    query = parse_history_query({"status": "timed_out", "agent": "mock", "repo": "Acme/", "branch": "capstan/x",
                                 "issueNumber": "11", "search": "typo", "from": "2026-05-01",
                                 "to": "2026-05-13T10:00:00Z", "limit": "200", "offset": "40", "other": "ignored"})
    assert query == HistoryQuery(
        status=TaskStatus.TIMED_OUT, agent="mock", repo="Acme/", branch="capstan/x", issue_number=11,
        search="typo", completed_from=datetime(2026, 5, 1, tzinfo=UTC),
        completed_to=datetime(2026, 5, 13, 10, tzinfo=UTC), limit=200, offset=40)


def test_a_date_only_to_covers_that_whole_day_and_offsets_become_utc():
    query = parse_history_query({"from": "2026-05-13T12:00:00+02:00", "to": "2026-05-13"})
    assert query.completed_from == datetime(2026, 5, 13, 10, tzinfo=UTC)
    assert query.completed_to == datetime(2026, 5, 13, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_history_query({"from": "2026-05-13T10:00:00"}).completed_from == datetime(2026, 5, 13, 10, tzinfo=UTC)


@pytest.mark.parametrize("status", list(TaskStatus))
def test_every_status_is_a_filter(status):
    assert parse_history_query({"status": status.value}).status is status
    assert parse_list_query({"status": status.value}).status is status


@pytest.mark.parametrize(("params", "message"), [
    ({"status": "done"}, "status must be one of queued, running, success, failed, timed_out, stopped"),
    ({"status": ""}, "status must be one of"),
    ({"limit": " "}, "limit must be an integer between 1 and 200"),
    ({"issueNumber": ""}, "issueNumber must be an integer"),
    ({"issueNumber": "eleven"}, "issueNumber must be an integer"),
    ({"issueNumber": "-1"}, "issueNumber must be an integer"),
    ({"issueNumber": "0"}, "issueNumber must be an integer"),
    ({"from": "yesterday"}, "from must be an ISO 8601 date"),
    ({"to": "2026-13-01"}, "to must be an ISO 8601 date"),
    ({"from": "2026-05-02", "to": "2026-05-01"}, "from must not be after to"),
    ({"limit": "0"}, "limit must be an integer between 1 and 200"),
    ({"limit": "201"}, "limit must be an integer between 1 and 200"),
    ({"limit": "1.5"}, "limit must be an integer between 1 and 200"),
    ({"offset": "-1"}, "offset must be an integer between 0 and 10000000"),
    ({"offset": "²"}, "offset must be an integer between 0 and 10000000"),
    ({"offset": "10000001"}, "offset must be an integer between 0 and 10000000"),
])
def test_bad_history_values_say_what_is_wrong(params, message):
    with pytest.raises(ValueError, match=message):
        parse_history_query(params)


def test_the_list_pages_up_to_500():
    assert parse_list_query({"limit": "500", "offset": "5"}) == ListQuery(limit=500, offset=5)
    with pytest.raises(ValueError, match="limit must be an integer between 1 and 500"):
        parse_list_query({"limit": "501"})
    with pytest.raises(ValueError, match="status must be one of"):
        parse_list_query({"status": "SUCCESS"})
