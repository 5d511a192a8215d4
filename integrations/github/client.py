"""The tasks surface's one GitHub client: REST calls with a user or installation token, GitHub App
installation tokens (RS256 app JWT), and the OAuth code exchange of sign-in.

Every failure is a ``GitHubError`` carrying what the API layer needs to classify it (status, GitHub's
``message``, lower-cased headers, body): ``rate_limited``, ``reset_at``, ``missing_scopes()`` and
``not_accessible_by_integration``. Tokens, JWTs, client secrets and private keys are never part of an
error message, a repr or a log line.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from integrations.http import outside_client

API_VERSION = "2022-11-28"
USER_AGENT = "capstan"

# Scopes that grant others (GitHub's scope hierarchy), for ``GitHubError.missing_scopes``.
_IMPLIED_SCOPES = {
    "repo": {"repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events"},
    "admin:org": {"write:org", "read:org"},
    "write:org": {"read:org"},
    "user": {"read:user", "user:email", "user:follow"},
    "admin:public_key": {"write:public_key", "read:public_key"},
    "write:public_key": {"read:public_key"},
    "admin:repo_hook": {"write:repo_hook", "read:repo_hook"},
    "write:repo_hook": {"read:repo_hook"},
    "write:packages": {"read:packages"},
}


@dataclass
class RateLimitSeen:
    """The rate limit GitHub last reported to this process (any token)."""

    remaining: int = 5000
    reset: int = 0  # epoch seconds; 0 = never seen


#: Updated in place by every GitHub answer carrying ``X-RateLimit-Remaining``/``-Reset``.
LAST_RATE_LIMIT = RateLimitSeen()


def _scopes(header: str | None) -> list[str]:
    return [scope.strip() for scope in (header or "").split(",") if scope.strip()]


class GitHubError(Exception):
    """A GitHub call that failed. ``status`` is None when no HTTP answer came back (unreachable, timeout).

    ``message`` is GitHub's own ``message`` when it gave one, else a description of what failed.
    """

    def __init__(self, status: int | None, message: str, *, headers: dict[str, str] | None = None,
                 body: dict[str, Any] | None = None, doing: str = "") -> None:
        self.status = status
        self.message = message
        self.headers = {name.lower(): value for name, value in (headers or {}).items()}
        self.body = body
        self.doing = doing
        answer = "unreachable" if status is None else f"HTTP {status}"
        super().__init__(f"GitHub {doing + ' ' if doing else ''}failed ({answer}): {message}")

    @property
    def rate_limited(self) -> bool:
        if self.status == 429:
            return True
        return self.status == 403 and ("rate limit" in self.message.lower()
                                       or self.headers.get("x-ratelimit-remaining") == "0")

    @property
    def reset_at(self) -> datetime | None:
        """When the limit resets: now + ``Retry-After`` (a secondary limit, whose end ``X-RateLimit-Reset``
        does not tell), else ``X-RateLimit-Reset``, else None."""
        try:
            return datetime.now(UTC) + timedelta(seconds=max(float(self.headers["retry-after"]), 0.0))
        except (KeyError, ValueError, OverflowError):
            pass
        try:
            return datetime.fromtimestamp(int(self.headers["x-ratelimit-reset"]), UTC)
        except (KeyError, ValueError, OverflowError):
            return None

    def missing_scopes(self) -> tuple[list[str], list[str]] | None:
        """``(granted, accepted)`` when a 403 came from an OAuth token lacking every scope the call accepts.

        Both ``X-OAuth-Scopes`` and ``X-Accepted-OAuth-Scopes`` must be non-empty; a granted scope
        counts for the scopes it implies (``repo`` grants ``public_repo``). None otherwise.
        """
        granted = _scopes(self.headers.get("x-oauth-scopes"))
        accepted = _scopes(self.headers.get("x-accepted-oauth-scopes"))
        if self.status != 403 or not granted or not accepted:
            return None
        effective = set(granted)
        for scope in granted:
            effective |= _IMPLIED_SCOPES.get(scope, set())
        if any(scope in effective for scope in accepted):
            return None
        return granted, accepted

    @property
    def not_accessible_by_integration(self) -> bool:
        return self.status == 403 and "resource not accessible by integration" in self.message.lower()

    @property
    def retryable(self) -> bool:
        """Worth trying again later: unreachable, 5xx or rate limited."""
        return self.status is None or self.status >= 500 or self.rate_limited

    #: The headers the classification above reads: all an error needs to cross a process boundary.
    CLASSIFYING_HEADERS = ("retry-after", "x-ratelimit-reset", "x-ratelimit-remaining", "x-oauth-scopes",
                           "x-accepted-oauth-scopes")

    def essentials(self) -> dict[str, Any]:
        """What classifies this error, as JSON (no token: messages are scrubbed, these headers carry none);
        ``from_essentials`` makes the same error again (a workflow's refusal read back by the API)."""
        return {"status": self.status, "message": self.message, "doing": self.doing,
                "headers": {name: self.headers[name] for name in self.CLASSIFYING_HEADERS if name in self.headers}}

    @classmethod
    def from_essentials(cls, essentials: dict[str, Any]) -> GitHubError:
        status = essentials.get("status")
        headers = essentials.get("headers")
        return cls(status if isinstance(status, int) else None, str(essentials.get("message") or ""),
                   headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else None,
                   doing=str(essentials.get("doing") or ""))


class OAuthTokenMissing(GitHubError):
    """The OAuth token exchange was answered, but without an ``access_token`` (bad or used code, bad client)."""


def _record_rate_limit(response: httpx.Response) -> None:
    try:
        remaining = int(response.headers["x-ratelimit-remaining"])
        reset = int(response.headers["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return
    LAST_RATE_LIMIT.remaining, LAST_RATE_LIMIT.reset = remaining, reset


def json_body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _segment(value: str | int) -> str:
    return quote(str(value), safe="")


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def send_to_github(client: httpx.AsyncClient, method: str, url: str, doing: str, secrets: tuple[str | None, ...],
                **kwargs: Any) -> httpx.Response:
    """One request; transport failures become ``GitHubError(None, …)`` without httpx internals chained."""
    try:
        return await client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        message = f"GitHub did not answer in time ({type(exc).__name__} at {_where(url)})"
    except httpx.HTTPError as exc:
        message = f"GitHub is unreachable ({type(exc).__name__} at {_where(url)}: {exc})"
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    raise GitHubError(None, message, doing=doing)


class GitHubClient:
    """GitHub's REST API with one token (a user's OAuth token or an installation token; None for none).

    Methods return GitHub's JSON as is and raise ``GitHubError`` on any non-2xx answer. Use as
    ``async with`` (or call ``aclose``); a ``client`` passed in stays open and is the caller's.
    """

    def __init__(self, api_url: str, token: str | None, *, timeout: float,
                 client: httpx.AsyncClient | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._owns_client = client is None
        #: Made on the first call (``_client``): a read answered from a cache makes no connection at all.
        self._http = client
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r})"

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client and self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = outside_client(timeout=httpx.Timeout(self._timeout), follow_redirects=False)
        return self._http

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "User-Agent": USER_AGENT,
                   "X-GitHub-Api-Version": API_VERSION}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                    token: str | None = None, ok_404: bool = False) -> Any:
        token = token or self._token
        doing = f"{method} {path}"
        response = await send_to_github(self._client(), method, f"{self.api_url}{path}", doing, (token,), json=json,
                               params=params, headers=self._headers(token), timeout=self._timeout)
        _record_rate_limit(response)
        body = json_body_of(response)
        if response.is_success:
            return body
        if ok_404 and response.status_code == 404:
            return None
        github_message = body.get("message") if isinstance(body, dict) else None
        message = str(github_message) if github_message else f"GitHub answered HTTP {response.status_code}"
        if token:
            message = message.replace(token, "***")
        raise GitHubError(response.status_code, message, headers=dict(response.headers),
                          body=body if isinstance(body, dict) else None, doing=doing)

    # --- the signed-in user ---

    async def get_user(self) -> dict[str, Any]:
        return await self._call("GET", "/user")

    async def get_user_emails(self) -> list[dict[str, Any]]:
        return await self._call("GET", "/user/emails", params={"per_page": 100})

    async def get_user_orgs(self) -> list[dict[str, Any]]:
        return await self._call("GET", "/user/orgs", params={"per_page": 100})

    async def get_user_installations(self) -> dict[str, Any]:
        """``{total_count, installations: [...]}`` of the App installations the user can see."""
        return await self._call("GET", "/user/installations", params={"per_page": 100})

    async def get_installation_repositories(self, installation_id: int | str) -> dict[str, Any]:
        """``{total_count, repositories: [...]}`` of one installation, as the user sees it."""
        return await self._call("GET", f"/user/installations/{_segment(installation_id)}/repositories",
                                params={"per_page": 100})

    async def get_rate_limit(self) -> dict[str, Any]:
        return await self._call("GET", "/rate_limit")

    # --- repositories, issues, pulls ---

    @staticmethod
    def _repo(owner: str, repo: str) -> str:
        return f"/repos/{_segment(owner)}/{_segment(repo)}"

    async def get_repo(self, owner: str, repo: str) -> dict[str, Any]:
        return await self._call("GET", self._repo(owner, repo))

    async def get_issue(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        return await self._call("GET", f"{self._repo(owner, repo)}/issues/{int(number)}")

    async def create_issue(self, owner: str, repo: str, title: str, body: str) -> dict[str, Any]:
        return await self._call("POST", f"{self._repo(owner, repo)}/issues", json={"title": title, "body": body})

    async def create_comment(self, owner: str, repo: str, number: int, body: str) -> dict[str, Any]:
        return await self._call("POST", f"{self._repo(owner, repo)}/issues/{int(number)}/comments",
                                json={"body": body})

    async def add_comment_reaction(self, owner: str, repo: str, comment_id: int, content: str) -> dict[str, Any]:
        return await self._call("POST", f"{self._repo(owner, repo)}/issues/comments/{int(comment_id)}/reactions",
                                json={"content": content})

    async def set_labels(self, owner: str, repo: str, number: int, labels: list[str]) -> list[dict[str, Any]]:
        return await self._call("PUT", f"{self._repo(owner, repo)}/issues/{int(number)}/labels",
                                json={"labels": list(labels)})

    async def list_pulls(self, owner: str, repo: str, head: str, state: str = "all") -> list[dict[str, Any]]:
        """Pull requests from ``head`` (a branch; ``owner:`` is prefixed when it has none)."""
        if ":" not in head:
            head = f"{owner}:{head}"
        return await self._call("GET", f"{self._repo(owner, repo)}/pulls", params={"state": state, "head": head})

    async def create_pull(self, owner: str, repo: str, title: str, head: str, base: str,
                          body: str) -> dict[str, Any]:
        return await self._call("POST", f"{self._repo(owner, repo)}/pulls",
                                json={"title": title, "head": head, "base": base, "body": body})

    async def get_file_text(self, owner: str, repo: str, path: str) -> str | None:
        """A file's text from the default branch; None when it does not exist or is not a file."""
        payload = await self._call("GET", f"{self._repo(owner, repo)}/contents/{quote(path.lstrip('/'))}",
                                   ok_404=True)
        if not isinstance(payload, dict) or payload.get("type") != "file" or payload.get("encoding") != "base64":
            return None
        try:
            return base64.b64decode(str(payload.get("content") or "")).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return None

    # --- GitHub App ---

    async def create_installation_token(self, app_jwt: str, installation_id: int | str) -> tuple[str, datetime]:
        """Mint an installation token with the App's JWT: ``(token, expires_at)``."""
        payload = await self._call("POST", f"/app/installations/{_segment(installation_id)}/access_tokens",
                                   json={}, token=app_jwt)
        try:
            token = str(payload["token"])
            expires_at = datetime.fromisoformat(str(payload["expires_at"]).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError):
            raise GitHubError(201, "GitHub answered the installation token request without token and expires_at",
                              doing="POST /app/installations/{id}/access_tokens") from None
        return token, expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
