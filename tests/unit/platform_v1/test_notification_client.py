"""The notification client refuses URLs it must never post to before any connection, and signs the raw body."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from integrations.notifications import (
    InvalidNotificationUrl,
    checked_url,
    notification_body,
    notification_client,
    send_notification,
    signature,
)
from models.platform_v1.notification_adapter import notification_adapter


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "http://user:pw@example.com/hook", "http://@example.com",
                                 "https://example.com/" + "a" * 2000, "http:///hook", "example.com/hook",
                                 "http://exa mple.com/", "http://example.com:99999/", "", "javascript:alert(1)"])
def test_a_url_that_is_not_plain_http_with_a_host_is_refused(url):
    with pytest.raises(InvalidNotificationUrl):
        checked_url(url)


def test_a_plain_url_is_kept():
    assert checked_url("https://hooks.example.com:8443/capstan?team=ops") == "https://hooks.example.com:8443/capstan?team=ops"


async def test_a_refused_url_is_an_outcome_not_a_connection():
    async with notification_client() as client:
        outcome = await send_notification(client, "http://u:p@127.0.0.1:9/hook", b"{}", topic="t", delivery_id="evt_1",
                                          secret=None, timeout_seconds=1)
    assert (outcome.delivered, outcome.http_status) == (False, None) and "userinfo" in outcome.error


def test_the_signature_is_the_hmac_of_the_raw_body():
    body = notification_body({"id": "evt_1", "data": {"title": "Überhitzung"}})
    assert body == '{"id":"evt_1","data":{"title":"Überhitzung"}}'.encode()
    assert signature("s3cret", body) == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


def test_the_adapter_setting_is_read_defensively():
    assert notification_adapter(None) is None and notification_adapter({"integrations": "x"}) is None
    assert notification_adapter({"integrations": {"notifications": {"topics": ["ticket.created"]}}}) is None
    # A stored value the settings' validation refuses (kept from before it existed) configures no adapter.
    assert notification_adapter({"integrations": {"notifications": {"url": "https://h.example/x",
                                                                    "timeoutSeconds": 99, "topics": "all"}}}) is None
    adapter = notification_adapter({"integrations": {"notifications": {"url": "https://h.example/x"}}})
    assert adapter is not None and adapter.timeout_seconds == 10.0 and "ticket.created" in adapter.topics
    chosen = notification_adapter({"integrations": {"notifications": {"url": "https://h.example/x",
                                                                       "timeoutSeconds": 2.5,
                                                                       "topics": ["pipeline.failed"]}}})
    assert chosen is not None and (chosen.timeout_seconds, chosen.topics) == (2.5, frozenset({"pipeline.failed"}))
