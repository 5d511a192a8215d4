"""The OAuth code exchange of a GitHub sign-in."""

from __future__ import annotations

import httpx

from integrations.github.client import USER_AGENT, GitHubError, OAuthTokenMissing, json_body_of, send_to_github
from integrations.http import outside_client


async def exchange_oauth_code(web_url: str, client_id: str, client_secret: str, code: str,
                              redirect_uri: str | None, *, timeout: float,
                              client: httpx.AsyncClient | None = None) -> str:
    """Trade a sign-in ``code`` for the user's access token (``POST <web>/login/oauth/access_token``).

    Raises ``GitHubError`` when the exchange itself fails (unreachable, non-2xx) and its subclass
    ``OAuthTokenMissing`` when GitHub answers without an ``access_token`` (e.g. ``bad_verification_code``).
    """
    doing = "OAuth token exchange"
    body = {"client_id": client_id, "client_secret": client_secret, "code": code}
    if redirect_uri:
        body["redirect_uri"] = redirect_uri
    http = client or outside_client(timeout=httpx.Timeout(timeout), follow_redirects=False)
    try:
        response = await send_to_github(http, "POST", f"{web_url.rstrip('/')}/login/oauth/access_token", doing,
                               (client_secret, code), json=body, timeout=timeout,
                               headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    finally:
        if client is None:
            await http.aclose()
    payload = json_body_of(response)
    payload = payload if isinstance(payload, dict) else None
    if not response.is_success:
        raise GitHubError(response.status_code, f"GitHub OAuth token exchange failed with HTTP {response.status_code}",
                          headers=dict(response.headers), body=payload, doing=doing)
    token = payload.get("access_token") if payload else None
    if not isinstance(token, str) or not token:
        reason = " ".join(str(payload[key]) for key in ("error", "error_description")
                          if payload and payload.get(key))
        raise OAuthTokenMissing(response.status_code, "GitHub OAuth token exchange answered without an access "
                                f"token{': ' + reason if reason else ''}", headers=dict(response.headers),
                                body=payload, doing=doing)
    return token
