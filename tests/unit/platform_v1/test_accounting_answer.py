"""What an accounting system may answer: payments with exact amounts (``Decimal`` from the JSON text), an aware
time, a known method; anything else is ``invalid_adapter_response`` (``ValueError`` here). Base URLs are http(s)
without userinfo."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from integrations.accounting import parse_answer, usable_base_url
from integrations.stores.platform_adapter_settings import accounting_adapter_of

PAYMENT = {"externalId": "ext-1", "invoiceId": "inv_1", "amount": 68.57, "currency": "USD", "method": "card",
           "receivedAt": "2026-12-02T10:00:00Z", "note": "unknown fields are ignored"}


def test_amounts_are_exact_decimals_from_the_json_text():
    [payment] = parse_answer(json.dumps({"payments": [PAYMENT], "extra": 1}).encode()).payments
    assert payment.amount == Decimal("68.57") and payment.amount + Decimal("32.23") == Decimal("100.80")


@pytest.mark.parametrize("change", [{"amount": 0}, {"amount": -1}, {"amount": "12"}, {"receivedAt": "2026-12-02"},
                                    {"receivedAt": "2026-12-02T10:00:00"}, {"method": "barter"},
                                    {"currency": "usd"}, {"externalId": ""}, {"externalId": "x" * 101}])
def test_a_payment_of_another_shape_is_refused(change):
    with pytest.raises(ValueError, match="not \\{payments"):
        parse_answer(json.dumps({"payments": [{**PAYMENT, **change}]}).encode())


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"payments": {}}', b'{"payments": [NaN]}',
                                  b'{"payments": [{"amount": Infinity}]}'])
def test_an_answer_of_another_shape_is_refused(body):
    with pytest.raises(ValueError):
        parse_answer(body)


def test_base_urls_are_http_without_userinfo():
    assert usable_base_url("https://books.example/api") == "https://books.example/api"
    for bad in ("ftp://books.example", "https://user:pw@books.example", "books.example", "https://", 7, None,
                "https://books.example/" + "a" * 2000):
        assert usable_base_url(bad) is None, bad


def _adapter(**accounting):
    return accounting_adapter_of({"integrations": {"accounting": accounting}})


def test_the_setting_is_read_as_the_settings_validate_it():
    assert _adapter(baseUrl="http://b.example").timeout_seconds == 10
    assert accounting_adapter_of({"integrations": {"accounting": {"baseUrl": "http://b.example",
                                                                  "timeoutSeconds": 30}}}).timeout_seconds == 30
    for settings in (None, [], {}, {"integrations": []}, {"integrations": {"accounting": "http://b.example"}},
                     {"integrations": {"accounting": {"baseUrl": "file:///etc/passwd"}}}):
        assert accounting_adapter_of(settings) is None, settings
    # A stored value the settings' validation refuses (kept from before it existed) configures no adapter.
    assert _adapter(baseUrl="http://b.example", timeoutSeconds=999) is None
