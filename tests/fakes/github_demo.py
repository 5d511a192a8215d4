"""The fake GitHub from a shell, for demos of the coding-tasks surface on one machine.

::

    .venv/bin/python -m tests.fakes.github --port 8900 \\
        --user alice \\
        --repo acme/widgets=/tmp/demo/widgets.git \\
        --issue 'acme/widgets#1:Fix the typo|The README says teh.' \\
        --webhook-url http://127.0.0.1:8000/api/webhooks/github --webhook-secret demo-webhook-secret \\
        --env-file /tmp/demo/github.env

It serves the fake GitHub of tests/fakes/github.py (REST API, OAuth pages, App installation tokens) on
the port, seeds it from the flags, makes the App's key pair (or reads ``--app-key``), prints the
environment that points Capstan at it (also written to ``--env-file``, ready for ``source``), and runs
until Ctrl-C. Flags:

- ``--user LOGIN`` (repeatable): an account that can sign in; its OAuth token is printed. The
  authorize page signs in the first one (``POST /_demo/sign-in-as`` changes that).
- ``--repo OWNER/NAME[=CLONE_URL]`` (repeatable): a repository; a local path or ``file://`` URL of a real
  (bare) git repository makes pull requests check its branches. The default branch is read from it.
- ``--issue 'OWNER/NAME#N:TITLE[|BODY]'`` (repeatable): an open issue, written by the first user.
- The App is installed on every owner of those repositories (ids from ``--installation-id``, default 1),
  and every user sees the installations.
- ``--webhook-url URL`` and ``--webhook-secret SECRET`` (default: a random one, printed): comments made
  through ``POST /repos/{o}/{r}/issues/{n}/comments`` with a user's token, or through ``POST
  /_demo/comment``, are delivered to the URL as signed ``issue_comment`` events, as GitHub delivers them
  to an App (tests/fakes/github_webhooks.py). The App's own comments (installation token) are not
  delivered, unless ``--deliver-bot-comments``: then they are, from the App's Bot (which Capstan ignores).

Demo endpoints, besides GitHub's own (JSON in and out):

- ``GET /_demo``: this list, the users and their tokens, the webhook.
- ``GET /_demo/env``: the environment for Capstan.
- ``POST /_demo/comment {"repo": "acme/widgets", "issue": 1, "user": "alice", "body": "@capstan mock fix
  the typo"}``: the user comments; answers 201 ``{comment, delivery}`` once the webhook answered
  (``delivery.status`` and ``delivery.response`` are the receiver's).
- ``POST /_demo/issue {"repo", "title", "body"?, "user"?, "number"?, "labels"?}``: a new open issue.
- ``POST /_demo/sign-in-as {"user": "bob"}``: who the authorize page signs in.
- ``GET /_demo/state[?repo=owner/name]``: what happened: issues with their labels, comments and
  reactions, pull requests, installations.
- ``GET /_demo/deliveries``: every webhook delivery and the receiver's answer; ``GET
  /_demo/deliveries/{id}`` one of them with the headers and payload sent; ``POST
  /_demo/deliveries/{id}/redeliver`` sends it again with the same ``X-GitHub-Delivery``.
- ``POST /_demo/fail-next {"path": "/user/orgs", "status": 502, "body"?, "headers"?, "method"?,
  "times"?}``: the next matching GitHub requests answer that (``FakeGitHub.fail_next``).
- ``POST /_demo/rate-limit {"remaining": 0, "reset"?}``: the rate-limit budget (at 0, GitHub's REST
  calls answer 403 ``API rate limit exceeded``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.github import FakeGitHub
from tests.fakes.github_records import make_app_key
from tests.fakes.github_webhooks import DELIVERY_TIMEOUT, Delivery

DEFAULT_PORT = 8900
DEMO_PREFIX = "/_demo"
_ISSUE = re.compile(r"^(?P<owner>[^/\s]+)/(?P<name>[^#\s]+)#(?P<number>\d+):(?P<title>[^|]+)(\|(?P<body>.*))?$",
                    re.DOTALL)

ENDPOINTS = {
    "GET /_demo": "this index",
    "GET /_demo/env": "the environment for Capstan",
    "POST /_demo/comment": '{"repo": "acme/widgets", "issue": 1, "user": "alice", "body": "@capstan mock fix it"}: '
                           "the user comments, the webhook is delivered; answers {comment, delivery}",
    "POST /_demo/issue": '{"repo", "title", "body"?, "user"?, "number"?, "labels"?}: a new open issue',
    "POST /_demo/sign-in-as": '{"user": "bob"}: who the authorize page signs in',
    "GET /_demo/state": "issues (labels, comments, reactions), pull requests, installations; ?repo=owner/name",
    "GET /_demo/deliveries": "every webhook delivery and the receiver's answer",
    "GET /_demo/deliveries/{id}": "one delivery with the headers and the payload that were sent",
    "POST /_demo/deliveries/{id}/redeliver": "send a delivery again, same X-GitHub-Delivery",
    "POST /_demo/fail-next": '{"path": "/user/orgs", "status": 502, "body"?, "headers"?, "method"?, "times"?}: '
                             "the next matching GitHub request answers that",
    "POST /_demo/rate-limit": '{"remaining": 0, "reset"?: <epoch s>}: the shared rate-limit budget',
}


class DemoError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DemoGitHub(FakeGitHub):
    """The fake GitHub plus the ``/_demo`` endpoints."""

    label = "fake github demo"

    def asgi(self) -> ASGIApp:
        github = super().asgi()
        demo = Starlette(routes=[
            Route(DEMO_PREFIX, self._endpoint(self._index)),
            Route(f"{DEMO_PREFIX}/env", self._endpoint(self._env)),
            Route(f"{DEMO_PREFIX}/comment", self._endpoint(self._comment), methods=["POST"]),
            Route(f"{DEMO_PREFIX}/issue", self._endpoint(self._issue), methods=["POST"]),
            Route(f"{DEMO_PREFIX}/sign-in-as", self._endpoint(self._sign_in_as), methods=["POST"]),
            Route(f"{DEMO_PREFIX}/state", self._endpoint(self._state_view)),
            Route(f"{DEMO_PREFIX}/deliveries", self._endpoint(self._deliveries)),
            Route(f"{DEMO_PREFIX}/deliveries/{{id}}", self._endpoint(self._one_delivery)),
            Route(f"{DEMO_PREFIX}/deliveries/{{id}}/redeliver", self._endpoint(self._redeliver), methods=["POST"]),
            Route(f"{DEMO_PREFIX}/fail-next", self._endpoint(self._fail_next), methods=["POST"]),
            Route(f"{DEMO_PREFIX}/rate-limit", self._endpoint(self._rate_limit), methods=["POST"]),
        ])

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"].startswith(DEMO_PREFIX):
                await demo(scope, receive, send)
            else:
                await github(scope, receive, send)
        return app

    # --- the frame: JSON in, JSON out, DemoError → its status ---

    def _endpoint(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                payload: Any = None
                if request.method == "POST":
                    raw = await request.body()
                    try:
                        payload = json.loads(raw) if raw.strip() else {}
                    except ValueError:
                        raise DemoError(400, "the body must be JSON") from None
                    if not isinstance(payload, dict):
                        raise DemoError(400, "the body must be a JSON object")
                status, answer = await handler(request, payload)
            except DemoError as error:
                status, answer = error.status, {"message": error.message}
            return JSONResponse(answer, status_code=status)
        return endpoint

    # --- the endpoints ---

    async def _index(self, request: Request, payload: Any) -> tuple[int, Any]:
        with self._lock:
            users = [{"login": u.login, "id": u.id, "token": u.token} for u in self._state.users.values()]
            signed_in = self._state.browser_user
        webhook = self.webhook
        return 200, {"url": self.url, "endpoints": ENDPOINTS, "users": users, "authorizeSignsIn": signed_in,
                     "webhook": {"url": webhook.url, "signed": bool(webhook.secret),
                                 "deliverBotComments": webhook.deliver_bot_comments} if webhook else None}

    async def _env(self, request: Request, payload: Any) -> tuple[int, Any]:
        return 200, self.env()

    async def _comment(self, request: Request, payload: dict[str, Any]) -> tuple[int, Any]:
        owner, name = self._repo_name(payload.get("repo"))
        number, body = payload.get("issue"), payload.get("body")
        if not isinstance(number, int) or isinstance(number, bool):
            raise DemoError(400, "issue must be the issue number")
        if not isinstance(body, str) or not body.strip():
            raise DemoError(400, "body must be the comment text")
        login = self._login(payload.get("user") or self._first_user())
        try:
            comment, delivery = self.post_comment(owner, name, number, body, user=login)
        except KeyError:
            raise DemoError(404, f"no such issue: {owner}/{name}#{number}") from None
        if delivery is not None and payload.get("wait", True):
            await asyncio.to_thread(delivery.done.wait, DELIVERY_TIMEOUT + 5)
            delivery = self._delivery(delivery.id, delivery)
        with self._lock:
            repo = self._state.repo(owner, name)
            comment_json = comment.json(self.url, repo, number)
        return 201, {"comment": comment_json, "delivery": delivery.json() if delivery else None}

    async def _issue(self, request: Request, payload: dict[str, Any]) -> tuple[int, Any]:
        owner, name = self._repo_name(payload.get("repo"))
        title = payload.get("title")
        if not isinstance(title, str) or not title.strip():
            raise DemoError(400, "title must be the issue title")
        number = payload.get("number")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 1):
            raise DemoError(400, "number must be a positive integer")
        labels = payload.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise DemoError(400, "labels must be a list of names")
        body = payload.get("body")
        issue = self.add_issue(owner, name, number, title, body if isinstance(body, str) else "", labels,
                               user=str(payload.get("user") or self._first_user()))
        with self._lock:
            repo = self._state.repo(owner, name)
            return 201, issue.json(self.url, repo)

    async def _sign_in_as(self, request: Request, payload: dict[str, Any]) -> tuple[int, Any]:
        login = self._login(payload.get("user"))
        self.sign_in_as(login)
        return 200, {"authorizeSignsIn": login}

    async def _state_view(self, request: Request, payload: Any) -> tuple[int, Any]:
        only = request.query_params.get("repo")
        return 200, self.state_view(only.lower() if only else None)

    async def _deliveries(self, request: Request, payload: Any) -> tuple[int, Any]:
        return 200, {"deliveries": [delivery.json() for delivery in self.deliveries()]}

    async def _one_delivery(self, request: Request, payload: Any) -> tuple[int, Any]:
        found = [d for d in self.deliveries() if d.id == request.path_params["id"]]
        if not found:
            raise DemoError(404, "no such delivery")
        delivery = found[0]
        return 200, {**delivery.json(), "headers": delivery.headers, "payload": delivery.payload}

    async def _redeliver(self, request: Request, payload: Any) -> tuple[int, Any]:
        delivery = self.redeliver(request.path_params["id"])
        if delivery is None:
            raise DemoError(404, "no such delivery (or it was skipped)")
        await asyncio.to_thread(delivery.done.wait, DELIVERY_TIMEOUT + 5)
        return 200, self._delivery(delivery.id, delivery, redelivery=True).json()

    async def _fail_next(self, request: Request, payload: dict[str, Any]) -> tuple[int, Any]:
        path, status = payload.get("path"), payload.get("status")
        if not isinstance(path, str) or not path:
            raise DemoError(400, "path must be a part of the request path to match")
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise DemoError(400, "status must be an HTTP status")
        headers = payload.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise DemoError(400, "headers must be an object of strings")
        times = payload.get("times", 1)
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise DemoError(400, "times must be a positive integer")
        method = payload.get("method")
        self.fail_next(path, status, payload.get("body"), headers, method=method if isinstance(method, str) else None,
                       times=times)
        return 200, {"path": path, "status": status, "times": times}

    async def _rate_limit(self, request: Request, payload: dict[str, Any]) -> tuple[int, Any]:
        remaining, reset = payload.get("remaining"), payload.get("reset")
        if not isinstance(remaining, int) or isinstance(remaining, bool) or remaining < 0:
            raise DemoError(400, "remaining must be a number of calls")
        if reset is not None and (not isinstance(reset, int) or isinstance(reset, bool)):
            raise DemoError(400, "reset must be epoch seconds")
        self.set_rate_limit(remaining, reset)
        with self._lock:
            return 200, {"remaining": self._state.remaining, "reset": self._state.reset}

    # --- helpers ---

    def _login(self, user: Any) -> str:
        with self._lock:
            found = self._state.users.get(user.lower()) if isinstance(user, str) else None
        if found is None:
            raise DemoError(404, f"no such user: {user!r} (add it with --user)")
        return found.login

    def _repo_name(self, value: Any) -> tuple[str, str]:
        if not isinstance(value, str) or value.count("/") != 1:
            raise DemoError(400, "repo must be owner/name")
        with self._lock:
            repo = self._state.repos.get(value.lower())
        if repo is None:
            raise DemoError(404, f"no such repository: {value}")
        return repo.owner, repo.name

    def _first_user(self) -> str:
        with self._lock:
            return next((user.login for user in self._state.users.values()), "alice")

    def _delivery(self, delivery_id: str, fallback: Delivery, redelivery: bool = False) -> Delivery:
        """The recorded state of a delivery now (the last one with that id)."""
        found = [d for d in self.deliveries() if d.id == delivery_id and d.redelivery == redelivery]
        return found[-1] if found else fallback

    def summary_lines(self) -> list[str]:
        """Who and what the fake holds, for the terminal."""
        with self._lock:
            state = self._state
            lines = [f"  user {u.login}: id {u.id}, token {u.token}" for u in state.users.values()]
            lines += [f"  repo {r.full_name}: {r.clone_url} (default branch {r.default_branch})"
                      for r in state.repos.values()]
            lines += [f"  App {state.app_slug} (id {state.app_id}) installation {i.id} on {i.account}: "
                      f"{', '.join(i.repos)}" for i in state.installations.values()]
        if self.webhook is not None:
            kind = "user and App comments" if self.webhook.deliver_bot_comments else "user comments"
            lines.append(f"  webhook: {kind} → {self.webhook.url}")
        return lines

    def state_view(self, only_repo: str | None = None) -> dict[str, Any]:
        """What happened on the fake, for people: repositories with their issues and pull requests."""
        with self._lock:
            state = self._state
            repos = []
            for key, repo in state.repos.items():
                if only_repo and key != only_repo:
                    continue
                issues = [issue for (repo_key, _), issue in sorted(state.issues.items()) if repo_key == key]
                repos.append({
                    "fullName": repo.full_name, "cloneUrl": repo.clone_url, "defaultBranch": repo.default_branch,
                    "issues": [{
                        "number": issue.number, "title": issue.title, "state": issue.state, "author": issue.user,
                        "labels": list(issue.labels),
                        "comments": [{"id": c.id, "user": c.user, "userType": c.user_type, "body": c.body,
                                      "reactions": [r.content for r in c.reactions], "createdAt": c.created_at}
                                     for c in issue.comments]} for issue in issues],
                    "pulls": [{"number": p.number, "title": p.title, "head": p.head, "base": p.base,
                               "state": p.state, "user": p.user, "url": p.url, "body": p.body}
                              for p in state.pulls.get(key, [])],
                })
            installations = [{"id": i.id, "account": i.account, "repos": list(i.repos), "users": list(i.users)}
                             for i in state.installations.values()]
        return {"repos": repos, "installations": installations}


# --- the command line ---


def _default_branch(clone_url: str) -> str:
    path = clone_url.removeprefix("file://")
    if not path.startswith("/") or not Path(path).exists():
        return "main"
    result = subprocess.run(["git", "-C", path, "symbolic-ref", "--short", "HEAD"], capture_output=True, text=True,
                            check=False)
    return result.stdout.strip() or "main"


def _app_key(path: Path | None) -> tuple[str, str]:
    """The App's key pair: read from ``path``, or made (and written to ``path`` when given, mode 0600)."""
    if path is not None and path.exists():
        private = path.read_text()
        key = serialization.load_pem_private_key(private.encode(), password=None)
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        return private, public
    private, public = make_app_key()
    if path is not None:
        path.touch(mode=0o600)
        path.write_text(private)
    return private, public


def capstan_env(github: FakeGitHub) -> dict[str, str]:
    """The environment for Capstan; the private key on one line with literal ``\\n`` (Capstan reads both)."""
    env = github.env()
    if "CAPSTAN_GITHUB_APP_PRIVATE_KEY" in env:
        env["CAPSTAN_GITHUB_APP_PRIVATE_KEY"] = env["CAPSTAN_GITHUB_APP_PRIVATE_KEY"].replace("\n", "\\n")
    if github.webhook is not None and github.webhook.secret:
        env["CAPSTAN_TASKS_WEBHOOK_SECRET"] = github.webhook.secret
    return env


def env_script(github: FakeGitHub) -> str:
    lines = [f"export {name}={shlex.quote(value)}" for name, value in capstan_env(github).items()]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.github",
        description="Serve the fake GitHub for a demo of Capstan's coding tasks: seed it, print the environment "
                    "for Capstan, deliver signed issue_comment webhooks. See tests/fakes/github_demo.py.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    parser.add_argument("--user", action="append", default=[], metavar="LOGIN",
                        help="an account that can sign in (repeatable; the first one signs in)")
    parser.add_argument("--repo", action="append", default=[], metavar="OWNER/NAME[=CLONE_URL]",
                        help="a repository; CLONE_URL a local (bare) git repository (repeatable)")
    parser.add_argument("--issue", action="append", default=[], metavar="OWNER/NAME#N:TITLE[|BODY]",
                        help="an open issue, by the first user (repeatable)")
    parser.add_argument("--installation-id", type=int, default=1,
                        help="id of the first App installation (one per repository owner; default 1)")
    parser.add_argument("--webhook-url", help="where comments are delivered (Capstan's /api/webhooks/github)")
    parser.add_argument("--webhook-secret", help="signs deliveries (X-Hub-Signature-256); default: a random one")
    parser.add_argument("--deliver-bot-comments", action="store_true",
                        help="also deliver the App's own comments (from its Bot, as GitHub does)")
    parser.add_argument("--app-key", type=Path, metavar="PEM",
                        help="the App's private key file: read if it exists, else made and written there")
    parser.add_argument("--env-file", type=Path, help="also write the environment there (for `source`)")
    return parser


def seed(github: FakeGitHub, args: argparse.Namespace) -> None:
    for login in args.user:
        github.add_user(login, email=f"{login}@example.com")
    if args.user:
        github.sign_in_as(args.user[0])
    for spec in args.repo:
        full_name, _, clone_url = spec.partition("=")
        owner, slash, name = full_name.partition("/")
        if not slash or not owner or not name:
            raise SystemExit(f"--repo {spec!r}: expected OWNER/NAME[=CLONE_URL]")
        clone_url = clone_url.strip() or None
        if clone_url and not re.match(r"^[a-z]+://", clone_url):
            clone_url = str(Path(clone_url).expanduser().resolve())
        github.add_repo(owner, name, clone_url=clone_url,
                        default_branch=_default_branch(clone_url) if clone_url else "main")
    author = args.user[0] if args.user else "alice"
    for spec in args.issue:
        match = _ISSUE.match(spec)
        if match is None:
            raise SystemExit(f"--issue {spec!r}: expected OWNER/NAME#N:TITLE[|BODY]")
        github.add_issue(match["owner"], match["name"], int(match["number"]), match["title"].strip(),
                         (match["body"] or "").strip(), user=author)
    owners: dict[str, list[str]] = {}
    for repo in github.repos():
        owners.setdefault(repo.owner, []).append(repo.full_name)
    for offset, (owner, repos) in enumerate(owners.items()):
        github.add_installation(args.installation_id + offset, owner, repos=repos, users=args.user)


def _print_delivery(delivery: Delivery) -> None:
    where = f"{delivery.repo}#{delivery.issue} comment {delivery.comment_id} by {delivery.sender}"
    if delivery.skipped:
        outcome = f"not delivered: {delivery.skipped}"
    elif delivery.error:
        outcome = f"failed: {delivery.error}"
    else:
        outcome = f"HTTP {delivery.status} {json.dumps(delivery.response, separators=(',', ':'))}"
    again = " (redelivery)" if delivery.redelivery else ""
    print(f"webhook {delivery.event}{again} {delivery.id} {where} → {outcome}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    private, public = _app_key(args.app_key)
    github = DemoGitHub(app_public_key_pem=public, host=args.host, port=args.port)
    github.app_private_key_pem = private
    if args.webhook_url:
        github.configure_webhook(args.webhook_url, args.webhook_secret or secrets.token_hex(20),
                                 deliver_bot_comments=args.deliver_bot_comments, on_delivered=_print_delivery)
    seed(github, args)
    try:
        github.start()
    except RuntimeError as error:
        print(f"fake github: {error} (is port {args.port} taken? --port)", file=sys.stderr)
        return 2
    script = env_script(github)
    if args.env_file:
        args.env_file.touch(mode=0o600)
        args.env_file.write_text(script)
    print(f"Fake GitHub on {github.url} (demo endpoints: {github.url}{DEMO_PREFIX})")
    print("\n".join(github.summary_lines()))
    print("Environment for Capstan" + (f" (also in {args.env_file}):" if args.env_file else ":"))
    print(script, end="", flush=True)

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        pass
    github.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
