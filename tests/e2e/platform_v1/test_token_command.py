"""`capstan token` makes a token the API accepts: the quickstart's `capstan token --role ops_engineer
--workspace <id>`, then a client and a ticket, and nothing beyond those roles and workspaces."""

from __future__ import annotations

import uuid

from tests.e2e.platform_v1.support import JWT_SECRET
from tests.unit.platform_v1.test_token_command import capstan_token


async def test_a_token_of_capstan_token_is_accepted_with_its_roles_and_workspaces(api, workspaces, tmp_path):
    a, b = workspaces
    done = capstan_token("--role", "ops_engineer", "--workspace", a, cwd=tmp_path, CAPSTAN_JWT_SECRET=JWT_SECRET)
    assert done.returncode == 0, done.stderr
    headers = {"Authorization": f"Bearer {done.stdout.strip()}", "x-workspace-id": a}

    def keyed() -> dict[str, str]:
        return {**headers, "Idempotency-Key": str(uuid.uuid4())}

    client = await api.post("/api/v1/clients", json={"name": "Globex"}, headers=keyed())
    assert client.status_code == 201, client.text
    assert client.json()["createdBy"] == "dev"
    ticket = await api.post("/api/v1/tickets", json={"clientId": client.json()["id"], "title": "Printer on fire",
                                                     "priority": "critical"}, headers=keyed())
    assert ticket.status_code == 201, ticket.text
    assert (await api.get("/api/v1/tickets", headers=headers)).json()["page"]["total"] == 1
    other_workspace = await api.get("/api/v1/tickets", headers={**headers, "x-workspace-id": b})
    assert other_workspace.status_code == 404, other_workspace.text
    not_its_role = await api.get("/api/v1/workspaces", headers={"Authorization": headers["Authorization"]})
    assert not_its_role.status_code == 403, not_its_role.text


async def test_a_token_signed_with_another_secret_is_refused(api, workspaces, tmp_path):
    a, _ = workspaces
    done = capstan_token("--role", "msp_admin", cwd=tmp_path, CAPSTAN_JWT_SECRET="not-the-api-secret-0123456789abcdef")
    assert done.returncode == 0, done.stderr
    refused = await api.get("/api/v1/clients", headers={"Authorization": f"Bearer {done.stdout.strip()}",
                                                        "x-workspace-id": a})
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
