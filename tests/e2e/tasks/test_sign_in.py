"""Signing in with GitHub through the fake GitHub's OAuth pages: the authorize redirect and its state
cookie, every way the callback can fail, the session cookie (a signed id, nothing else), the App
installation checks, diagnostics and logout."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import text

from tests.e2e.tasks.support import sign_in
from tests.fakes.github import FakeGitHub
from tests.fakes.github_records import FakeUser

SCOPES = "read:user user:email read:org repo"
WEEK = str(7 * 24 * 3600)


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """The cookies a response sets: name → ``{"value": …, <lower-case attribute>: value or ""}``."""
    found: dict[str, dict[str, str]] = {}
    for header in response.headers.get_list("set-cookie"):
        pair, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        found[name] = {"value": value.strip('"')}
        for attribute in attributes:
            key, _, attribute_value = attribute.partition("=")
            found[name][key.lower()] = attribute_value
    return found


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def callback_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/api/auth/github/callback"


async def start(client: httpx.AsyncClient, **params: str) -> tuple[httpx.Response, str]:
    """``GET /api/auth/github``: the answer and the state it set."""
    started = await client.get("/api/auth/github", params=params)
    assert started.status_code == 302, started.text
    return started, set_cookies(started)["capstan_oauth_state"]["value"]


async def through_github(client: httpx.AsyncClient, github: FakeGitHub, login: str, *,
                         state_cookie: bool = True) -> httpx.Response:
    """The whole browser round trip (start, GitHub's authorize page, the callback); the callback's answer.
    ``state_cookie``: send the state cookie explicitly (a ``Secure`` one is not sent over http)."""
    github.sign_in_as(login)
    started, state = await start(client)
    async with httpx.AsyncClient() as browser:
        authorize = await browser.get(started.headers["location"])
    assert authorize.status_code == 302, authorize.text
    headers = {"Cookie": f"capstan_oauth_state={state}"} if state_cookie else {}
    return await client.get(authorize.headers["location"], headers=headers)


def installed_world(github: FakeGitHub, login: str = "alice") -> FakeUser:
    """alice can sign in; the App is installed on acme with two repositories."""
    user = github.add_user(login, name="Alice Liddell", email=f"{login}@example.com")
    github.add_repo("acme", "widgets", id=501, description="Widgets")
    github.add_repo("acme", "gadgets", id=502, private=True)
    github.add_installation(7, "acme", repos=["acme/widgets", "acme/gadgets"], users=[login])
    return user


def assert_state_cleared(response: httpx.Response) -> None:
    cleared = set_cookies(response)["capstan_oauth_state"]
    assert cleared["max-age"] == "0" and cleared["value"] == ""


# --- starting the sign-in ---


async def test_without_a_client_id_sign_in_stops_at_the_missing_client_error(live_api, settings, fake_github):
    settings.github_app = fake_github.github_app_settings(client_id=None)

    answer = await live_api.get("/api/auth/github")

    assert answer.status_code == 302
    assert answer.headers["location"] == "/auth?error=missing_client"
    assert "capstan_oauth_state" not in set_cookies(answer)


async def test_without_a_client_secret_the_callback_stops_at_the_missing_client_error(live_api, settings, fake_github):
    fake_github.add_user("alice")
    _, state = await start(live_api)
    settings.github_app = fake_github.github_app_settings(client_secret=None)

    answer = await live_api.get("/api/auth/github/callback", params={"code": "a-code", "state": state})

    assert answer.status_code == 302 and answer.headers["location"] == "/auth?error=missing_client"
    assert fake_github.requests_to("/login/oauth/access_token") == []


async def test_sign_in_sends_the_browser_to_githubs_authorize_page_with_a_short_lived_state_cookie(
        live_api, fake_github, live_port):
    answer, state = await start(live_api)

    location = answer.headers["location"]
    assert location.startswith(f"{fake_github.url}/login/oauth/authorize?")
    assert query_of(location) == {"client_id": fake_github.client_id, "redirect_uri": callback_url(live_port),
                                  "state": state, "scope": SCOPES}
    cookie = set_cookies(answer)["capstan_oauth_state"]
    assert re.fullmatch(r"[0-9a-f-]{36}", state)
    assert cookie["max-age"] == "600" and cookie["path"] == "/" and "httponly" in cookie
    assert cookie["samesite"].lower() == "lax" and "secure" not in cookie

    forced, forced_state = await start(live_api, force="1")
    assert query_of(forced.headers["location"]) == {
        "client_id": fake_github.client_id, "redirect_uri": callback_url(live_port), "state": forced_state,
        "scope": SCOPES, "prompt": "consent"}
    assert forced_state != state


# --- the callback's failures ---


async def test_the_callback_refuses_a_state_that_is_missing_or_not_the_cookies(live_api, fake_github, live_port):
    fake_github.add_user("alice")
    _, state = await start(live_api)
    code = fake_github.issue_code("alice", callback_url(live_port))

    for params in ({"code": code, "state": "another-state"}, {"code": code}, {"state": state}, {}):
        refused = await live_api.get("/api/auth/github/callback", params=params)
        assert refused.status_code == 302, params
        assert refused.headers["location"] == "/auth?error=oauth_state", params
        assert "capstan_session" not in set_cookies(refused)
        assert_state_cleared(refused)
    async with httpx.AsyncClient(base_url=str(live_api.base_url)) as no_cookie:
        refused = await no_cookie.get("/api/auth/github/callback", params={"code": code, "state": state})
    assert refused.headers["location"] == "/auth?error=oauth_state"

    assert fake_github.requests_to("/login/oauth/access_token") == []
    assert "capstan_session" not in live_api.cookies


async def test_the_callback_answers_an_oversized_code_or_state_with_the_state_error_page(live_api, fake_github,
                                                                                       live_port):
    """A forged callback with a code or state over 512 characters lands on the sign-in page like any other
    bad state (it was a bare 400 the browser showed as an error body)."""
    fake_github.add_user("alice")
    _, state = await start(live_api)
    code = fake_github.issue_code("alice", callback_url(live_port))

    for params in ({"code": "c" * 513, "state": state}, {"code": code, "state": state + "s" * 513},
                   {"code": "c" * 20_000, "state": "s" * 20_000}):
        refused = await live_api.get("/api/auth/github/callback", params=params)
        assert refused.status_code == 302, refused.text
        assert refused.headers["location"] == "/auth?error=oauth_state"
        assert "capstan_session" not in set_cookies(refused)
        assert_state_cleared(refused)

    assert fake_github.requests_to("/login/oauth/access_token") == []
    genuine = await live_api.get("/api/auth/github/callback", params={"code": code, "state": state},
                                 headers={"Cookie": f"capstan_oauth_state={state}"})  # each refusal cleared it
    assert genuine.status_code == 302 and "capstan_session" in set_cookies(genuine)


async def test_a_code_github_does_not_know_ends_at_the_token_error(live_api, fake_github):
    fake_github.add_user("alice")
    _, state = await start(live_api)

    answer = await live_api.get("/api/auth/github/callback", params={"code": "not-a-code", "state": state})

    assert answer.status_code == 302 and answer.headers["location"] == "/auth?error=token"
    assert "capstan_session" not in set_cookies(answer)
    assert_state_cleared(answer)
    [exchange] = fake_github.requests_to("/login/oauth/access_token", "POST")
    assert exchange.json["code"] == "not-a-code" and exchange.headers["accept"] == "application/json"


async def test_a_failing_token_exchange_ends_at_the_exchange_error(live_api, fake_github):
    fake_github.add_user("alice")
    fake_github.fail_next("/login/oauth/access_token", 500)

    answer = await through_github(live_api, fake_github, "alice")

    assert answer.status_code == 302 and answer.headers["location"] == "/auth?error=oauth_token_exchange"
    assert "capstan_session" not in set_cookies(answer)


async def test_a_failing_user_lookup_ends_at_the_user_error(live_api, fake_github):
    fake_github.add_user("alice")
    fake_github.fail_next("/user", 502, method="GET")

    answer = await through_github(live_api, fake_github, "alice")

    assert answer.status_code == 302 and answer.headers["location"] == "/auth?error=oauth_user"
    assert "capstan_session" not in set_cookies(answer)
    assert (await live_api.get("/api/github/profile")).status_code == 401


# --- a successful sign-in ---


async def test_signing_in_with_the_app_installed_sets_the_session_and_selects_the_installations_repositories(
        live_api, fake_github):
    installed_world(fake_github)

    answer = await through_github(live_api, fake_github, "alice")

    assert answer.status_code == 302 and answer.headers["location"] == "/"
    cookie = set_cookies(answer)["capstan_session"]
    assert cookie["max-age"] == WEEK and cookie["path"] == "/" and "httponly" in cookie
    assert cookie["samesite"].lower() == "lax" and "secure" not in cookie
    assert_state_cleared(answer)
    config = (await live_api.get("/api/config")).json()
    assert config["onboarding"] == {
        "completed": True, "enabledAgents": ["opencode", "claude-code"], "selectedRepos": [
            {"id": 501, "fullName": "acme/widgets", "owner": "acme", "name": "widgets", "private": False},
            {"id": 502, "fullName": "acme/gadgets", "owner": "acme", "name": "gadgets", "private": True}]}
    profile = (await live_api.get("/api/github/profile")).json()
    assert profile["user"]["login"] == "alice" and profile["email"] == "alice@example.com"

    again = await live_api.get("/api/auth/github")
    assert again.status_code == 302 and again.headers["location"] == "/"
    assert "capstan_oauth_state" not in set_cookies(again)


async def test_signing_in_again_keeps_the_repositories_the_user_selected(live_api, fake_github):
    installed_world(fake_github)
    await sign_in(live_api, fake_github, "alice")
    await live_api.post("/api/auth/logout")
    fake_github.add_repo("acme", "sprockets", id=503)
    fake_github.add_installation(7, "acme", repos=["acme/widgets", "acme/gadgets", "acme/sprockets"],
                                 users=["alice"])

    await sign_in(live_api, fake_github, "alice")

    selected = (await live_api.get("/api/config")).json()["onboarding"]["selectedRepos"]
    assert [repo["fullName"] for repo in selected] == ["acme/widgets", "acme/gadgets"]


async def test_a_configured_redirect_uri_is_the_one_github_sends_the_browser_back_to(
        live_api, settings, fake_github, live_port):
    installed_world(fake_github)
    configured = f"http://127.0.0.1:{live_port}/api/auth/github/callback?from=proxy"
    settings.github_app = fake_github.github_app_settings(oauth_redirect_uri=configured)

    answer = await through_github(live_api, fake_github, "alice")

    assert answer.headers["location"] == "/"
    [exchange] = fake_github.requests_to("/login/oauth/access_token")
    assert exchange.json["redirect_uri"] == configured
    [authorize] = fake_github.requests_to("/login/oauth/authorize")
    assert authorize.query["redirect_uri"] == configured


async def test_two_users_each_see_their_own_session(live_api, fake_github):
    installed_world(fake_github)
    fake_github.add_user("bob", email="bob@example.com")
    fake_github.add_repo("bob", "tools", id=601)
    fake_github.add_installation(8, "bob", repos=["bob/tools"])
    await sign_in(live_api, fake_github, "alice")
    async with httpx.AsyncClient(base_url=str(live_api.base_url)) as bob:
        await sign_in(bob, fake_github, "bob")

        alice_repos = (await live_api.get("/api/github/repositories")).json()["repositories"]
        bob_repos = (await bob.get("/api/github/repositories")).json()["repositories"]
        assert [repo["fullName"] for repo in alice_repos] == ["acme/widgets", "acme/gadgets"]
        assert [repo["fullName"] for repo in bob_repos] == ["bob/tools"]
        assert (await bob.get("/api/github/profile")).json()["user"]["login"] == "bob"

        await live_api.post("/api/auth/logout")
        assert (await live_api.get("/api/github/profile")).status_code == 401
        assert (await bob.get("/api/github/profile")).json()["user"]["login"] == "bob"


async def test_the_session_cookie_is_only_a_signed_id_never_the_github_token(live_api, fake_github):
    alice = installed_world(fake_github)

    await sign_in(live_api, fake_github, "alice")

    value = live_api.cookies["capstan_session"]
    session_id, signature = value.rsplit(".", 1)
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", session_id) and re.fullmatch(r"[0-9a-f]{64}", signature)
    decoded = base64.urlsafe_b64decode(session_id + "=" * (-len(session_id) % 4))
    for secret in (alice.token, "alice", str(alice.id)):
        assert secret not in value and secret.encode() not in decoded


async def test_signing_in_without_the_app_installed_goes_to_the_install_page_then_back_once_installed(
        live_api, settings, fake_github):
    fake_github.add_user("alice", email="alice@example.com")
    fake_github.add_repo("acme", "widgets", id=501)

    answer = await through_github(live_api, fake_github, "alice")

    assert answer.status_code == 302
    assert answer.headers["location"] == f"{fake_github.url}/apps/capstan-fake/installations/new"
    assert "capstan_session" in set_cookies(answer)
    assert (await live_api.get("/api/config")).json()["onboarding"]["completed"] is False
    still = await live_api.get("/api/auth/github")
    assert still.headers["location"] == f"{fake_github.url}/apps/capstan-fake/installations/new"

    fake_github.add_installation(7, "acme", repos=["acme/widgets"], users=["alice"])
    installed = await live_api.get("/api/auth/github/installed")

    assert installed.status_code == 302 and installed.headers["location"] == "/settings?installed=1"
    onboarding = (await live_api.get("/api/config")).json()["onboarding"]
    assert onboarding["completed"] is True
    assert [repo["fullName"] for repo in onboarding["selectedRepos"]] == ["acme/widgets"]
    home = await live_api.get("/api/auth/github")
    assert home.status_code == 302 and home.headers["location"] == "/"


async def test_a_signed_in_user_who_installs_the_app_is_sent_home_by_the_sign_in_start(live_api, fake_github):
    fake_github.add_user("alice")
    await through_github(live_api, fake_github, "alice")
    fake_github.add_installation(7, "alice", repos=["alice/notes"])

    home = await live_api.get("/api/auth/github")

    assert home.status_code == 302 and home.headers["location"] == "/"
    checks = len(fake_github.requests_to("/user/installations"))
    assert (await live_api.get("/api/auth/github")).headers["location"] == "/"
    assert len(fake_github.requests_to("/user/installations")) == checks
    forced = await live_api.get("/api/auth/github", params={"force": "1"})
    assert query_of(forced.headers["location"])["prompt"] == "consent"


async def test_an_installation_github_cannot_confirm_is_a_check_failure_unless_it_was_installed(
        live_api, fake_github):
    fake_github.add_user("alice")
    await through_github(live_api, fake_github, "alice")

    fake_github.fail_next("/user/installations", 502, times=2)
    assert (await live_api.get("/api/auth/github")).headers["location"] == "/auth?error=install_check_failed"
    fake_github.fail_next("/user/installations", 502, times=4)
    assert (await live_api.get("/api/auth/github/installed")).headers["location"] == \
        "/auth?error=install_check_failed"

    fake_github.add_installation(7, "alice", repos=["alice/notes"])
    assert (await live_api.get("/api/auth/github/installed")).headers["location"] == "/settings?installed=1"
    fake_github.fail_next("/user/installations", 502, times=4)
    assert (await live_api.get("/api/auth/github/installed")).headers["location"] == "/settings?installed=1"


async def test_without_an_install_url_a_user_without_the_app_is_told_it_is_required(
        live_api, settings, fake_github):
    fake_github.add_user("alice")
    settings.github_app = fake_github.github_app_settings(app_slug=None)

    answer = await through_github(live_api, fake_github, "alice")
    assert answer.headers["location"] == "/auth?error=install_required"

    settings.github_app = fake_github.github_app_settings(app_install_url="https://example.test/install-capstan")
    assert (await live_api.get("/api/auth/github")).headers["location"] == "https://example.test/install-capstan"
    installed = await live_api.get("/api/auth/github/installed")
    assert installed.headers["location"] == "https://example.test/install-capstan"


async def test_an_installation_check_github_cannot_answer_ends_at_install_check_failed(live_api, fake_github):
    installed_world(fake_github)
    fake_github.fail_next("/user/installations", 502, times=2)

    answer = await through_github(live_api, fake_github, "alice")

    assert answer.headers["location"] == "/auth?error=install_check_failed"
    assert "capstan_session" in set_cookies(answer)
    assert (await live_api.get("/api/config")).json()["onboarding"]["completed"] is False
    assert (await live_api.get("/api/auth/github")).headers["location"] == "/"


async def test_in_production_the_cookies_are_secure(live_api, settings, fake_github):
    installed_world(fake_github)
    settings.tasks.environment = "production"

    started, _ = await start(live_api)
    answer = await through_github(live_api, fake_github, "alice")

    assert "secure" in set_cookies(started)["capstan_oauth_state"]
    assert answer.headers["location"] == "/"
    cookie = set_cookies(answer)["capstan_session"]
    assert "secure" in cookie and "httponly" in cookie and cookie["max-age"] == WEEK


# --- the session afterwards ---


def _with_cookie(client: httpx.AsyncClient, value: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=str(client.base_url), headers={"Cookie": f"capstan_session={value}"})


async def test_a_forged_or_tampered_session_cookie_is_refused(live_api, fake_github):
    alice_token = installed_world(fake_github).token
    await sign_in(live_api, fake_github, "alice")
    genuine = live_api.cookies["capstan_session"]
    session_id, signature = genuine.rsplit(".", 1)
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    orig_style = base64.urlsafe_b64encode(json.dumps({
        "user": {"id": 1, "login": "alice"}, "token": alice_token, "hasInstallation": True}).encode()).decode()

    for forged in (f"{session_id}.{flipped}", f"{session_id}x.{signature}", session_id, f"{orig_style}.{signature}",
                   "a.b", ""):
        async with _with_cookie(live_api, forged) as client:
            refused = await client.get("/api/github/profile")
        assert refused.status_code == 401, forged
        assert refused.json()["error"] == "unauthorized"

    async with _with_cookie(live_api, genuine) as client:
        assert (await client.get("/api/github/profile")).status_code == 200


async def test_logout_ends_the_session_even_for_a_copied_cookie(live_api, fake_github):
    installed_world(fake_github)
    await sign_in(live_api, fake_github, "alice")
    copied = live_api.cookies["capstan_session"]

    answer = await live_api.post("/api/auth/logout")

    assert answer.status_code == 302 and answer.headers["location"] == "/auth"
    cleared = set_cookies(answer)["capstan_session"]
    assert cleared["max-age"] == "0" and cleared["path"] == "/"
    assert "capstan_session" not in live_api.cookies
    async with _with_cookie(live_api, copied) as replay:
        for path in ("/api/github/profile", "/api/config", "/api/auth/diagnostics"):
            refused = await replay.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["error"] == "unauthorized"
        restart = await replay.get("/api/auth/github")
    assert restart.headers["location"].startswith(f"{fake_github.url}/login/oauth/authorize?")

    again = await live_api.post("/api/auth/logout")
    assert again.status_code == 302 and again.headers["location"] == "/auth"


async def test_a_session_past_its_week_is_refused(live_api, fake_github, db_engine):
    installed_world(fake_github)
    await sign_in(live_api, fake_github, "alice")
    async with db_engine.begin() as connection:
        [(expires_at,)] = (await connection.execute(text("SELECT expires_at FROM task_sessions"))).all()
        await connection.execute(text("UPDATE task_sessions SET expires_at = now() - interval '1 second'"))

    refused = await live_api.get("/api/github/profile")

    remaining = expires_at - datetime.now(UTC)
    assert timedelta(days=7) - timedelta(minutes=5) < remaining <= timedelta(days=7)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"


async def test_a_revoked_token_at_sign_in_start_asks_github_again(live_api, fake_github):
    alice = fake_github.add_user("alice")
    await sign_in(live_api, fake_github, "alice")
    fake_github.revoke_token(alice.token)

    answer = await live_api.get("/api/auth/github")

    assert answer.headers["location"].startswith(f"{fake_github.url}/login/oauth/authorize?")
    assert set_cookies(answer)["capstan_session"]["max-age"] == "0"
    assert (await live_api.get("/api/config")).status_code == 401


# --- installation check and diagnostics ---


async def test_a_revoked_token_at_the_installed_page_ends_the_session(live_api, fake_github):
    alice = fake_github.add_user("alice")
    await sign_in(live_api, fake_github, "alice")
    fake_github.revoke_token(alice.token)

    answer = await live_api.get("/api/auth/github/installed")

    assert answer.status_code == 302 and answer.headers["location"] == "/auth"
    assert "capstan_session" not in live_api.cookies
    assert (await live_api.get("/api/config")).status_code == 401


async def test_the_installed_page_without_a_session_goes_to_sign_in(live_api):
    answer = await live_api.get("/api/auth/github/installed")

    assert answer.status_code == 302 and answer.headers["location"] == "/auth"


def _diagnostics(**overrides: Any) -> dict[str, Any]:
    return {"ok": False, "installationStatus": "installed", "installationCount": 1,
            "webhookDeliveryStatus": "configured", "action": "ok", "reason": None, **overrides}


async def test_diagnostics_tell_whether_comments_can_reach_capstan(live_api, settings, fake_github):
    fake_github.add_user("alice")
    await sign_in(live_api, fake_github, "alice")

    not_installed = (await live_api.get("/api/auth/diagnostics")).json()
    assert not_installed == _diagnostics(installationStatus="not_installed", installationCount=0,
                                         webhookDeliveryStatus="needs_install", action="install_app",
                                         reason=not_installed["reason"])
    assert "install" in not_installed["reason"]

    fake_github.add_installation(7, "acme", repos=["acme/widgets"], users=["alice"])
    assert (await live_api.get("/api/auth/diagnostics")).json() == _diagnostics(ok=True)

    settings.tasks.webhook_secret = None
    no_secret = (await live_api.get("/api/auth/diagnostics")).json()
    assert no_secret == _diagnostics(webhookDeliveryStatus="indeterminate", action="check_runtime",
                                     reason=no_secret["reason"])
    assert "CAPSTAN_TASKS_WEBHOOK_SECRET" in no_secret["reason"]

    fake_github.fail_next("/user/installations", 503, times=2)
    unknown = (await live_api.get("/api/auth/diagnostics")).json()
    assert unknown == _diagnostics(installationStatus="indeterminate", installationCount=0,
                                   webhookDeliveryStatus="indeterminate", action="check_runtime",
                                   reason=unknown["reason"])
    assert unknown["reason"]

