"""Money is exact: amounts and quantities are validated as decimals (at most 2, or 4, decimal places; bounded;
numbers, not strings), stored in Postgres as the same numeric, answered with the same value, and never
rounded on the way in; a payment's currency is its invoice's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from models.platform_v1.money import as_decimal, money_sum
from tests.e2e.platform_v1.records import Records
from tests.e2e.platform_v1.support import V1
from tests.support import assert_error


async def stored_amount(db_engine, record_id: str, field: str = "amount") -> str:
    """The stored number as Postgres has it: ``numeric`` text, not a float's."""
    async with db_engine.connect() as conn:
        return (await conn.execute(text("SELECT (data -> :field)::text FROM platform_resources WHERE id = :id"),
                                   {"field": field, "id": record_id})).scalar_one()


@pytest.mark.parametrize("amount", ["0.1", "1234.56", "999999999999.99", "0.07"])
async def test_an_amount_is_stored_and_answered_with_its_digits(api, workspaces, db_engine, amount):
    a, _ = workspaces
    records = Records(V1(api, "msp_admin", workspace=a))
    body = await records.body("invoices")
    raw = f'{{"number": "INV-1", "issueDate": "2026-05-01", "dueDate": "2026-05-31", ' \
          f'"clientId": "{body["clientId"]}", ' \
          f'"amount": {amount}}}'
    created = await records.v1.post("/invoices", content=raw, headers={"content-type": "application/json"})
    assert created.status_code == 201, created.text
    assert f'"amount":{amount},' in created.text  # the same digits in the answer's JSON text
    assert await stored_amount(db_engine, created.json()["id"]) == amount
    read = await records.v1.get(f"/invoices/{created.json()['id']}")
    assert f'"amount":{amount},' in read.text


@pytest.mark.parametrize(("amount", "why"), [
    ("10.001", "a third decimal place"),
    ("10.0000000000000001", "a digit a float would round away"),
    ('"1500"', "a string"),
    ("-0.01", "negative"),
    ("1000000000000.01", "over 10^12"),
    ("true", "a flag"),
    ("1e-7", "a tiny fraction"),
])
async def test_an_inexact_or_out_of_range_amount_is_400_and_creates_nothing(api, workspaces, amount, why):
    a, _ = workspaces
    records = Records(V1(api, "msp_admin", workspace=a))
    body = await records.body("invoices")
    raw = f'{{"number": "INV-1", "issueDate": "2026-05-01", "dueDate": "2026-05-31", ' \
          f'"clientId": "{body["clientId"]}", ' \
          f'"amount": {amount}}}'
    refused = await records.v1.post("/invoices", content=raw, headers={"content-type": "application/json"})
    error = assert_error(refused, 400, "validation_error")
    assert [field["field"] for field in error["fields"]] == ["body.amount"], (why, error)
    assert (await records.v1.get("/invoices")).json()["page"]["total"] == 0


async def test_a_quote_line_quantity_has_at_most_four_decimal_places(api, workspaces):
    a, _ = workspaces
    records = Records(V1(api, "msp_admin", workspace=a))
    kept = await records.create("quotes", lines=[{"description": "Hours", "quantity": 2.125, "unitPrice": 80.5}])
    assert kept["lines"] == [{"description": "Hours", "quantity": 2.125, "unitPrice": 80.5}]
    body = await records.body("quotes", lines=[{"description": "Hours", "quantity": 2.12345, "unitPrice": 80}])
    error = assert_error(await records.v1.post("/quotes", json=body), 400, "validation_error")
    assert [field["field"] for field in error["fields"]] == ["body.lines.0.quantity"]


async def test_a_patch_keeps_amounts_exact(api, workspaces, db_engine):
    a, _ = workspaces
    records = Records(V1(api, "msp_admin", workspace=a))
    invoice = await records.create("invoices", amount=100)
    patched = await records.v1.patch(f"/invoices/{invoice['id']}", content=b'{"amount": 0.30}',
                                     headers={"content-type": "application/merge-patch+json"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["amount"] == 0.3 and await stored_amount(db_engine, invoice["id"]) == "0.3"
    renamed = await records.v1.patch(f"/invoices/{invoice['id']}", json={"number": "INV-9"})
    assert renamed.status_code == 200 and '"amount":0.3,' in renamed.text


async def test_a_payment_in_another_currency_than_its_invoice_is_400(api, workspaces):
    a, _ = workspaces
    records = Records(V1(api, "msp_admin", workspace=a))
    invoice = await records.create("invoices", currency="EUR")
    body = await records.body("payments", invoiceId=invoice["id"], currency="USD")
    error = assert_error(await records.v1.post("/payments", json=body), 400, "validation_error")
    assert error["fields"] == [{"field": "body.currency", "message": "must be EUR, as invoiceId has it",
                                "type": "currency_mismatch"}]
    assert (await records.v1.get("/payments")).json()["page"]["total"] == 0
    paid = await records.v1.post("/payments", json={**body, "currency": "EUR"})
    assert paid.status_code == 201, paid.text
    moved = await records.v1.patch(f"/payments/{paid.json()['id']}", json={"currency": "GBP"})
    assert_error(moved, 400, "validation_error")
    # Nor may the invoice's currency change under its payment.
    changed = await records.v1.patch(f"/invoices/{invoice['id']}", json={"currency": "USD"})
    error = assert_error(changed, 400, "validation_error")
    assert [(f["field"], f["type"]) for f in error["fields"]] == [("body.currency", "currency_mismatch")]
    assert (await records.v1.get(f"/invoices/{invoice['id']}")).json()["currency"] == "EUR"
    renamed = await records.v1.patch(f"/invoices/{invoice['id']}", json={"number": "INV-7"})
    assert renamed.status_code == 200, renamed.text
    unpaid = await records.create("invoices", currency="EUR", number="INV-8")
    assert (await records.v1.patch(f"/invoices/{unpaid['id']}", json={"currency": "USD"})).status_code == 200


def test_sums_of_stored_amounts_are_exact():
    assert money_sum([0.1, 0.2]) == Decimal("0.3")
    assert money_sum([999999999999.99, 0.01]) == Decimal("1000000000000.00")
    assert as_decimal(1499.5) == Decimal("1499.5") and as_decimal(1500) == Decimal(1500)
