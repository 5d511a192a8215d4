"""A client and a ticket, created and read in a workspace."""

from __future__ import annotations

from tests.e2e.platform_v1.support import V1


async def test_a_client_and_a_ticket(api, workspaces):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    client = await ops.post("/clients", json={"name": "Globex"})
    assert client.status_code == 201, client.text
    ticket = await ops.post("/tickets", json={"clientId": client.json()["id"], "title": "Printer on fire",
                                              "priority": "critical"})
    assert ticket.status_code == 201, ticket.text
    listed = await ops.get("/tickets")
    assert listed.status_code == 200, listed.text
    print(listed.json())
