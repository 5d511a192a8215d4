"""The HTTP side of the fake GitHub (see tests/fakes/github.py for what it does and how to use it)."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.github_records import (
    REACTIONS,
    FakeComment,
    FakeInstallation,
    FakeIssue,
    FakePull,
    FakeReaction,
    FakeRepo,
    FakeUser,
    MintedToken,
    ScriptedAnswer,
    account_json,
    iso,
    label_json,
    new_token,
)
from tests.fakes.github_webhooks import Delivery, WebhookSender
from tests.fakes.served import ReceivedRequest

_DOCS = "https://docs.github.com/rest"
_IMPLIED = {"repo": {"public_repo"}, "user": {"read:user", "user:email", "user:follow"},
            "admin:org": {"write:org", "read:org"}, "write:org": {"read:org"}}
# What the scope-checked routes accept, and the scope their 403 names.
_EMAIL_SCOPES = (("user", "user:email"), "user:email")
_ORG_SCOPES = (("admin:org", "read:org", "user", "write:org"), "read:org")


@dataclass
class GitHubState:
    """Everything the fake holds; guarded by ``lock`` (the server runs in its own thread)."""

    base_url: str
    app_id: str
    app_public_key_pem: str
    app_slug: str
    client_id: str
    client_secret: str
    installation_token_lifetime: float
    users: dict[str, FakeUser] = field(default_factory=dict)             # by lower-case login
    browser_user: str | None = None
    revoked: set[str] = field(default_factory=set)
    codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # code → (login, redirect_uri)
    repos: dict[str, FakeRepo] = field(default_factory=dict)             # by lower-case owner/name
    issues: dict[tuple[str, int], Any] = field(default_factory=dict)
    pulls: dict[str, list[FakePull]] = field(default_factory=dict)
    installations: dict[int, FakeInstallation] = field(default_factory=dict)
    minted: list[MintedToken] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)
    script: list[ScriptedAnswer] = field(default_factory=list)
    remaining: int = 5000
    reset: int = field(default_factory=lambda: int(time.time()) + 3600)
    next_id: int = 5000
    #: Where comments made through the REST API are delivered (None: nowhere); see github_webhooks.py.
    webhooks: WebhookSender | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def new_code(self, login: str, redirect_uri: str | None) -> str:
        code = secrets.token_hex(10)
        self.codes[code] = (login, redirect_uri)
        return code

    def add_repo(self, owner: str, name: str, clone_url: str | None, default_branch: str, repo_id: int | None,
                 private: bool, description: str | None) -> FakeRepo:
        repo = FakeRepo(owner=owner, name=name, id=repo_id or self.new_id(),
                        clone_url=clone_url or f"{self.base_url}/{owner}/{name}.git", default_branch=default_branch,
                        private=private, description=description)
        self.repos[repo.full_name.lower()] = repo
        return repo

    def repo(self, owner: str, name: str) -> FakeRepo:
        return self.repos[f"{owner}/{name}".lower()]

    def repo_or_add(self, owner: str, name: str) -> FakeRepo:
        found = self.repos.get(f"{owner}/{name}".lower())
        return found or self.add_repo(owner, name, None, "main", None, False, None)

    def add_comment(self, owner: str, name: str, number: int, body: str, user: str, user_type: str) -> FakeComment:
        issue = self.issues[(f"{owner}/{name}".lower(), number)]
        comment = FakeComment(id=self.new_id(), body=body, user=user, user_type=user_type)
        issue.comments.append(comment)
        return comment

    def installation_covering(self, full_name: str) -> FakeInstallation | None:
        return next((i for i in self.installations.values() if i.covers(full_name)), None)

    def comment_payload(self, repo: FakeRepo, number: int, comment: FakeComment, action: str = "created",
                        installation_id: int | None = None) -> dict[str, Any]:
        """The ``issue_comment`` webhook payload of ``comment`` (call with ``lock`` held)."""
        issue = self.issues[(repo.full_name.lower(), number)]
        sender = self.account(comment.user, comment.user_type)
        payload = {"action": action, "issue": issue.json(self.base_url, repo),
                   "comment": comment.json(self.base_url, repo, number),
                   "repository": repo.json(self.base_url, self.owner_kind(repo.owner)), "sender": sender}
        payload["comment"]["user"] = sender
        if installation_id is not None:
            payload["installation"] = {"id": installation_id}
        return copy.deepcopy(payload)

    def deliver_comment(self, repo: FakeRepo, number: int, comment: FakeComment) -> Delivery | None:
        """Deliver a new comment to the webhook, as GitHub does (None: no webhook, or an App comment the
        webhook does not want). Call without ``lock`` held: it takes it."""
        sender = self.webhooks
        if sender is None or (comment.user_type == "Bot" and not sender.config.deliver_bot_comments):
            return None
        with self.lock:
            installation = self.installation_covering(repo.full_name)
            payload = self.comment_payload(repo, number, comment,
                                           installation_id=installation.id if installation else None)
        where = {"event": "issue_comment", "repo": repo.full_name, "issue": number, "comment_id": comment.id,
                 "sender": comment.user, "sender_type": comment.user_type}
        if installation is None:
            return sender.skip(**where, action="created", reason=f"no installation of the App covers "
                                                                  f"{repo.full_name}: GitHub delivers nothing")
        return sender.submit(**where, payload=payload)

    def find_comment(self, full_name: str, comment_id: int) -> FakeComment | None:
        for (repo_key, _), issue in self.issues.items():
            if repo_key == full_name.lower():
                for comment in issue.comments:
                    if comment.id == comment_id:
                        return comment
        return None

    def owner_kind(self, login: str) -> str:
        return "User" if login.lower() in self.users else "Organization"

    def account(self, login: str, kind: str = "User") -> dict[str, Any]:
        user = self.users.get(login.lower())
        return user.json(self.base_url) if user and kind == "User" else account_json(self.base_url, login, kind=kind)


@dataclass
class Principal:
    """Who a request acts as: a user (OAuth token) or an installation (installation token)."""

    user: FakeUser | None = None
    installation: FakeInstallation | None = None

    def author(self, app_slug: str) -> tuple[str, str]:
        return (self.user.login, "User") if self.user else (f"{app_slug}[bot]", "Bot")


@dataclass
class Call:
    request: Request
    payload: Any
    principal: Principal
    headers: dict[str, str] = field(default_factory=dict)   # extra answer headers

    def param(self, name: str) -> Any:
        return self.request.path_params[name]


class Answer(Exception):
    """Raised by a handler to answer at once (errors)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Answer:
    body = {"message": message, "documentation_url": _DOCS, "status": str(status), **extra}
    return Answer(JSONResponse(body, status_code=status, headers=headers))


def _validation(*errors: dict[str, Any]) -> Answer:
    return error(422, "Validation Failed", errors=list(errors))


def _local_git_dir(clone_url: str) -> str | None:
    path = clone_url.removeprefix("file://")
    return path if path.startswith("/") and Path(path).exists() else None


async def _git(git_dir: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec("git", "-C", git_dir, *args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.DEVNULL)
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode(errors="replace")


Handler = Callable[[Call], Awaitable[Response]]


class FakeGitHubApp:
    def __init__(self, state: GitHubState) -> None:
        self.state = state

    def asgi(self) -> Starlette:
        repo = "/repos/{owner}/{repo}"
        rest = self._rest
        return Starlette(routes=[
            Route("/user", rest(self.user)),
            Route("/user/emails", rest(self.user_emails)),
            Route("/user/orgs", rest(self.user_orgs)),
            Route("/user/installations", rest(self.user_installations)),
            Route("/user/installations/{id:int}/repositories", rest(self.installation_repositories)),
            Route("/rate_limit", rest(self.rate_limit, counts=False)),
            Route(repo, rest(self.get_repo)),
            Route(f"{repo}/issues", rest(self.create_issue), methods=["POST"]),
            Route(f"{repo}/issues/comments/{{comment_id:int}}/reactions", rest(self.add_reaction), methods=["POST"]),
            Route(f"{repo}/issues/{{number:int}}", rest(self.get_issue)),
            Route(f"{repo}/issues/{{number:int}}/comments", rest(self.comments), methods=["GET", "POST"]),
            Route(f"{repo}/issues/{{number:int}}/labels", rest(self.labels), methods=["GET", "POST", "PUT"]),
            Route(f"{repo}/pulls", rest(self.pulls), methods=["GET", "POST"]),
            Route(f"{repo}/contents/{{path:path}}", rest(self.contents)),
            Route("/app/installations/{id:int}/access_tokens", rest(self.access_token, auth="jwt"), methods=["POST"]),
            Route("/login/oauth/authorize", rest(self.authorize, auth=None)),
            Route("/login/oauth/access_token", rest(self.oauth_token, auth=None), methods=["POST"]),
        ])

    # --- the frame around every handler: record, script, authenticate, rate limit ---

    def _rest(self, handler: Handler, *, auth: str | None = "token", counts: bool = True) -> Callable:
        async def endpoint(request: Request) -> Response:
            payload = await self._read(request)
            scripted = self._scripted(request)
            if scripted is not None:
                return self._with_rate_headers(scripted, auth)
            call = Call(request, payload, Principal())
            try:
                if auth == "token":
                    call.principal = self._authenticate(request)
                    self._spend(call.principal, counts)
                response = await handler(call)
                response.headers.update(call.headers)
            except Answer as answer:
                response = answer.response
            if call.principal.user is not None:
                response.headers["x-oauth-scopes"] = ", ".join(call.principal.user.scopes)
            return self._with_rate_headers(response, auth)
        return endpoint

    async def _read(self, request: Request) -> Any:
        raw = await request.body()
        payload: Any = None
        if raw:
            try:  # GitHub reads JSON whatever the Content-Type (``curl -d '{...}'`` sends a form type)
                payload = await request.json()
            except ValueError:
                if "x-www-form-urlencoded" in request.headers.get("content-type", ""):
                    payload = dict(parse_qsl(raw.decode(errors="replace")))
                else:
                    payload = raw.decode(errors="replace")
        with self.state.lock:
            self.state.requests.append(ReceivedRequest(
                method=request.method, path=request.url.path, query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()}, json=payload))
        return payload

    def _scripted(self, request: Request) -> Response | None:
        with self.state.lock:
            for scripted in self.state.script:
                if scripted.path_substring in request.url.path and scripted.method in (None, request.method):
                    scripted.times -= 1
                    if scripted.times <= 0:
                        self.state.script.remove(scripted)
                    break
            else:
                return None
        body = scripted.body if scripted.body is not None else {"message": HTTPStatus(scripted.status).phrase}
        return JSONResponse(body, status_code=scripted.status, headers=scripted.headers)

    def _with_rate_headers(self, response: Response, auth: str | None) -> Response:
        if auth is not None:
            with self.state.lock:
                remaining, reset = self.state.remaining, self.state.reset
            for name, value in (("limit", 5000), ("remaining", remaining), ("reset", reset),
                                ("used", max(5000 - remaining, 0)), ("resource", "core")):
                response.headers.setdefault(f"x-ratelimit-{name}", str(value))
        return response

    def _authenticate(self, request: Request) -> Principal:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        bad = error(401, "Bad credentials")
        if scheme.lower() not in ("bearer", "token") or not token:
            raise error(401, "Requires authentication")
        with self.state.lock:
            if token in self.state.revoked:
                raise bad
            user = next((u for u in self.state.users.values() if u.token == token), None)
            if user is not None:
                return Principal(user=user)
            minted = next((m for m in self.state.minted if m.token == token), None)
            if minted is None or minted.expires_at <= datetime.now(UTC):
                raise bad
            return Principal(installation=self.state.installations[minted.installation_id])

    def _spend(self, principal: Principal, counts: bool) -> None:
        with self.state.lock:
            if not counts:
                return
            if self.state.remaining <= 0:
                who = f"user ID {principal.user.id}" if principal.user else "installation"
                raise error(403, f"API rate limit exceeded for {who}.")
            self.state.remaining -= 1

    # --- helpers of the handlers ---

    def _user(self, call: Call, scopes: tuple[tuple[str, ...], str] | None = None) -> FakeUser:
        user = call.principal.user
        if user is None:
            raise error(403, "Resource not accessible by integration")
        if scopes is not None:
            accepted, needed = scopes
            call.headers["x-accepted-oauth-scopes"] = ", ".join(accepted)
            effective = set(user.scopes).union(*(_IMPLIED.get(scope, set()) for scope in user.scopes))
            if not effective.intersection(accepted):
                raise error(403, f"Missing the '{needed}' scope.", headers=dict(call.headers))
        return user

    def _repo(self, call: Call) -> FakeRepo:
        key = f"{call.param('owner')}/{call.param('repo')}".lower()
        installation = call.principal.installation
        with self.state.lock:
            repo = self.state.repos.get(key)
        if repo is None or (installation is not None and not installation.covers(key)):
            raise error(404, "Not Found")
        return repo

    def _issue(self, call: Call) -> tuple[FakeRepo, Any]:
        repo = self._repo(call)
        with self.state.lock:
            issue = self.state.issues.get((repo.full_name.lower(), call.param("number")))
        if issue is None:
            raise error(404, "Not Found")
        return repo, issue

    def _json(self, body: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code=status)

    def _object(self, call: Call) -> dict[str, Any]:
        if not isinstance(call.payload, dict):
            raise error(400, "Problems parsing JSON")
        return call.payload

    # --- the signed-in user ---

    async def user(self, call: Call) -> Response:
        return self._json(self._user(call).json(self.state.base_url))

    async def user_emails(self, call: Call) -> Response:
        return self._json(self._user(call, _EMAIL_SCOPES).emails)

    async def user_orgs(self, call: Call) -> Response:
        user = self._user(call, _ORG_SCOPES)
        return self._json([{**account_json(self.state.base_url, org, kind="Organization"), "description": None}
                           for org in user.orgs])

    def _installations_of(self, user: FakeUser) -> list[FakeInstallation]:
        with self.state.lock:
            return [i for i in self.state.installations.values() if user.login.lower() in i.users]

    async def user_installations(self, call: Call) -> Response:
        found = self._installations_of(self._user(call))
        return self._json({"total_count": len(found), "installations": [i.json(self.state.base_url) for i in found]})

    async def installation_repositories(self, call: Call) -> Response:
        user = self._user(call)
        installation = next((i for i in self._installations_of(user) if i.id == call.param("id")), None)
        if installation is None:
            raise error(404, "Not Found")
        with self.state.lock:
            repos = [self.state.repos[name.lower()] for name in installation.repos]
            found = [r.json(self.state.base_url, self.state.owner_kind(r.owner)) for r in repos]
        return self._json({"total_count": len(found), "repository_selection": "selected", "repositories": found})

    async def rate_limit(self, call: Call) -> Response:
        with self.state.lock:
            core = {"limit": 5000, "remaining": self.state.remaining, "reset": self.state.reset,
                    "used": max(5000 - self.state.remaining, 0), "resource": "core"}
        return self._json({"resources": {"core": core}, "rate": core})

    # --- repositories and issues ---

    async def get_repo(self, call: Call) -> Response:
        repo = self._repo(call)
        return self._json(repo.json(self.state.base_url, self.state.owner_kind(repo.owner)))

    async def create_issue(self, call: Call) -> Response:
        repo, payload = self._repo(call), self._object(call)
        if not isinstance(payload.get("title"), str | int) or not str(payload["title"]).strip():
            raise _validation({"resource": "Issue", "field": "title", "code": "missing_field"})
        login, _ = call.principal.author(self.state.app_slug)
        with self.state.lock:
            number = repo.next_number
            repo.next_number += 1
        issue = FakeIssue(number=number, title=str(payload["title"]), body=payload.get("body"), user=login,
                          labels=[str(label) for label in payload.get("labels") or []])
        with self.state.lock:
            self.state.issues[(repo.full_name.lower(), number)] = issue
        return self._json(issue.json(self.state.base_url, repo), 201)

    async def get_issue(self, call: Call) -> Response:
        repo, issue = self._issue(call)
        return self._json(issue.json(self.state.base_url, repo))

    async def comments(self, call: Call) -> Response:
        repo, issue = self._issue(call)
        number = call.param("number")
        if call.request.method == "GET":
            return self._json([c.json(self.state.base_url, repo, number) for c in issue.comments])
        body = self._object(call).get("body")
        if not isinstance(body, str) or not body:
            raise _validation({"resource": "IssueComment", "field": "body", "code": "missing_field"})
        login, kind = call.principal.author(self.state.app_slug)
        with self.state.lock:
            comment = self.state.add_comment(repo.owner, repo.name, number, body, login, kind)
        self.state.deliver_comment(repo, number, comment)
        return self._json(comment.json(self.state.base_url, repo, number), 201)

    async def labels(self, call: Call) -> Response:
        _, issue = self._issue(call)
        if call.request.method != "GET":
            payload = call.payload.get("labels") if isinstance(call.payload, dict) else call.payload
            if not isinstance(payload, list) or not all(isinstance(name, str) for name in payload):
                raise _validation({"resource": "Label", "field": "labels", "code": "invalid"})
            with self.state.lock:
                names = payload if call.request.method == "PUT" else issue.labels + payload
                issue.labels = list(dict.fromkeys(names))
        return self._json([label_json(name) for name in issue.labels])

    async def add_reaction(self, call: Call) -> Response:
        repo = self._repo(call)
        content = self._object(call).get("content")
        if content not in REACTIONS:
            raise _validation({"resource": "Reaction", "field": "content", "code": "invalid"})
        login, kind = call.principal.author(self.state.app_slug)
        with self.state.lock:
            comment = self.state.find_comment(repo.full_name, call.param("comment_id"))
            if comment is None:
                raise error(404, "Not Found")
            reaction = next((r for r in comment.reactions if r.user == login and r.content == content), None)
            created = reaction is None
            if reaction is None:
                reaction = FakeReaction(id=self.state.new_id(), content=content, user=login)
                comment.reactions.append(reaction)
        return self._json({"id": reaction.id, "content": reaction.content,
                           "user": account_json(self.state.base_url, login, kind=kind)}, 201 if created else 200)

    # --- pull requests and contents ---

    async def pulls(self, call: Call) -> Response:
        repo = self._repo(call)
        key = repo.full_name.lower()
        if call.request.method == "GET":
            query = call.request.query_params
            state = query.get("state", "open")
            head_owner, _, head = query.get("head", "").rpartition(":")
            with self.state.lock:
                found = [p for p in self.state.pulls.get(key, [])
                         if state in ("all", p.state)
                         and (not head or (p.head == head and head_owner.lower() in ("", repo.owner.lower())))]
            return self._json([p.json(self.state.base_url, repo) for p in found])
        payload = self._object(call)
        missing = [name for name in ("title", "head", "base") if not payload.get(name)]
        if missing:
            raise _validation(*({"resource": "PullRequest", "field": name, "code": "missing_field"}
                                for name in missing))
        head, base = str(payload["head"]).split(":", 1)[-1], str(payload["base"])
        await self._check_branches(repo, head, base)
        login, _ = call.principal.author(self.state.app_slug)
        with self.state.lock:
            pulls = self.state.pulls.setdefault(key, [])
            if any(p.state == "open" and p.head == head and p.base == base for p in pulls):
                raise _validation({"resource": "PullRequest", "code": "custom",
                                   "message": f"A pull request already exists for {repo.owner}:{head}."})
            number = repo.next_number
            repo.next_number += 1
            pull = FakePull(number=number, title=str(payload["title"]), head=head, base=base,
                            body=str(payload.get("body") or ""), user=login,
                            url=f"{self.state.base_url}/{repo.full_name}/pull/{number}")
            pulls.append(pull)
        return self._json(pull.json(self.state.base_url, repo), 201)

    async def _check_branches(self, repo: FakeRepo, head: str, base: str) -> None:
        git_dir = _local_git_dir(repo.clone_url)
        if git_dir is None:
            return
        _, out = await _git(git_dir, "ls-remote", "--heads", git_dir)
        heads = {ref.removeprefix("refs/heads/"): sha for sha, _, ref in
                 (line.partition("\t") for line in out.splitlines())}
        for name, branch in (("base", base), ("head", head)):
            if branch not in heads:
                raise _validation({"resource": "PullRequest", "field": name, "code": "invalid"})
        if heads[head] == heads[base]:
            raise _validation({"resource": "PullRequest", "code": "custom",
                               "message": f"No commits between {base} and {head}"})

    async def contents(self, call: Call) -> Response:
        repo, path = self._repo(call), call.param("path").strip("/")
        with self.state.lock:
            text = repo.files.get(path, "") if path in repo.files else None
            from_files = path in repo.files
        if not from_files and (git_dir := _local_git_dir(repo.clone_url)):
            spec = f"{call.request.query_params.get('ref') or repo.default_branch}:{path}"
            kind_rc, kind = await _git(git_dir, "cat-file", "-t", spec)
            if kind_rc == 0 and kind.strip() == "blob":
                _, text = await _git(git_dir, "show", spec)
        if text is None:
            raise error(404, "Not Found")
        raw = text.encode()
        encoded = base64.b64encode(raw).decode()
        return self._json({
            "type": "file", "encoding": "base64", "name": path.rsplit("/", 1)[-1], "path": path,
            "sha": hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest(), "size": len(raw),
            "content": "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)) + "\n"})

    # --- GitHub App and OAuth ---

    async def access_token(self, call: Call) -> Response:
        scheme, _, token = call.request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise error(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(token.strip(), self.state.app_public_key_pem, algorithms=["RS256"],
                                issuer=self.state.app_id, options={"require": ["iat", "exp", "iss"]})
        except jwt.ExpiredSignatureError:
            raise error(401, "'Expiration time' claim ('exp') must be a numeric value representing the future "
                             "time at which the assertion expires") from None
        except jwt.InvalidIssuerError:
            raise error(401, "Integration not found") from None
        except jwt.PyJWTError:
            raise error(401, "A JSON web token could not be decoded") from None
        if int(claims["exp"]) > time.time() + 600 + 5:
            raise error(401, "'Expiration time' claim ('exp') is too far in the future")
        with self.state.lock:
            installation = self.state.installations.get(call.param("id"))
            if installation is None:
                raise error(404, "Not Found")
            expires_at = (datetime.now(UTC) + timedelta(seconds=self.state.installation_token_lifetime)).replace(
                microsecond=0)
            minted = MintedToken(new_token("ghs"), installation.id, expires_at)
            self.state.minted.append(minted)
        return self._json({"token": minted.token, "expires_at": iso(expires_at), "repository_selection": "selected",
                           "permissions": installation.json(self.state.base_url)["permissions"]}, 201)

    async def authorize(self, call: Call) -> Response:
        query = call.request.query_params
        if query.get("client_id") != self.state.client_id:
            return PlainTextResponse("Not Found (unknown client_id)", status_code=404)
        redirect_uri = query.get("redirect_uri")
        with self.state.lock:
            login = self.state.browser_user
            if not redirect_uri or login is None:
                return PlainTextResponse("the fake GitHub needs a redirect_uri and a signed-in user "
                                         "(add_user / sign_in_as)", status_code=400)
            code = self.state.new_code(login, redirect_uri)
        separator = "&" if "?" in redirect_uri else "?"
        query_string = urlencode({"code": code, "state": query.get("state", "")})
        return RedirectResponse(f"{redirect_uri}{separator}{query_string}", status_code=302)

    async def oauth_token(self, call: Call) -> Response:
        fields = {**call.request.query_params, **(call.payload if isinstance(call.payload, dict) else {})}
        with self.state.lock:
            if (fields.get("client_id"), fields.get("client_secret")) != (self.state.client_id,
                                                                          self.state.client_secret):
                answer = {"error": "incorrect_client_credentials",
                          "error_description": "The client_id and/or client_secret passed are incorrect."}
            elif (issued := self.state.codes.get(str(fields.get("code")))) is None:
                answer = {"error": "bad_verification_code",
                          "error_description": "The code passed is incorrect or expired."}
            elif fields.get("redirect_uri") and issued[1] and fields["redirect_uri"] != issued[1]:
                answer = {"error": "redirect_uri_mismatch",
                          "error_description": "The redirect_uri MUST match the registered callback URL."}
            else:
                del self.state.codes[str(fields["code"])]
                user = self.state.users[issued[0]]
                answer = {"access_token": user.token, "token_type": "bearer", "scope": ",".join(user.scopes)}
        if "json" in call.request.headers.get("accept", ""):
            return self._json(answer)
        return PlainTextResponse(urlencode(answer), media_type="application/x-www-form-urlencoded")
