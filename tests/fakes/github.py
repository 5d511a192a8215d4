"""A fake GitHub speaking real HTTP: REST API, OAuth web flow and GitHub App installation tokens.

One server plays both ``api.github.com`` and ``github.com``: point ``CAPSTAN_GITHUB_API_URL`` and
``CAPSTAN_GITHUB_WEB_URL`` at ``fake.url`` (``fake.env()`` gives every setting, with the App's key).

Usage::

    def test_something(fake_github):                      # a started FakeGitHub (fixture)
        fake_github.add_user("alice", token="gho_alice")  # can sign in, owns a token
        fake_github.add_repo("acme", "widgets", clone_url=str(bare_repo))
        fake_github.add_installation(7, "acme", repos=["acme/widgets"], users=["alice"])
        issue = fake_github.add_issue("acme", "widgets", 11, "Fix the typo", "It says teh.")
        payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix it", user="alice")
        ...                                               # payload = the issue_comment webhook body
        fake_github.comments("acme", "widgets", 11)[-1].body
        fake_github.labels("acme", "widgets", 11)        # ["bug", "capstan:task", ...]
        fake_github.reactions("acme", "widgets", payload["comment"]["id"])   # ["eyes"]
        fake_github.pulls("acme", "widgets")[0].head
        fake_github.fail_next("/issues/11/labels", 502)   # the next matching request answers 502
        fake_github.requests_to("/reactions")             # what Capstan sent

What it checks, like GitHub: every REST route needs ``Authorization: Bearer <token>`` (or ``token``)
of a known user or a minted installation token, else 401 ``Bad credentials``. Installation tokens see
only their installation's repositories (404 elsewhere) and get 403 ``Resource not accessible by
integration`` on ``/user…``. ``POST /app/installations/{id}/access_tokens`` verifies the RS256 JWT
(signature with the App's public key, ``iss`` = App id, ``exp`` in the future and ≤ 10 minutes away).
A user lacking the scope of ``/user/emails`` (``user:email``) or ``/user/orgs`` (``read:org``) gets a
403 with ``X-OAuth-Scopes``/``X-Accepted-OAuth-Scopes``. Each answer carries ``X-RateLimit-*`` headers
(one shared budget, ``set_rate_limit``); at 0 left REST calls answer 403 ``API rate limit exceeded``.
Reactions need an existing comment (``add_comment``/``comment_event``). When a repository's
``clone_url`` is a local git repository, pull requests need both branches to exist there with commits
between them (else 422), and ``contents`` reads files from its default branch (``set_file`` wins).

OAuth: ``GET /login/oauth/authorize?client_id&redirect_uri&state`` redirects (302) to ``redirect_uri``
with ``code`` and ``state``, signed in as ``sign_in_as(login)`` (default: the last user added);
``POST /login/oauth/access_token`` (JSON or form, JSON answer when asked) trades a code once for that
user's token, or answers 200 ``{error: bad_verification_code|incorrect_client_credentials|
redirect_uri_mismatch}`` like GitHub.

Webhooks (tests/fakes/github_webhooks.py): with ``webhook_url`` (and ``webhook_secret``), a comment made
through ``POST /repos/{o}/{r}/issues/{n}/comments`` (or ``post_comment``) is delivered as a signed
``issue_comment`` event, as GitHub delivers it to an App; the App's own comments (installation token)
only with ``deliver_bot_comments``, and then from its Bot. ``deliveries()`` holds what was sent and
answered. ``comment_event`` delivers nothing: it returns the payload for the test to send.

From a shell, for demos: ``python -m tests.fakes.github --help`` (tests/fakes/github_demo.py) serves the
fake on a port, seeds it from flags, prints the environment for Capstan and delivers webhooks.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from models.tasks.settings import GitHubAppSettings
from tests.fakes.github_app import FakeGitHubApp, GitHubState
from tests.fakes.github_records import (
    DEFAULT_SCOPES,
    FakeComment,
    FakeInstallation,
    FakeIssue,
    FakePull,
    FakeRepo,
    FakeUser,
    MintedToken,
    ScriptedAnswer,
    make_app_key,
    shared_app_key,
    stable_id,
)
from tests.fakes.github_webhooks import Delivery, WebhookConfig, WebhookSender
from tests.fakes.served import ReceivedRequest, ServedInThread

__all__ = ["FakeGitHub", "fake_github", "make_app_key"]

FAKE_CLIENT_ID = "fake-github-client-id"
FAKE_CLIENT_SECRET = "fake-github-client-secret-0123456789"
FAKE_APP_ID = "424242"
FAKE_APP_SLUG = "capstan-fake"


class FakeGitHub(ServedInThread):
    """The fake GitHub server; start/stop with ``with`` (or use the ``fake_github`` fixture)."""

    label = "fake github"

    def __init__(self, *, app_id: str = FAKE_APP_ID, app_public_key_pem: str | None = None,
                 app_slug: str = FAKE_APP_SLUG, client_id: str = FAKE_CLIENT_ID,
                 client_secret: str = FAKE_CLIENT_SECRET, installation_token_lifetime: float = 3600.0,
                 host: str = "127.0.0.1", port: int | None = None, webhook_url: str | None = None,
                 webhook_secret: str | None = None, deliver_bot_comments: bool = False) -> None:
        """Without ``app_public_key_pem`` the fake makes the App's key pair itself (``app_private_key_pem``).
        ``port`` None picks a free one. With ``webhook_url``, comments made through the REST API are
        delivered there (``configure_webhook``)."""
        super().__init__(host, port)
        self.app_private_key_pem: str | None = None
        if app_public_key_pem is None:
            self.app_private_key_pem, app_public_key_pem = shared_app_key()
        self._state = GitHubState(
            base_url=self.url, app_id=str(app_id), app_public_key_pem=app_public_key_pem, app_slug=app_slug,
            client_id=client_id, client_secret=client_secret,
            installation_token_lifetime=installation_token_lifetime)
        if webhook_url:
            self.configure_webhook(webhook_url, webhook_secret, deliver_bot_comments=deliver_bot_comments)

    def asgi(self) -> Any:
        return FakeGitHubApp(self._state).asgi()

    @property
    def _lock(self) -> threading.Lock:
        return self._state.lock

    # --- pointing Capstan here ---

    @property
    def app_id(self) -> str:
        return self._state.app_id

    @property
    def client_id(self) -> str:
        return self._state.client_id

    @property
    def client_secret(self) -> str:
        return self._state.client_secret

    def env(self) -> dict[str, str]:
        """The environment that points Capstan at this fake (REST, web/OAuth and the App)."""
        env = {"CAPSTAN_GITHUB_API_URL": self.url, "CAPSTAN_GITHUB_WEB_URL": self.url,
               "CAPSTAN_GITHUB_APP_ID": self.app_id, "CAPSTAN_GITHUB_APP_SLUG": self._state.app_slug,
               "CAPSTAN_GITHUB_CLIENT_ID": self.client_id, "CAPSTAN_GITHUB_CLIENT_SECRET": self.client_secret}
        if self.app_private_key_pem:
            env["CAPSTAN_GITHUB_APP_PRIVATE_KEY"] = self.app_private_key_pem
        return env

    def github_app_settings(self, **overrides: Any) -> GitHubAppSettings:
        values: dict[str, Any] = {
            "app_id": self.app_id, "app_slug": self._state.app_slug, "client_id": self.client_id,
            "client_secret": SecretStr(self.client_secret), "web_url": self.url,
            "app_private_key": SecretStr(self.app_private_key_pem) if self.app_private_key_pem else None}
        return GitHubAppSettings(**{**values, **overrides})

    # --- arranging the world ---

    def add_user(self, login: str, id: int | None = None, token: str | None = None, name: str | None = None,
                 email: str | None = None, orgs: Iterable[str] = (), *, scopes: Iterable[str] = DEFAULT_SCOPES,
                 emails: list[dict[str, Any]] | None = None) -> FakeUser:
        """A GitHub account that can sign in; ``token`` (default ``gho_<login>_…``) is its OAuth token.

        ``emails`` (``/user/emails``) defaults to ``email`` as primary and verified. The user becomes
        the one the authorize page signs in (see ``sign_in_as``).
        """
        if emails is None:
            emails = [{"email": email, "primary": True, "verified": True, "visibility": "private"}] if email else []
        user = FakeUser(login=login, id=id or stable_id(login), token=token or f"gho_{login}_{stable_id(login)}",
                        name=name, email=email, orgs=list(orgs), scopes=list(scopes), emails=emails)
        with self._lock:
            self._state.users[login.lower()] = user
            self._state.browser_user = login.lower()
        return user

    def sign_in_as(self, login: str | None) -> None:
        """Who the authorize page acts for (None: nobody, the page answers 400)."""
        with self._lock:
            self._state.browser_user = login.lower() if login else None

    def revoke_token(self, token: str) -> None:
        """The token stops working (401), as when a user revokes the OAuth app."""
        with self._lock:
            self._state.revoked.add(token)

    def issue_code(self, login: str, redirect_uri: str | None = None) -> str:
        """An OAuth code for ``login`` without the authorize redirect."""
        with self._lock:
            return self._state.new_code(login.lower(), redirect_uri)

    def add_repo(self, owner: str, name: str, clone_url: str | None = None, default_branch: str = "main",
                 id: int | None = None, private: bool = False, description: str | None = None) -> FakeRepo:
        """A repository; ``clone_url`` may be a local path or ``file://`` URL of a real git repository."""
        with self._lock:
            return self._state.add_repo(owner, name, clone_url, default_branch, id, private, description)

    def set_file(self, owner: str, repo: str, path: str, text: str | None) -> None:
        """What ``GET /repos/{o}/{r}/contents/{path}`` serves (None: not there, even if git has it)."""
        with self._lock:
            self._state.repo_or_add(owner, repo).files[path.lstrip("/")] = text  # type: ignore[assignment]

    def add_issue(self, owner: str, repo: str, number: int | None = None, title: str = "An issue",
                  body: str | None = "", labels: Iterable[str] = (), user: str = "alice") -> FakeIssue:
        """An open issue (the repository is added when missing); ``number`` None = the next free one."""
        with self._lock:
            fake_repo = self._state.repo_or_add(owner, repo)
            number = number or fake_repo.next_number
            fake_repo.next_number = max(fake_repo.next_number, number + 1)
            issue = FakeIssue(number=number, title=title, body=body, user=user, labels=list(labels))
            self._state.issues[(fake_repo.full_name.lower(), number)] = issue
            return issue

    def add_comment(self, owner: str, repo: str, number: int, body: str, user: str = "alice",
                    user_type: str = "User") -> FakeComment:
        with self._lock:
            return self._state.add_comment(owner, repo, number, body, user, user_type)

    def add_installation(self, id: int, account: str, repos: Iterable[str] = (), users: Iterable[str] | None = None,
                         account_type: str | None = None) -> FakeInstallation:
        """An installation of the App on ``account`` for ``repos`` ("owner/name"; added when missing).

        ``users`` see it under ``/user/installations`` (default: ``account``). ``account_type`` defaults
        to ``User`` when ``account`` is a known user, else ``Organization``.
        """
        with self._lock:
            for full_name in repos:
                self._state.repo_or_add(*full_name.split("/", 1))
            kind = account_type or ("User" if account.lower() in self._state.users else "Organization")
            installation = FakeInstallation(
                id=int(id), account=account, account_type=kind, repos=list(repos),
                users=[login.lower() for login in (users if users is not None else [account])],
                app_id=self._state.app_id, app_slug=self._state.app_slug)
            self._state.installations[int(id)] = installation
            return installation

    def comment_event(self, owner: str, repo: str, number: int, body: str, *, user: str = "alice",
                      user_type: str = "User", action: str = "created",
                      installation_id: int | None = None) -> dict[str, Any]:
        """Add a comment and return the ``issue_comment`` webhook payload GitHub would deliver for it.

        The issue must exist. ``installation_id`` defaults to the installation covering the repository
        (the payload has no ``installation`` when there is none).
        """
        with self._lock:
            state = self._state
            fake_repo = state.repo(owner, repo)
            if (fake_repo.full_name.lower(), number) not in state.issues:
                raise KeyError(f"{fake_repo.full_name}#{number}: no such issue")
            comment = state.add_comment(owner, repo, number, body, user, user_type)
            if installation_id is None:
                covering = state.installation_covering(fake_repo.full_name)
                installation_id = covering.id if covering else None
            return state.comment_payload(fake_repo, number, comment, action, installation_id)

    # --- webhook deliveries (tests/fakes/github_webhooks.py) ---

    def configure_webhook(self, url: str | None, secret: str | None = None, *, deliver_bot_comments: bool = False,
                          on_delivered: Callable[[Delivery], None] | None = None) -> None:
        """Deliver comments made through the REST API to ``url``, signed with ``secret`` (None: stop);
        ``on_delivered`` sees each delivery once it is answered (or skipped)."""
        old = self._state.webhooks
        self._state.webhooks = (WebhookSender(WebhookConfig(url, secret, deliver_bot_comments), self.app_id,
                                              on_delivered) if url else None)
        if old is not None:
            old.close()

    @property
    def webhook(self) -> WebhookConfig | None:
        return self._state.webhooks.config if self._state.webhooks else None

    def post_comment(self, owner: str, repo: str, number: int, body: str, *, user: str = "alice"
                     ) -> tuple[FakeComment, Delivery | None]:
        """``user`` comments on an issue, as through the REST API with their token: the comment, and its
        webhook delivery (None without a webhook). The issue must exist."""
        with self._lock:
            fake_repo = self._state.repo(owner, repo)
            comment = self._state.add_comment(owner, repo, number, body, user, "User")
        return copy.deepcopy(comment), self._state.deliver_comment(fake_repo, number, comment)

    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery, oldest first: what was sent and what the receiver answered."""
        return self._state.webhooks.deliveries() if self._state.webhooks else []

    def redeliver(self, delivery_id: str) -> Delivery | None:
        """Send a delivery again with the same ``X-GitHub-Delivery`` (GitHub's "Redeliver")."""
        return self._state.webhooks.redeliver(delivery_id) if self._state.webhooks else None

    def stop(self) -> None:
        super().stop()
        if self._state.webhooks is not None:
            self._state.webhooks.close()

    # --- steering ---

    def fail_next(self, path_substring: str, status: int, body: Any = None, headers: dict[str, str] | None = None,
                  *, method: str | None = None, times: int = 1) -> None:
        """The next ``times`` requests whose path contains ``path_substring`` (and of ``method``, if given)
        answer ``status`` with ``body`` (default ``{"message": <reason>}``) and ``headers``."""
        with self._lock:
            self._state.script.append(ScriptedAnswer(path_substring, status, body, dict(headers or {}),
                                                     method.upper() if method else None, times))

    def set_rate_limit(self, remaining: int, reset: int | None = None) -> None:
        """The shared budget: ``remaining`` calls until ``reset`` (epoch seconds; default in an hour)."""
        with self._lock:
            self._state.remaining = remaining
            self._state.reset = reset if reset is not None else int(time.time()) + 3600

    def set_installation_token_lifetime(self, seconds: float) -> None:
        with self._lock:
            self._state.installation_token_lifetime = seconds

    # --- what tests read ---

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return copy.deepcopy(self._state.requests)

    def requests_to(self, path_substring: str, method: str | None = None) -> list[ReceivedRequest]:
        return [r for r in self.requests if path_substring in r.path and (method is None or r.method == method)]

    @property
    def minted_tokens(self) -> list[MintedToken]:
        with self._lock:
            return copy.deepcopy(self._state.minted)

    def issue(self, owner: str, repo: str, number: int) -> FakeIssue:
        with self._lock:
            return copy.deepcopy(self._state.issues[(f"{owner}/{repo}".lower(), number)])

    def comments(self, owner: str, repo: str, number: int) -> list[FakeComment]:
        return self.issue(owner, repo, number).comments

    def labels(self, owner: str, repo: str, number: int) -> list[str]:
        return self.issue(owner, repo, number).labels

    def reactions(self, owner: str, repo: str, comment_id: int) -> list[str]:
        """The reaction contents on a comment, oldest first (``["eyes"]``)."""
        with self._lock:
            comment = self._state.find_comment(f"{owner}/{repo}", comment_id)
            return [reaction.content for reaction in comment.reactions] if comment else []

    def pulls(self, owner: str, repo: str) -> list[FakePull]:
        with self._lock:
            return copy.deepcopy(self._state.pulls.get(f"{owner}/{repo}".lower(), []))

    def repos(self) -> list[FakeRepo]:
        with self._lock:
            return copy.deepcopy(list(self._state.repos.values()))

    def token_expiry(self, token: str) -> datetime | None:
        with self._lock:
            minted = next((m for m in self._state.minted if m.token == token), None)
            return minted.expires_at if minted else None

    def expire_installation_tokens(self) -> None:
        """Every minted token expires now (GitHub then answers 401)."""
        with self._lock:
            for minted in self._state.minted:
                minted.expires_at = datetime.now(UTC) - timedelta(seconds=1)


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A fresh, started fake GitHub for one test."""
    with FakeGitHub() as github:
        yield github


if __name__ == "__main__":  # python -m tests.fakes.github --help: the fake on a port, for demos
    import sys

    from tests.fakes.github_demo import main

    sys.exit(main())
