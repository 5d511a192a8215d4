"""Every change of a ticket, an alert, an asset's status or an invoice writes its event in the change's own
transaction, with exactly the data of the outbox's table (no amount, no secret); a change that is refused
writes none. ``GET /events/outbox`` shows them, filtered and sorted."""

from __future__ import annotations

from tests.e2e.platform_v1.outbox_support import event_of, outbox
from tests.e2e.platform_v1.support import V1


async def _records(client: V1) -> dict[str, str]:
    client_id = (await client.post("/clients", json={"name": "Globex"})).json()["id"]
    asset = await client.post("/assets", json={"clientId": client_id, "name": "srv-01", "type": "server"})
    return {"client": client_id, "asset": asset.json()["id"]}


async def test_each_change_writes_its_event_with_the_tables_data(api, workspaces):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a, sub="alice")
    ids = await _records(admin)
    ticket = await admin.post("/tickets", json={"clientId": ids["client"], "title": "Printer on fire",
                                                "priority": "high"}, headers={"x-correlation-id": "corr-ticket"})
    assert ticket.status_code == 201, ticket.text
    ticket_id = ticket.json()["id"]
    created = await event_of(admin, ticket_id, "ticket.created")
    assert created["id"].startswith("evt_") and len(created["id"]) == 36
    assert created["workspaceId"] == a and created["subject"] == {"type": "ticket", "id": ticket_id}
    assert created["data"] == {"ticketId": ticket_id, "clientId": ids["client"], "title": "Printer on fire",
                               "priority": "high", "status": "new", "source": "api"}
    assert created["correlationId"] == "corr-ticket"
    assert (created["status"], created["deliveries"]) == ("delivered", [])  # nobody subscribes in this workspace
    assert created["occurredAt"] == ticket.json()["createdAt"]

    patched = await admin.patch(f"/tickets/{ticket_id}", json={"status": "in_progress", "assignee": "bob"})
    assert patched.status_code == 200, patched.text
    updated = await event_of(admin, ticket_id, "ticket.updated")
    assert updated["data"] == {"ticketId": ticket_id, "clientId": ids["client"], "status": "in_progress",
                               "priority": "high", "action": "patch",
                               "changes": {"assignee": {"from": None, "to": "bob"},
                                           "status": {"from": "new", "to": "in_progress"}}}
    unchanged = await admin.patch(f"/tickets/{ticket_id}", json={"status": "in_progress"})
    assert unchanged.status_code == 200
    assert len(await outbox(admin, subjectId=ticket_id)) == 2, "a write that changes nothing emits nothing"

    alert = (await admin.post("/alerts", json={"title": "Disk full", "severity": "error",
                                               "clientId": ids["client"], "assetId": ids["asset"]})).json()
    triggered = await event_of(admin, alert["id"], "alert.triggered")
    assert triggered["subject"] == {"type": "alert", "id": alert["id"]}
    assert triggered["data"] == {"alertId": alert["id"], "title": "Disk full", "severity": "error",
                                 "clientId": ids["client"], "assetId": ids["asset"]}

    renamed = await admin.patch(f"/assets/{ids['asset']}", json={"name": "srv-02"})
    assert renamed.status_code == 200
    assert await outbox(admin, subjectId=ids["asset"]) == [], "only a status change of an asset is an event"
    retired = await admin.patch(f"/assets/{ids['asset']}", json={"status": "retired"})
    assert retired.status_code == 200, retired.text
    state = await event_of(admin, ids["asset"], "asset.state_changed")
    assert state["subject"] == {"type": "asset", "id": ids["asset"]}
    assert state["data"] == {"assetId": ids["asset"], "clientId": ids["client"], "from": "active", "to": "retired"}

    invoice = (await admin.post("/invoices", json={"clientId": ids["client"], "number": "INV-7", "issueDate":
                                                   "2026-05-01", "dueDate": "2026-05-31", "amount": 1500})).json()
    issued = await admin.patch(f"/invoices/{invoice['id']}", json={"status": "issued", "amount": 1750})
    assert issued.status_code == 200, issued.text
    invoice_created = await event_of(admin, invoice["id"], "invoice.created")
    assert invoice_created["data"] == {"invoiceId": invoice["id"], "clientId": ids["client"], "number": "INV-7",
                                       "status": "draft", "dueDate": "2026-05-31"}
    invoice_updated = await event_of(admin, invoice["id"], "invoice.updated")
    assert invoice_updated["data"] == {"invoiceId": invoice["id"], "clientId": ids["client"], "number": "INV-7",
                                       "status": "issued", "dueDate": "2026-05-31",
                                       "changes": {"status": {"from": "draft", "to": "issued"}}}
    everything = await outbox(admin)
    assert all("1500" not in str(e["data"]) and "1750" not in str(e["data"]) for e in everything), "an amount"

    deleted = await admin.delete(f"/tickets/{ticket_id}")
    assert deleted.status_code == 204
    [gone] = [e for e in await outbox(admin, subjectId=ticket_id, topic="ticket.updated")
              if e["data"]["action"] == "delete"]
    assert set(gone["data"]["changes"]) == {"deletedAt"} and gone["data"]["changes"]["deletedAt"]["from"] is None

    # Untouched kinds emit nothing.
    await admin.post("/runbooks", json={"title": "Restart", "steps": ["one"]})
    topics = [e["topic"] for e in await outbox(admin)]
    assert sorted(topics) == sorted(["ticket.created", "ticket.updated", "ticket.updated", "alert.triggered",
                                     "asset.state_changed", "invoice.created", "invoice.updated"])


async def test_a_refused_change_writes_no_event(api, workspaces):
    a, b = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    ids = await _records(admin)
    other = await _records(V1(api, "msp_admin", workspace=b))
    ticket_id = (await admin.post("/tickets", json={"clientId": ids["client"], "title": "T"})).json()["id"]
    before = await outbox(admin)
    refusals = [
        await admin.post("/tickets", json={"clientId": other["client"], "title": "B's client"}),    # reference
        await admin.post("/tickets", json={"clientId": ids["client"], "title": "x", "priority": "urgent"}),
        await admin.post("/alerts", json={"title": "no severity"}),
        await admin.patch(f"/tickets/{ticket_id}", json={"status": "done"}),
        await admin.patch(f"/tickets/{ticket_id}", json={"status": "open"}, headers={"If-Match": '"99"'}),
        await admin.patch(f"/assets/{ids['asset']}", json={"status": "retired", "siteId": other["client"]}),
        await admin.delete(f"/clients/{ids['client']}"),                                             # referenced
        await V1(api, "viewer", workspace=a).post("/tickets", json={"clientId": ids["client"], "title": "ro"}),
    ]
    assert [r.status_code for r in refusals] == [400, 400, 400, 400, 412, 400, 409, 403]
    assert await outbox(admin) == before


async def test_the_outbox_list_filters_sorts_and_shows_one_workspace(api, workspaces):
    a, b = workspaces
    admin, other = V1(api, "msp_admin", workspace=a), V1(api, "msp_admin", workspace=b)
    ids = await _records(admin)
    first = (await admin.post("/tickets", json={"clientId": ids["client"], "title": "First"})).json()["id"]
    second = (await admin.post("/tickets", json={"clientId": ids["client"], "title": "Second"})).json()["id"]
    await admin.post("/alerts", json={"title": "Heat", "severity": "critical"})
    await _records(other)
    await other.post("/alerts", json={"title": "B's alert", "severity": "info"})

    newest_first = await outbox(admin)
    assert [e["topic"] for e in newest_first] == ["alert.triggered", "ticket.created", "ticket.created"]
    assert [e["subject"]["id"] for e in newest_first[1:]] == [second, first]
    oldest_first = await outbox(admin, sortOrder="asc", sortBy="occurredAt")
    assert [e["id"] for e in oldest_first] == [e["id"] for e in reversed(newest_first)]
    assert [e["subject"]["id"] for e in await outbox(admin, topic="ticket.created", subjectId=first)] == [first]
    assert len(await outbox(admin, status="delivered")) == 3 and await outbox(admin, status="failed") == []
    assert [e["data"]["title"] for e in await outbox(admin, q="heAT")] == ["Heat"]
    assert "B's alert" not in str(newest_first)

    reader = V1(api, "integration_admin", workspace=a)
    page = (await reader.get("/events/outbox", params={"limit": "1", "topic": "ticket.created"})).json()
    assert page["page"] == {"limit": 1, "offset": 0, "returned": 1, "total": 2}
    assert page["filters"] == {"topic": "ticket.created"} and page["sort"] == {"by": "occurredAt", "order": "desc"}
    for bad in ({"topic": "ticket.exploded"}, {"status": "lost"}, {"sortBy": "topic"}, {"stauts": "failed"},
                {"subjectId": "x" * 201}, {"limit": "0"}):
        refused = await admin.get("/events/outbox", params=bad)
        assert refused.status_code == 400, (bad, refused.text)
