"""What the fake GitHub (tests/fakes/github.py) holds, and the JSON GitHub answers for each record."""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: The scopes Capstan asks for at sign-in; a fake user is granted them unless told otherwise.
DEFAULT_SCOPES = ("read:user", "user:email", "read:org", "repo")

REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}


def make_app_key() -> tuple[str, str]:
    """A fresh RSA 2048 key pair for a GitHub App: ``(private PKCS#8 PEM, public PEM)``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@lru_cache(maxsize=1)
def shared_app_key() -> tuple[str, str]:
    """One key pair per test session: generating RSA keys is the slow part of starting a fake."""
    return make_app_key()


def stable_id(name: str) -> int:
    """The id GitHub would give an account: the same for a login wherever it appears."""
    return 10_000 + zlib.crc32(name.lower().encode()) % 90_000_000


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(18)}"


def account_json(base_url: str, login: str, account_id: int | None = None, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "id": account_id or stable_id(login), "type": kind,
            "avatar_url": f"{base_url}/avatars/{login}", "html_url": f"{base_url}/{login}"}


@dataclass
class FakeUser:
    login: str
    id: int
    token: str
    name: str | None
    email: str | None
    orgs: list[str]
    scopes: list[str]
    emails: list[dict[str, Any]]

    def json(self, base_url: str) -> dict[str, Any]:
        return {**account_json(base_url, self.login, self.id), "name": self.name, "email": self.email}


@dataclass
class FakeRepo:
    owner: str
    name: str
    id: int
    clone_url: str
    default_branch: str = "main"
    private: bool = False
    description: str | None = None
    files: dict[str, str] = field(default_factory=dict)   # path → text; wins over the git repository
    next_number: int = 1                                   # issues and pulls share GitHub's numbering

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def json(self, base_url: str, owner_kind: str = "User") -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "full_name": self.full_name, "private": self.private,
                "owner": account_json(base_url, self.owner, kind=owner_kind), "description": self.description,
                "html_url": f"{base_url}/{self.full_name}", "clone_url": self.clone_url,
                "default_branch": self.default_branch, "fork": False}


@dataclass
class FakeReaction:
    id: int
    content: str
    user: str


@dataclass
class FakeComment:
    id: int
    body: str
    user: str
    user_type: str = "User"                          # "Bot" for comments made with an installation token
    reactions: list[FakeReaction] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)

    def json(self, base_url: str, repo: FakeRepo, issue_number: int) -> dict[str, Any]:
        return {"id": self.id, "body": self.body, "user": account_json(base_url, self.user, kind=self.user_type),
                "html_url": f"{base_url}/{repo.full_name}/issues/{issue_number}#issuecomment-{self.id}",
                "created_at": self.created_at, "updated_at": self.created_at}


@dataclass
class FakeIssue:
    number: int
    title: str
    body: str | None
    user: str
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    comments: list[FakeComment] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)

    def json(self, base_url: str, repo: FakeRepo) -> dict[str, Any]:
        return {"id": repo.id * 1000 + self.number, "number": self.number, "title": self.title, "body": self.body,
                "state": self.state, "user": account_json(base_url, self.user),
                "labels": [label_json(name) for name in self.labels], "comments": len(self.comments),
                "html_url": f"{base_url}/{repo.full_name}/issues/{self.number}",
                "url": f"{base_url}/repos/{repo.full_name}/issues/{self.number}",
                "created_at": self.created_at, "updated_at": self.created_at, "closed_at": None}


def label_json(name: str) -> dict[str, Any]:
    return {"id": stable_id(f"label:{name}"), "name": name, "color": "ededed", "default": False}


@dataclass
class FakePull:
    number: int
    title: str
    head: str                   # branch name, without ``owner:``
    base: str
    body: str
    user: str
    url: str                    # html_url
    state: str = "open"

    def json(self, base_url: str, repo: FakeRepo) -> dict[str, Any]:
        return {"id": repo.id * 1000 + self.number, "number": self.number, "state": self.state,
                "title": self.title, "body": self.body, "html_url": self.url,
                "url": f"{base_url}/repos/{repo.full_name}/pulls/{self.number}",
                "user": account_json(base_url, self.user),
                "head": {"ref": self.head, "label": f"{repo.owner}:{self.head}"},
                "base": {"ref": self.base, "label": f"{repo.owner}:{self.base}"}, "merged": False}


@dataclass
class FakeInstallation:
    id: int
    account: str
    account_type: str
    repos: list[str]            # "owner/name", as added
    users: list[str]            # logins that see it under /user/installations
    app_id: str
    app_slug: str
    created_at: str = field(default_factory=now_iso)

    def covers(self, full_name: str) -> bool:
        return full_name.lower() in {repo.lower() for repo in self.repos}

    def json(self, base_url: str) -> dict[str, Any]:
        return {"id": self.id, "app_id": int(self.app_id) if self.app_id.isdigit() else self.app_id,
                "app_slug": self.app_slug, "target_type": self.account_type,
                "account": account_json(base_url, self.account, kind=self.account_type),
                "repository_selection": "selected", "created_at": self.created_at, "updated_at": self.created_at,
                "permissions": {"issues": "write", "pull_requests": "write", "contents": "write",
                                "metadata": "read"}}


@dataclass
class MintedToken:
    token: str
    installation_id: int
    expires_at: datetime


@dataclass
class ScriptedAnswer:
    path_substring: str
    status: int
    body: Any
    headers: dict[str, str]
    method: str | None
    times: int
