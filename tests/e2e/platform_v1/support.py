"""What the platform API v1 tests share: tokens for any roles and workspaces, a client that sends them,
the workspace and a fresh Idempotency-Key on every mutation, and workspaces to act in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpx
import jwt

JWT_SECRET = "platform-v1-test-secret-0123456789abcdef"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def token(*roles: str, workspaces: Iterable[str] = (), sub: str = "tester", ttl: int = 600,
          secret: str = JWT_SECRET, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": sub, "roles": list(roles), "workspaces": list(workspaces), "iat": now, "exp": now + ttl, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


class V1:
    """Requests to /api/v1 as one principal, in one workspace (when given)."""

    def __init__(self, api: httpx.AsyncClient, *roles: str, workspace: str | None = None,
                 workspaces: Iterable[str] | None = None, sub: str = "tester") -> None:
        self.api = api
        self.workspace = workspace
        granted = list(workspaces) if workspaces is not None else ([workspace] if workspace else [])
        self.token = token(*roles, workspaces=granted, sub=sub)

    def headers(self, method: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.workspace:
            headers["x-workspace-id"] = self.workspace
        if method in MUTATING:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        return {**headers, **(extra or {})}

    async def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                      **kwargs: Any) -> httpx.Response:
        return await self.api.request(method, f"/api/v1{path}", headers=self.headers(method, headers), **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)


async def new_workspace(api: httpx.AsyncClient, name: str = "Acme MSP") -> str:
    admin = V1(api, "platform_admin")
    created = await admin.post("/workspaces", json={"name": name})
    assert created.status_code == 201, created.text
    return created.json()["id"]
