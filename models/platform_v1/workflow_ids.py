"""Temporal workflow ids of the platform API v1: each names the surface's task queue and the workspace,
``<queue>:ws:<workspace id>:<kind>:<record id>`` (``capstan-platform_v1:ws:ws_…:notification-test:evt_…``),
so deployments sharing a namespace never meet and an operator sees whose run it is."""

from __future__ import annotations


def workspace_workflow_id(queue: str, workspace_id: str, kind: str, record_id: str) -> str:
    return f"{queue}:ws:{workspace_id}:{kind}:{record_id}"


def outbox_relay_schedule_id(queue: str) -> str:
    """The relay's one Schedule per cluster (``capstan-platform_v1-outbox-relay``); also its workflows' id."""
    return f"{queue}-outbox-relay"
