"""The fake GitHub delivers webhooks as GitHub does: a receiver over real HTTP checks what arrives.

A user's comment made through the REST API (or the demo's ``/_demo/comment``) is POSTed to the webhook
URL as a signed ``issue_comment`` event; the App's own comments are not, unless asked, and then from its
Bot; repositories no installation covers get nothing. The demo command line seeds the world and prints
an environment a shell can ``source``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.github import FakeGitHub
from tests.fakes.github_demo import DemoGitHub, build_parser, env_script, seed
from tests.fakes.github_records import FakeUser
from tests.fakes.served import ServedInThread
from tests.support import make_git_repo

SECRET = "the-receivers-webhook-secret"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver(ServedInThread):
    """A webhook receiver: checks ``X-Hub-Signature-256`` with its secret (401 when wrong), keeps what
    arrived and answers 202 ``{"status": "accepted", "delivery": <id>}``."""

    label = "webhook receiver"

    def __init__(self, secret: str = SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.received: list[Received] = []
        self._lock = threading.Lock()

    def asgi(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            with self._lock:
                self.received.append(Received({k.lower(): v for k, v in request.headers.items()}, body))
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("x-hub-signature-256", ""), expected):
                return JSONResponse({"status": "invalid_signature"}, status_code=401)
            return JSONResponse({"status": "accepted", "delivery": request.headers.get("x-github-delivery")},
                                status_code=202)
        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{count} deliveries expected, {len(self.received)} arrived")


@pytest.fixture
def receiver():
    with Receiver() as served:
        yield served


def world(github: FakeGitHub, *, installed: bool = True) -> FakeUser:
    alice = github.add_user("alice", email="alice@example.com")
    github.add_repo("acme", "widgets")
    if installed:
        github.add_installation(7, "acme", repos=["acme/widgets"], users=["alice"])
    github.add_issue("acme", "widgets", 11, "Fix the typo", "It says teh.", user="alice")
    return alice


def installation_token(github: FakeGitHub, installation_id: int = 7) -> str:
    now = int(time.time())
    app_jwt = jwt.encode({"iat": now - 60, "exp": now + 540, "iss": github.app_id}, github.app_private_key_pem,
                         algorithm="RS256")
    minted = httpx.post(f"{github.url}/app/installations/{installation_id}/access_tokens", json={},
                        headers={"Authorization": f"Bearer {app_jwt}"})
    assert minted.status_code == 201, minted.text
    return minted.json()["token"]


def comment(github: FakeGitHub, token: str, body: str) -> httpx.Response:
    return httpx.post(f"{github.url}/repos/acme/widgets/issues/11/comments", json={"body": body},
                      headers={"Authorization": f"Bearer {token}"})


def signature_of(received: Received, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()


def test_a_users_comment_through_the_rest_api_is_delivered_signed_as_github_delivers_it(receiver):
    with FakeGitHub(webhook_url=f"{receiver.url}/hook", webhook_secret=SECRET) as github:
        alice = world(github)

        made = comment(github, alice.token, "@capstan mock fix the typo")

        assert made.status_code == 201, made.text
        [received] = receiver.wait_for(1)
        assert received.headers["x-github-event"] == "issue_comment"
        assert received.headers["x-hub-signature-256"] == signature_of(received)
        assert received.headers["content-type"] == "application/json"
        assert received.headers["user-agent"].startswith("GitHub-Hookshot/")
        assert uuid.UUID(received.headers["x-github-delivery"])
        payload = received.payload
        assert payload["action"] == "created"
        assert payload["comment"]["id"] == made.json()["id"]
        assert payload["comment"]["body"] == "@capstan mock fix the typo"
        assert (payload["comment"]["user"]["login"], payload["comment"]["user"]["type"]) == ("alice", "User")
        assert payload["sender"]["login"] == "alice" and payload["sender"]["id"] == alice.id
        assert payload["installation"] == {"id": 7}
        assert payload["repository"]["full_name"] == "acme/widgets"
        assert payload["issue"]["number"] == 11 and payload["issue"]["title"] == "Fix the typo"

        [delivery] = github.deliveries()
        assert delivery.done.wait(10)
        [delivery] = github.deliveries()
        assert delivery.id == received.headers["x-github-delivery"]
        assert delivery.status == 202
        assert delivery.response == {"status": "accepted", "delivery": delivery.id}


def test_a_wrong_secret_is_refused_by_the_receiver_and_recorded(receiver):
    with FakeGitHub(webhook_url=f"{receiver.url}/hook", webhook_secret="not-the-receivers") as github:
        world(github)
        _, delivery = github.post_comment("acme", "widgets", 11, "@capstan mock x", user="alice")

        assert delivery is not None and delivery.done.wait(10)
        [received] = receiver.received
        assert received.headers["x-hub-signature-256"] == signature_of(received, "not-the-receivers")
        [recorded] = github.deliveries()
        assert (recorded.status, recorded.response) == (401, {"status": "invalid_signature"})


def test_the_apps_own_comments_are_not_delivered_unless_asked_and_then_come_from_its_bot(receiver):
    with FakeGitHub(webhook_url=f"{receiver.url}/hook", webhook_secret=SECRET) as github:
        world(github)
        token = installation_token(github)

        assert comment(github, token, "Task queued\n\n<!-- capstan:{} -->").status_code == 201
        assert github.deliveries() == []

        github.configure_webhook(f"{receiver.url}/hook", SECRET, deliver_bot_comments=True)
        assert comment(github, token, "Task running").status_code == 201

        [received] = receiver.wait_for(1)
        assert received.headers["x-hub-signature-256"] == signature_of(received)
        payload = received.payload
        bot = "capstan-fake[bot]"
        assert (payload["sender"]["login"], payload["sender"]["type"]) == (bot, "Bot")
        assert (payload["comment"]["user"]["login"], payload["comment"]["user"]["type"]) == (bot, "Bot")
        assert payload["comment"]["body"] == "Task running"


def test_a_repository_no_installation_covers_gets_no_delivery(receiver):
    with FakeGitHub(webhook_url=f"{receiver.url}/hook", webhook_secret=SECRET) as github:
        world(github, installed=False)

        _, delivery = github.post_comment("acme", "widgets", 11, "@capstan mock x", user="alice")

        assert delivery is not None and delivery.skipped and "no installation" in delivery.skipped
        time.sleep(0.2)
        assert receiver.received == []


def test_comment_event_still_only_returns_the_payload(receiver):
    with FakeGitHub(webhook_url=f"{receiver.url}/hook", webhook_secret=SECRET) as github:
        world(github)
        payload = github.comment_event("acme", "widgets", 11, "@capstan mock x", user="alice")

        assert payload["installation"] == {"id": 7} and payload["sender"]["login"] == "alice"
        time.sleep(0.2)
        assert receiver.received == [] and github.deliveries() == []


async def test_the_demo_comment_endpoint_answers_with_the_receivers_answer_and_redelivers_the_same_id(
        receiver, tmp_path):
    remote = tmp_path / "widgets.git"
    make_git_repo(tmp_path / "work", {"README.md": "teh\n"})
    subprocess.run(["git", "clone", "-q", "--bare", str(tmp_path / "work"), str(remote)], check=True)
    args = build_parser().parse_args([
        "--user", "alice", "--repo", f"acme/widgets={remote}", "--issue", "acme/widgets#1:Fix the typo|It says teh.",
        "--installation-id", "7"])
    with DemoGitHub(webhook_url=f"{receiver.url}/hook", webhook_secret=SECRET) as github:
        seed(github, args)
        async with httpx.AsyncClient(base_url=github.url, timeout=30) as client:
            made = await client.post("/_demo/comment", json={"repo": "acme/widgets", "issue": 1, "user": "alice",
                                                             "body": "@capstan mock fix the typo"})
            assert made.status_code == 201, made.text
            delivery = made.json()["delivery"]
            assert delivery["status"] == 202 and delivery["response"]["status"] == "accepted"
            assert delivery["sender"] == "alice" and delivery["repo"] == "acme/widgets"

            again = await client.post(f"/_demo/deliveries/{delivery['id']}/redeliver")
            assert again.status_code == 200, again.text
            assert again.json()["redelivery"] is True and again.json()["status"] == 202

            state = (await client.get("/_demo/state", params={"repo": "acme/widgets"})).json()
            unknown = await client.post("/_demo/comment", json={"repo": "acme/widgets", "issue": 1, "user": "eve",
                                                                "body": "hi"})
            listed = (await client.get("/_demo/deliveries")).json()["deliveries"]
            one = (await client.get(f"/_demo/deliveries/{delivery['id']}")).json()

            token = {"Authorization": "Bearer " + github.add_user("alice", email="alice@example.com").token}
            assert (await client.post("/_demo/fail-next", json={"path": "/user", "status": 502})).status_code == 200
            failed = await client.get("/user", headers=token)
            assert (await client.post("/_demo/rate-limit", json={"remaining": 0})).json()["remaining"] == 0
            spent = await client.get("/user", headers=token)

        first, second = await asyncio.to_thread(receiver.wait_for, 2)
        assert first.headers["x-github-delivery"] == second.headers["x-github-delivery"] == delivery["id"]
        assert first.body == second.body
        assert second.headers["x-hub-signature-256"] == signature_of(second)
        assert first.payload["installation"] == {"id": 7}
        assert first.payload["repository"]["clone_url"] == str(remote)
        [repo] = state["repos"]
        assert repo["defaultBranch"] == "main"
        [issue] = repo["issues"]
        assert issue["title"] == "Fix the typo" and issue["comments"][0]["body"] == "@capstan mock fix the typo"
        assert unknown.status_code == 404
        assert [d["redelivery"] for d in listed] == [False, True]
        assert one["payload"] == first.payload
        assert one["headers"]["X-Hub-Signature-256"] == first.headers["x-hub-signature-256"]
        assert failed.status_code == 502
        assert spent.status_code == 403 and "rate limit" in spent.json()["message"]


def test_the_printed_environment_sources_in_a_shell_and_holds_the_apps_key(tmp_path):
    args = build_parser().parse_args(["--user", "alice", "--repo", "acme/widgets", "--webhook-secret", "s3cr3t"])
    github = DemoGitHub(webhook_url="http://127.0.0.1:9/api/webhooks/github", webhook_secret=args.webhook_secret)
    seed(github, args)
    env_file = tmp_path / "github.env"
    env_file.write_text(env_script(github))

    shown = subprocess.run(["bash", "-c", f"source {env_file} && env"], capture_output=True, text=True, check=True)

    env = dict(line.split("=", 1) for line in shown.stdout.splitlines() if line.startswith("CAPSTAN_"))
    assert env["CAPSTAN_GITHUB_API_URL"] == env["CAPSTAN_GITHUB_WEB_URL"] == github.url
    assert env["CAPSTAN_GITHUB_APP_ID"] == github.app_id
    assert env["CAPSTAN_GITHUB_CLIENT_ID"] == github.client_id
    assert env["CAPSTAN_GITHUB_CLIENT_SECRET"] == github.client_secret
    assert env["CAPSTAN_TASKS_WEBHOOK_SECRET"] == "s3cr3t"
    assert env["CAPSTAN_GITHUB_APP_PRIVATE_KEY"].replace("\\n", "\n") == github.app_private_key_pem
    [installation] = github.state_view()["installations"]
    assert installation == {"id": 1, "account": "acme", "repos": ["acme/widgets"], "users": ["alice"]}


def test_a_redelivery_of_an_unknown_id_is_none():
    github = FakeGitHub(webhook_url="http://127.0.0.1:9/hook", webhook_secret=SECRET)
    assert github.redeliver(str(uuid.uuid4())) is None
    assert FakeGitHub().deliveries() == []
