"""The operator checks of the tasks surface, open without a session: which required settings are set
(never their values) with the database's readiness, and GitHub's rate limit."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from models.tasks.settings import GitHubAppSettings, TasksSettings
from tests.e2e.tasks.support import WEBHOOK_SECRET, sign_in

REQUIRED = ["SESSION_SECRET", "WEBHOOK_SECRET", "CALLBACK_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET",
            "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "CAPSTAN_SECRETS_KEY"]
DATABASE_READY = {"connected": True, "migrated": True, "error": None}


def anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=str(client.base_url))


async def test_the_startup_check_names_what_is_unset_and_never_shows_a_value(live_api, settings, fake_github):
    answer = await live_api.get("/api/startup/check")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "ok": False, "missingEnv": ["SESSION_SECRET", "CALLBACK_SECRET"], "database": DATABASE_READY,
        "environment": {name: name not in ("SESSION_SECRET", "CALLBACK_SECRET") for name in REQUIRED}}

    settings.tasks.session_secret = SecretStr("session-secret-of-the-test")
    settings.tasks.callback_secret = SecretStr("callback-secret-of-the-test")
    ready = await live_api.get("/api/startup/check")

    assert ready.json() == {"ok": True, "missingEnv": [], "database": DATABASE_READY,
                            "environment": dict.fromkeys(REQUIRED, True)}
    secrets = ["session-secret-of-the-test", "callback-secret-of-the-test", WEBHOOK_SECRET,
               fake_github.client_secret, settings.secrets.key.get_secret_value(),
               *fake_github.app_private_key_pem.splitlines()[1:-1]]
    for secret in secrets:
        assert secret not in ready.text
    assert all(isinstance(value, bool) for value in ready.json()["environment"].values())


async def test_the_startup_check_of_an_unconfigured_deployment(live_api, settings):
    settings.tasks = TasksSettings(webhook_secret=None, callback_secret=None, session_secret=None)
    settings.github_app = GitHubAppSettings(app_id=None, app_private_key=None, client_id=None, client_secret=None)
    settings.secrets.key = None

    answer = await live_api.get("/api/startup/check")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": False, "missingEnv": REQUIRED, "environment": dict.fromkeys(REQUIRED, False),
                             "database": DATABASE_READY}


async def test_the_startup_check_counts_the_original_names_as_set(live_api, settings, monkeypatch):
    for name in ("SESSION_SECRET", "CALLBACK_SECRET", "WEBHOOK_SECRET", "GITHUB_CLIENT_ID"):
        monkeypatch.setenv(name, f"set-as-{name}")
    settings.tasks = TasksSettings()
    settings.github_app = GitHubAppSettings(**settings.github_app.model_dump(exclude={"client_id"}))

    body = (await live_api.get("/api/startup/check")).json()

    assert body["missingEnv"] == [] and body["ok"] is True
    assert "set-as-" not in json.dumps(body)


async def test_the_rate_limit_without_a_session_is_the_last_one_github_reported(live_api, fake_github):
    fake_github.add_user("alice")
    await sign_in(live_api, fake_github, "alice")
    reset = int(time.time()) + 1800
    fake_github.set_rate_limit(43, reset)
    assert (await live_api.get("/api/github/orgs")).status_code == 200  # GitHub answers: 42 left

    async with anonymous(live_api) as client:
        answer = await client.get("/api/rate-limit")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body == {"remaining": 42, "reset": reset,
                    "resetTime": datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "minutesUntilReset": body["minutesUntilReset"], "isLow": True}
    assert body["minutesUntilReset"] in (29, 30)


async def test_the_rate_limit_with_a_session_is_the_users_own(live_api, fake_github):
    alice = fake_github.add_user("alice")
    await sign_in(live_api, fake_github, "alice")
    reset = int(time.time()) + 600
    fake_github.set_rate_limit(4321, reset)

    answer = await live_api.get("/api/rate-limit")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["remaining"], body["reset"], body["isLow"]) == (4321, reset, False)
    assert body["minutesUntilReset"] in (9, 10)
    [asked] = fake_github.requests_to("/rate_limit")
    assert asked.headers["authorization"] == f"Bearer {alice.token}"


async def test_the_rate_limit_with_a_revoked_token_falls_back_to_the_last_one_seen(live_api, fake_github):
    alice = fake_github.add_user("alice")
    await sign_in(live_api, fake_github, "alice")
    reset = int(time.time()) + 600
    fake_github.set_rate_limit(7, reset)
    fake_github.revoke_token(alice.token)

    answer = await live_api.get("/api/rate-limit")

    assert answer.status_code == 200, answer.text
    assert (answer.json()["remaining"], answer.json()["reset"], answer.json()["isLow"]) == (7, reset, True)
