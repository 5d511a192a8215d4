"""Checks of a model provider's key against the provider's own API (``POST /api/config/validate/anthropic``).

The key travels only in the provider's auth header; no answer or message carries it.
"""

from __future__ import annotations

from typing import Any

import httpx

from integrations.http import outside_client

ANTHROPIC_VERSION = "2023-06-01"


async def validate_anthropic(api_url: str, key: str, *, timeout: float) -> dict[str, Any]:
    """``GET <anthropic>/v1/models``: 2xx → ``ready``; 401/403 → ``invalid``; else ``error``."""
    headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION, "User-Agent": "capstan"}
    try:
        async with outside_client(timeout=timeout) as http:
            response = await http.get(f"{api_url.rstrip('/')}/v1/models", headers=headers)
    except httpx.HTTPError as exc:
        return {"ok": False, "status": "error", "message": f"Anthropic is unreachable ({type(exc).__name__})"}
    except UnicodeEncodeError:  # a key stored before keys were checked: no header can carry it
        return {"ok": False, "status": "invalid", "message": "The stored key holds characters an HTTP header "
                                                             "cannot carry."}
    if response.is_success:
        return {"ok": True, "status": "ready"}
    if response.status_code in (401, 403):
        return {"ok": False, "status": "invalid",
                "message": f"Anthropic refused the stored key (HTTP {response.status_code})."}
    return {"ok": False, "status": "error", "message": f"Anthropic answered HTTP {response.status_code}."}
