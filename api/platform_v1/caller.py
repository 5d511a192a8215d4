"""``Caller``: who calls a ``/api/v1`` route, in which workspace, under which correlation id. Routes get it
checked from ``api.platform_v1.access.CallerDep`` and hand it to the services, which need nothing else of
the request."""

from __future__ import annotations

from dataclasses import dataclass

from api.common.auth import Principal


@dataclass(frozen=True)
class Caller:
    """Who calls, in which workspace (tenant routes), under which correlation id."""

    principal: Principal
    workspace_id: str | None
    correlation_id: str

    @property
    def actor(self) -> str:
        return self.principal.subject

    @property
    def tenant(self) -> str:
        """The workspace id of a tenant route (the access check guarantees one)."""
        assert self.workspace_id is not None, "a tenant route without its workspace"
        return self.workspace_id
