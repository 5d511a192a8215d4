"""A user's keys and Fly token, once given to the config routes, never come back: not in any answer of
those routes (bodies or headers), not in a log line, and not in clear in the database."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text

from capstan.secrets import PREFIX
from capstan.settings import Settings
from tests.e2e.tasks.fly_support import ANTHROPIC_KEY, FLY_TOKEN, point_at_fakes
from tests.e2e.tasks.support import github_world

OPENAI_KEY = "sk-proj-openai-key-of-alice-9876543210"
GEMINI_KEY = "AIzaSy-gemini-key-of-alice-1357924680"
PROXY_KEY = "proxy-token-of-alice-2468013579"
REPLACED_FLY_TOKEN = "fo1_second-fly-token-of-alice-abcdef"
SECRETS = [ANTHROPIC_KEY, OPENAI_KEY, GEMINI_KEY, PROXY_KEY, FLY_TOKEN, REPLACED_FLY_TOKEN]


@pytest.fixture
def fakes_settings(tasks_settings: Settings, fake_fly, fake_anthropic) -> Settings:
    return point_at_fakes(tasks_settings, fake_fly, fake_anthropic)


def leaked(answer: httpx.Response) -> list[str]:
    """The secrets found anywhere in an answer: status line aside, its headers and its body."""
    seen = answer.text + "\n" + "\n".join(f"{name}: {value}" for name, value in answer.headers.multi_items())
    return [secret for secret in SECRETS if secret in seen]


async def test_secrets_given_to_the_config_routes_never_come_back_and_are_stored_sealed(
        caplog, fakes_settings, live_api, fake_github, fake_fly, fake_anthropic, tmp_path, db_engine):
    caplog.set_level(logging.DEBUG)
    await github_world(live_api, fake_github, tmp_path)
    fake_anthropic.add_key(ANTHROPIC_KEY)
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")
    fake_fly.add_token(REPLACED_FLY_TOKEN, org_slug="personal")
    answers: list[httpx.Response] = []

    async def call(method: str, path: str, **kwargs) -> httpx.Response:
        answer = await live_api.request(method, path, **kwargs)
        answers.append(answer)
        return answer

    # every way in: the whole config, the credentials, the provider keys, the Fly route (validated)
    assert (await call("PUT", "/api/config", json={
        "flyToken": FLY_TOKEN, "credentials": {"anthropic": ANTHROPIC_KEY},
        "providerCredentials": {"my-proxy": {"PROXY_TOKEN": PROXY_KEY}}})).status_code == 200
    assert (await call("PUT", "/api/config/credentials", json={"openai": OPENAI_KEY})).status_code == 200
    assert (await call("PUT", "/api/config/provider-credentials",
                       json={"google": {"GEMINI_API_KEY": GEMINI_KEY}})).status_code == 200
    fly = await call("PUT", "/api/config/fly", json={"flyToken": REPLACED_FLY_TOKEN, "validate": True})
    assert fly.json()["validation"]["status"] == "ready", fly.text
    # refused writes (bad names, wrong types, a failed Fly check) name the field, never the value
    assert (await call("PUT", "/api/config/provider-credentials",
                       json={"google": {"gemini key": GEMINI_KEY}})).status_code == 400
    assert (await call("PUT", "/api/config", json={"flyToken": FLY_TOKEN, "executionMode": 1})).status_code == 400
    assert (await call("PUT", "/api/config/credentials", content=f'{{"anthropic": "{ANTHROPIC_KEY}"'.encode(),
                       headers={"Content-Type": "application/json"})).status_code == 400
    fake_fly.fail_next("/tokens/current", 500, {"error": f"token {FLY_TOKEN} broke something"})
    assert (await call("PUT", "/api/config/fly", json={"flyToken": FLY_TOKEN, "validate": True})
            ).json()["validation"]["status"] == "error"
    # every way out
    for method, path in [("GET", "/api/config"), ("GET", "/api/config/provider-credentials"),
                         ("POST", "/api/config/validate/anthropic"), ("GET", "/api/config/validate/anthropic"),
                         ("POST", "/api/config/validate/fly"), ("GET", "/api/config/validate/fly?mode=deploy")]:
        assert (await call(method, path)).status_code == 200, path
    fake_anthropic.fail_next(500, {"error": {"message": f"bad key {ANTHROPIC_KEY}"}})
    assert (await call("POST", "/api/config/validate/anthropic")).status_code == 502

    for answer in answers:
        assert leaked(answer) == [], (answer.request.method, answer.request.url, answer.text)
    config = (await call("GET", "/api/config")).json()
    assert leaked(answers[-1]) == []
    assert config["secretStatus"]["legacy"] == {"anthropic": "configured", "openai": "configured",
                                                "amp": "not_configured"}
    assert config["secretStatus"]["flyToken"] == "configured"
    # the fakes did get them, in their headers
    assert fake_anthropic.requests[0].headers["x-api-key"] == ANTHROPIC_KEY
    assert f"Bearer {REPLACED_FLY_TOKEN}" in {r.headers["authorization"] for r in fake_fly.requests}

    assert caplog.records, "the test captured no log at all: the capture is not working"
    found = [secret for secret in SECRETS if secret in caplog.text]
    assert found == [], caplog.text

    async with db_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT name, sealed_value FROM task_user_secrets ORDER BY name"))).all()
        configs = (await conn.execute(text("SELECT config::text FROM task_user_configs"))).scalars().all()
    assert [name for name, _ in rows] == ["anthropic.ANTHROPIC_API_KEY", "flyToken", "google.GEMINI_API_KEY",
                                          "my-proxy.PROXY_TOKEN", "openai.OPENAI_API_KEY"]
    for name, sealed in rows:
        assert sealed.startswith(PREFIX), name
        assert not [secret for secret in SECRETS if secret in sealed], name
    assert not [secret for secret in SECRETS if any(secret in stored for stored in configs)]


#: Every answer with a body of the config, sign-in, GitHub data and ops routes (the sign-in redirects have none).
TYPED_ROUTES = [("GET", "/api/config"), ("PUT", "/api/config"), ("PUT", "/api/config/credentials"),
                ("GET", "/api/config/provider-credentials"), ("PUT", "/api/config/provider-credentials"),
                ("PUT", "/api/config/fly"), ("GET", "/api/config/providers"),
                ("POST", "/api/config/validate/anthropic"), ("GET", "/api/config/validate/anthropic"),
                ("POST", "/api/config/validate/fly"), ("GET", "/api/config/validate/fly"),
                ("GET", "/api/auth/diagnostics"), ("GET", "/api/github/summary"), ("GET", "/api/github/repositories"),
                ("GET", "/api/github/installations"), ("GET", "/api/github/orgs"), ("GET", "/api/github/profile"),
                ("GET", "/api/github/issues/acme/widgets/11"), ("GET", "/api/startup/check"),
                ("GET", "/api/rate-limit")]
EMPTY_BODIES = {"/api/config": {}, "/api/config/credentials": {}, "/api/config/provider-credentials": {},
                "/api/config/fly": {}}


async def test_no_typed_answer_carries_a_stored_secret_or_the_users_github_token(
        fakes_settings, live_api, fake_github, fake_fly, fake_anthropic, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    github_token = fake_github.requests_to("/user")[0].headers["authorization"].removeprefix("Bearer ")
    assert github_token.startswith("gho_alice_")
    fake_anthropic.add_key(ANTHROPIC_KEY)
    fake_fly.add_token(FLY_TOKEN, org_slug="personal")
    stored = await live_api.put("/api/config", json={
        "flyToken": FLY_TOKEN, "flyAppName": "widgets-runs", "credentials": {"anthropic": ANTHROPIC_KEY},
        "providerCredentials": {"my-proxy": {"PROXY_TOKEN": PROXY_KEY}}})
    assert stored.status_code == 200, stored.text
    assert stored.json()["secretStatus"]["flyToken"] == "configured"
    spec = (await live_api.get("/openapi.json")).json()

    for method, path in TYPED_ROUTES:
        answer = await live_api.request(method, path, json=EMPTY_BODIES.get(path) if method == "PUT" else None)
        assert answer.status_code == 200, (method, path, answer.text)
        seen = answer.text + "\n" + "\n".join(f"{name}: {value}" for name, value in answer.headers.multi_items())
        assert [secret for secret in [*SECRETS, github_token] if secret in seen] == [], (method, path)
        template = path.replace("acme/widgets/11", "{owner}/{repo}/{number}")
        declared = spec["paths"][template][method.lower()]["responses"]["200"]["content"]["application/json"]
        assert "$ref" in declared["schema"], (method, path)  # a typed answer: its model is documented
    for field in ("flyToken", "credentials", "providerCredentials"):
        assert stored.json()[field] in ("", {}), field
