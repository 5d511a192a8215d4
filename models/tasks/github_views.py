"""What the tasks surface answers about the signed-in user's GitHub (``/api/github/*``, ``/api/auth/diagnostics``,
``/api/rate-limit``): Capstan's camelCase views of GitHub's objects, and GitHub's own objects where an answer
passes them on as GitHub sent them (``GitHubObject``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    model_serializer,
    model_validator,
)

InstallationStatus = Literal["installed", "not_installed", "indeterminate"]
#: GitHub's ``2026-05-13T10:00:00Z``.
GitHubTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class GitHubObject(BaseModel):
    """An object passed on as GitHub sent it: every key it had, in its order, and no declared field it lacked.
    The declared fields say what a client may rely on; the rest is GitHub's and documented by GitHub."""

    model_config = ConfigDict(extra="allow")
    _keys: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_keys(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        made = handler(data)
        if isinstance(data, dict):
            made._keys = tuple(data)
        return made

    @model_serializer(mode="wrap")
    def _as_sent(self, handler: SerializerFunctionWrapHandler):  # unannotated: the documented schema stays the model's
        answer = handler(self)
        if not self._keys or not isinstance(answer, dict):
            return answer
        return {key: answer[key] for key in self._keys if key in answer}


class GitHubAccountObject(GitHubObject):
    login: str | None = None
    id: int | None = None
    avatar_url: str | None = None


class GitHubInstallationObject(GitHubObject):
    """An App installation as ``GET /user/installations`` lists it."""

    id: int
    app_id: int | None = None
    app_slug: str | None = None
    target_type: str | None = None
    account: GitHubAccountObject | None = None
    created_at: GitHubTime | None = None


class GitHubLabelObject(GitHubObject):
    id: int | None = None
    name: str | None = None
    color: str | None = None


class GitHubAccount(BaseModel):
    """A user or organization: an organization of the user, or the account an installation is on."""

    id: int | None
    login: str | None
    avatarUrl: str | None

    @classmethod
    def from_github(cls, raw: dict[str, Any]) -> GitHubAccount:
        return cls(id=raw.get("id"), login=raw.get("login"), avatarUrl=raw.get("avatar_url"))


class GitHubUser(BaseModel):
    id: int | None
    login: str | None
    name: str | None
    avatarUrl: str | None

    @classmethod
    def from_github(cls, raw: dict[str, Any]) -> GitHubUser:
        return cls(id=raw.get("id"), login=raw.get("login"), name=raw.get("name"), avatarUrl=raw.get("avatar_url"))


class GitHubUserWithEmail(GitHubUser):
    email: str | None = Field(description="The first primary and verified address, else the first verified, else "
                                          "the first, else the profile's.")

    @classmethod
    def from_profile(cls, raw: dict[str, Any], email: str | None) -> GitHubUserWithEmail:
        return cls(**GitHubUser.from_github(raw).model_dump(), email=email)


class GitHubRepository(BaseModel):
    """A repository of one of the user's App installations."""

    id: int
    fullName: str
    name: str | None
    owner: str
    private: bool
    description: str | None

    @classmethod
    def from_github(cls, raw: dict[str, Any]) -> GitHubRepository | None:
        """The view of GitHub's repository object; ``None`` for one without an id (it cannot be selected)."""
        if not isinstance(raw.get("id"), int) or isinstance(raw.get("id"), bool):
            return None
        owner = raw.get("owner") if isinstance(raw.get("owner"), dict) else {}
        full_name = str(raw.get("full_name") or f"{owner.get('login')}/{raw.get('name')}")
        return cls(id=raw["id"], fullName=full_name, name=raw.get("name"),
                   owner=owner.get("login") or full_name.split("/", 1)[0], private=bool(raw.get("private")),
                   description=raw.get("description"))

    def get(self, field: str, default: Any = None) -> Any:
        """Read as the dict it used to be, for callers not yet moved to attributes
        (``api/tasks/services/task_records.py``); remove once none is left."""
        return getattr(self, field, default)


class GitHubInstallation(BaseModel):
    id: int
    appId: int | None
    appSlug: str | None
    targetType: str | None
    createdAt: GitHubTime | None
    account: GitHubAccount | None

    @classmethod
    def of(cls, installation: GitHubInstallationObject) -> GitHubInstallation:
        account = installation.account
        return cls(id=installation.id, appId=installation.app_id, appSlug=installation.app_slug,
                   targetType=installation.target_type, createdAt=installation.created_at,
                   account=GitHubAccount(id=account.id, login=account.login, avatarUrl=account.avatar_url)
                   if account is not None else None)


class GitHubSummary(BaseModel):
    """``GET /api/github/summary``."""

    user: GitHubUserWithEmail
    organizations: list[GitHubAccount]
    repositories: list[GitHubRepository]
    installations: list[GitHubInstallationObject] = Field(description="GitHub's installation objects, as sent.")
    warnings: list[str] = Field(description="The optional parts that failed (organizations, email, an "
                                            "installation's repositories).")


class GitHubRepositoryList(BaseModel):
    """``GET /api/github/repositories``."""

    repositories: list[GitHubRepository]
    hasInstallation: bool
    warnings: list[str]


class GitHubInstallationList(BaseModel):
    """``GET /api/github/installations``: ``indeterminate`` with the reason when GitHub did not answer."""

    status: InstallationStatus
    reason: str | None
    requestId: str | None
    total: int
    installations: list[GitHubInstallation]


class GitHubOrganizationList(BaseModel):
    """``GET /api/github/orgs``."""

    organizations: list[GitHubAccount]


class GitHubProfile(BaseModel):
    """``GET /api/github/profile``."""

    user: GitHubUser
    email: str | None


class GitHubIssue(BaseModel):
    """``GET /api/github/issues/{owner}/{repo}/{number}``."""

    number: int | None
    title: str | None
    body: str = Field(description='"" when GitHub has none.')
    state: str | None
    labels: list[GitHubLabelObject | str] = Field(description="GitHub's labels, as sent (objects; GitHub's "
                                                              "schema also allows a name alone).")
    html_url: str | None

    @classmethod
    def from_github(cls, raw: dict[str, Any]) -> GitHubIssue:
        return cls(number=raw.get("number"), title=raw.get("title"), body=raw.get("body") or "",
                   state=raw.get("state"), labels=raw.get("labels") or [], html_url=raw.get("html_url"))


class InstallationDiagnostics(BaseModel):
    """``GET /api/auth/diagnostics``: whether comments can reach Capstan; ``ok`` when ``action`` is ``ok``."""

    ok: bool
    installationStatus: InstallationStatus
    installationCount: int
    webhookDeliveryStatus: Literal["configured", "needs_install", "indeterminate"]
    action: Literal["ok", "install_app", "check_runtime"]
    reason: str | None


class RateLimitPublic(BaseModel):
    """``GET /api/rate-limit``: GitHub's core rate limit."""

    remaining: int
    reset: int = Field(description="When it resets, in epoch seconds.")
    resetTime: GitHubTime
    minutesUntilReset: int
    isLow: bool = Field(description="remaining < 100")
