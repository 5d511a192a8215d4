"""Forges: open the pull request (GitHub) or merge request (GitLab) of a protocol branch.

``open_pull_request`` is safe to run twice: when the forge answers that the request
already exists (GitHub 422, GitLab 409) it looks the open one up and returns it with
``created=False``. The token comes from the project's secrets or from settings, never
from workflow input, and is kept out of every message, log line and error detail.

A failure is a ``ForgeError`` that says whether retrying can help (5xx, rate limits, timeouts,
network errors) or not (bad credentials, no permission, unknown repository, invalid request); the
activity (``activities/protocols/forge.py``) turns it into the ``ApplicationError`` a workflow reads.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from models.protocols.forges import Forge, display_url
from models.protocols.settings import ForgeSettings
from models.protocols.workflow_io import PullRequestResult


class ForgeErrorType:
    REJECTED = "ForgeRequestRejected"        # non-retryable: credentials, permissions, unknown repo, bad request
    UNAVAILABLE = "ForgeUnavailable"         # retryable: 5xx, rate limits, timeouts, network errors
    NOT_CONFIGURED = "ForgeNotConfigured"    # non-retryable: no forge, repository or token for the project
    PROJECT_NOT_FOUND = "ProjectNotFound"    # non-retryable


# --- the REST clients ----------------------------------------------------------------------------

_RETRYABLE_STATUSES = {408, 425, 429}
_MAX_RETRY_AFTER_SECONDS = 600.0
_MAX_DETAIL_CHARS = 300


class ForgeError(Exception):
    """A forge call that failed. ``status`` is None when no HTTP answer came back."""

    def __init__(self, message: str, status: int | None = None, *, forge: str | None = None,
                 retryable: bool | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.forge = forge
        self.retry_after = retry_after
        self._retryable = retryable

    @property
    def retryable(self) -> bool:
        if self._retryable is not None:
            return self._retryable
        return self.status is None or self.status >= 500 or self.status in _RETRYABLE_STATUSES

    @property
    def retry_delay(self) -> timedelta | None:
        """How long the forge asked to wait (``Retry-After``, at most 10 minutes) before a retry."""
        if self.retryable and self.retry_after:
            return timedelta(seconds=min(self.retry_after, _MAX_RETRY_AFTER_SECONDS))
        return None


def _forge_message(response: httpx.Response) -> str:
    """The forge's own explanation: GitHub ``message`` + ``errors``, GitLab ``message``/``error``."""
    try:
        payload: Any = response.json()
    except ValueError:
        return response.text.strip()[:_MAX_DETAIL_CHARS] or response.reason_phrase
    if not isinstance(payload, dict):
        return str(payload)[:_MAX_DETAIL_CHARS]
    parts: list[str] = []
    message = payload.get("message", payload.get("error"))
    if isinstance(message, dict):  # GitLab validation: {"title": ["can't be blank"]}
        parts += [f"{field} {'; '.join(map(str, problems)) if isinstance(problems, list) else problems}"
                  for field, problems in message.items()]
    elif isinstance(message, list):
        parts += [str(item) for item in message]
    elif message:
        parts.append(str(message))
    if payload.get("error_description"):
        parts.append(str(payload["error_description"]))
    for error in payload.get("errors") or []:  # GitHub validation details
        if isinstance(error, dict):
            parts.append(str(error.get("message") or " ".join(
                str(error[key]) for key in ("resource", "field", "code") if error.get(key))))
        else:
            parts.append(str(error))
    return ("; ".join(parts) or response.reason_phrase)[:_MAX_DETAIL_CHARS]


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None  # an HTTP date: leave the retry policy's own interval


class ForgeClient:
    """One forge's REST API over an ``httpx.AsyncClient``; subclasses speak GitHub or GitLab.

    Use as ``async with``. Every failure is a ``ForgeError`` with a token-free message.
    """

    forge: str = ""

    def __init__(self, api_url: str, token: str, timeout_seconds: float) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._token = token
        self._http = httpx.AsyncClient(base_url=self.api_url, headers=self._auth_headers(token),
                                       timeout=httpx.Timeout(timeout_seconds), follow_redirects=False)

    @classmethod
    def for_forge(cls, forge: str, settings: ForgeSettings, token: str) -> ForgeClient:
        if forge == Forge.GITHUB:
            return GitHubClient(settings.github_api_url, token, settings.timeout_seconds)
        if forge == Forge.GITLAB:
            return GitLabClient(settings.gitlab_api_url, token, settings.timeout_seconds)
        raise ValueError(f"unknown forge {forge!r}")

    @property
    def label(self) -> str:
        return Forge.LABELS[self.forge]

    def _auth_headers(self, token: str) -> dict[str, str]:
        raise NotImplementedError

    async def open_pull_request(self, repository: str, head: str, base: str, title: str,
                                body: str) -> PullRequestResult:
        """Open the request from ``head`` into ``base``, or return the open one for ``head``."""
        raise NotImplementedError

    async def __aenter__(self) -> ForgeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _error(self, message: str, status: int | None = None, **kwargs: Any) -> ForgeError:
        return ForgeError(self._redact(message), status, forge=self.forge, **kwargs)

    def _failure(self, response: httpx.Response, doing: str) -> ForgeError:
        status = response.status_code
        detail = _forge_message(response)
        rate_limited = status == 403 and (response.headers.get("x-ratelimit-remaining") == "0"
                                          or "rate limit" in detail.lower())
        return self._error(f"{self.label} returned HTTP {status} {doing}: {detail}", status,
                           retryable=True if rate_limited else None,
                           retry_after=_retry_after_seconds(response))

    async def _send(self, method: str, path: str, doing: str, *, json: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await self._http.request(method, path, json=json, params=params)
        except httpx.TimeoutException as exc:
            error = self._error(f"{self.label} did not answer within {self.timeout_seconds:g}s {doing} "
                                f"({type(exc).__name__} at {display_url(self.api_url)})")
        except httpx.HTTPError as exc:
            error = self._error(f"{self.label} is unreachable {doing}: {type(exc).__name__} at "
                                f"{display_url(self.api_url)}: {exc}")
        raise error  # outside the except block: no httpx internals chained into the failure

    def _json(self, response: httpx.Response, doing: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._error(f"{self.label} answered HTTP {response.status_code} {doing} with a body "
                              f"that is not JSON", response.status_code, retryable=True) from None

    def _result(self, payload: Any, url_key: str, number_key: str, created: bool, doing: str) -> PullRequestResult:
        try:
            return PullRequestResult(url=str(payload[url_key]), number=int(payload[number_key]), created=created)
        except (KeyError, TypeError, ValueError):
            raise self._error(f"{self.label} answered {doing} without {url_key!r} and {number_key!r}",
                              retryable=True) from None


def _says_already_exists(response: httpx.Response) -> bool:
    return "already exists" in _forge_message(response).lower()


class GitHubClient(ForgeClient):
    """GitHub REST: ``POST /repos/{owner}/{repo}/pulls``."""

    forge = Forge.GITHUB

    def _auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28"}

    async def open_pull_request(self, repository: str, head: str, base: str, title: str,
                                body: str) -> PullRequestResult:
        owner, _, name = repository.partition("/")
        path = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/pulls"
        doing = f"opening a pull request {head} → {base} in {repository}"
        response = await self._send("POST", path, doing,
                                    json={"title": title, "head": head, "base": base, "body": body})
        if response.status_code in (200, 201):
            return self._result(self._json(response, doing), "html_url", "number", True, doing)
        if response.status_code == 422 and _says_already_exists(response):
            existing = await self._find_open(path, owner, head, repository)
            if existing is not None:
                return existing
        raise self._failure(response, doing)

    async def _find_open(self, path: str, owner: str, head: str, repository: str) -> PullRequestResult | None:
        qualified_head = head if ":" in head else f"{owner}:{head}"
        doing = f"looking up the open pull request of {qualified_head} in {repository}"
        response = await self._send("GET", path, doing, params={"head": qualified_head, "state": "open"})
        if response.status_code != 200:
            raise self._failure(response, doing)
        pulls = self._json(response, doing)
        if not isinstance(pulls, list) or not pulls:
            return None
        return self._result(pulls[0], "html_url", "number", False, doing)


class GitLabClient(ForgeClient):
    """GitLab REST: ``POST /projects/{url-encoded path}/merge_requests``."""

    forge = Forge.GITLAB

    def _auth_headers(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token, "Accept": "application/json"}

    async def open_pull_request(self, repository: str, head: str, base: str, title: str,
                                body: str) -> PullRequestResult:
        path = f"/projects/{quote(repository, safe='')}/merge_requests"
        doing = f"opening a merge request {head} → {base} in {repository}"
        response = await self._send("POST", path, doing, json={
            "source_branch": head, "target_branch": base, "title": title, "description": body})
        if response.status_code in (200, 201):
            return self._result(self._json(response, doing), "web_url", "iid", True, doing)
        if response.status_code == 409 or (response.status_code == 422 and _says_already_exists(response)):
            existing = await self._find_open(path, head, base, repository)
            if existing is not None:
                return existing
        raise self._failure(response, doing)

    async def _find_open(self, path: str, head: str, base: str, repository: str) -> PullRequestResult | None:
        doing = f"looking up the open merge request of {head} in {repository}"
        response = await self._send("GET", path, doing, params={"source_branch": head, "state": "opened"})
        if response.status_code != 200:
            raise self._failure(response, doing)
        requests = self._json(response, doing)
        if not isinstance(requests, list) or not requests:
            return None
        same_target = [r for r in requests if isinstance(r, dict) and r.get("target_branch") == base]
        return self._result((same_target or requests)[0], "web_url", "iid", False, doing)
