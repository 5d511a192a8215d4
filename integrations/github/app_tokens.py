"""GitHub App installation tokens: the App's RS256 JWT, traded for a token per installation and cached."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt

from integrations.github.client import GitHubClient

#: An installation token is minted again when less than this is left of its life.
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)


def app_jwt(app_id: str, private_key_pem: str, now: int | None = None) -> str:
    """The App's RS256 JWT: ``{iat: now-60, exp: now+540, iss: app_id}`` (GitHub allows at most 10 minutes)."""
    now = int(time.time()) if now is None else now
    try:
        return jwt.encode({"iat": now - 60, "exp": now + 540, "iss": str(app_id)}, private_key_pem,
                          algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError):
        raise ValueError("the GitHub App private key is not a valid RSA private key in PEM form") from None


class InstallationTokens:
    """Installation tokens of one GitHub App, cached per installation until 5 minutes before expiry."""

    def __init__(self, api_url: str, app_id: str, private_key_pem: str, timeout: float, *,
                 client: httpx.AsyncClient | None = None) -> None:
        self.api_url = api_url
        self.app_id = str(app_id)
        self._private_key_pem = private_key_pem
        self._timeout = timeout
        self._client = client
        self._cache: dict[str, tuple[str, datetime]] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"InstallationTokens(api_url={self.api_url!r}, app_id={self.app_id!r})"

    async def token(self, installation_id: int | str) -> str:
        key = str(installation_id)
        async with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[1] - datetime.now(UTC) > TOKEN_REFRESH_MARGIN:
                return cached[0]
            async with GitHubClient(self.api_url, None, timeout=self._timeout, client=self._client) as github:
                token, expires_at = await github.create_installation_token(
                    app_jwt(self.app_id, self._private_key_pem), installation_id)
            self._cache[key] = (token, expires_at)
            return token

    def forget(self, installation_id: int | str) -> None:
        """Drop a cached token (GitHub said it is no longer valid)."""
        self._cache.pop(str(installation_id), None)
