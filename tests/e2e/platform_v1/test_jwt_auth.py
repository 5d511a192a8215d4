"""Bearer JWTs on /api/v1: HS256, RS256/ES256 with a PEM key or a JWKS URL, the time claims with their
leeway, iss/aud, the forgeries a gate must refuse, and AUTH_MODE=disabled.

Each test asks ``GET /api/v1/workspaces`` (``platform_admin``, no workspace) unless it says otherwise:
200 means the token was accepted, 401 that it was not, 403 that it was but its roles do not allow it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from api.platform_v1.access import ROUTE_ACCESS
from capstan.settings import Settings
from models.platform_v1.settings import PlatformSettings
from tests.e2e.platform_v1.support import JWT_SECRET, MUTATING, V1, token
from tests.fakes.jwks import FakeJwks, SigningKey, new_signing_key, signed

ROUTE = "/api/v1/workspaces"


def with_platform(settings: Settings, **platform: Any) -> Settings:
    return Settings(**{**vars(settings), "platform": PlatformSettings(**platform)})


def pem(key: SigningKey) -> str:
    return key.public_key.public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def bearer(jwt_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt_token}"}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A JWT put together by hand, as an attacker would: ``sign(signing_input) -> bytes`` or no signature."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = b64url(sign(signing_input.encode())) if sign else ""
    return f"{signing_input}.{signature}"


def admin_claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "alice", "roles": ["platform_admin"], "iat": now, "exp": now + 600, **extra}


def assert_refused(response, why: str = "") -> None:
    assert response.status_code == 401, f"{why}: {response.status_code} {response.text}"
    assert response.json()["error"] == "unauthorized"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer "), challenge
    assert 'realm="capstan"' in challenge


@pytest.fixture
def issuer() -> Iterator[FakeJwks]:
    with FakeJwks() as fake:
        yield fake


# --- HS256 -------------------------------------------------------------------------------------------

async def test_an_hs256_token_is_accepted_and_its_roles_decide(api):
    assert (await api.get(ROUTE, headers=bearer(token("platform_admin")))).status_code == 200
    viewer = await api.get(ROUTE, headers=bearer(token("viewer")))
    assert viewer.status_code == 403, viewer.text
    assert viewer.json()["error"] == "forbidden_role"


async def test_a_token_signed_with_another_secret_is_refused(api):
    other = token("platform_admin", secret="not-the-secret-of-capstan-0123456789")
    response = await api.get(ROUTE, headers=bearer(other))
    assert_refused(response, "wrong HS256 secret")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer  ", "Basic dXNlcjpwYXNz", "Token abc"])
async def test_no_bearer_token_is_401_with_a_challenge(api, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_refused(await api.get(ROUTE, headers=headers), repr(authorization))


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "e30.e30.", "....", "ey" * 300])
async def test_a_bearer_that_is_not_a_jwt_is_401(api, garbage):
    assert_refused(await api.get(ROUTE, headers=bearer(garbage)), garbage[:20])


async def test_a_refused_token_is_checked_before_the_body_is_read_and_never_echoed(api, workspaces):
    a, _ = workspaces
    wrong = token("ops_engineer", workspaces=[a], secret="another-secret-another-secret-123")
    response = await api.post("/api/v1/clients", content=b"{not json", headers={
        **bearer(wrong), "x-workspace-id": a, "Idempotency-Key": "k-1", "content-type": "application/json"})
    assert_refused(response, "a bad token with a bad body")
    assert wrong not in response.text and wrong not in response.headers["www-authenticate"]


# --- the time claims ------------------------------------------------------------------------------------

async def test_exp_allows_the_leeway_and_no_more(api_factory, settings):
    now = int(time.time())
    async with api_factory(with_platform(settings, jwt_secret=JWT_SECRET, jwt_leeway_seconds=30)) as api:
        recently_expired = token("platform_admin", exp=now - 10)
        assert (await api.get(ROUTE, headers=bearer(recently_expired))).status_code == 200
        long_expired = await api.get(ROUTE, headers=bearer(token("platform_admin", iat=now - 700, exp=now - 60)))
        assert_refused(long_expired, "expired 60 s ago with a leeway of 30 s")
        assert "expired" in long_expired.json()["detail"]
        assert 'error="invalid_token"' in long_expired.headers["www-authenticate"]


async def test_nbf_and_iat_in_the_future_are_refused_beyond_the_leeway(api_factory, settings):
    now = int(time.time())
    async with api_factory(with_platform(settings, jwt_secret=JWT_SECRET, jwt_leeway_seconds=30)) as api:
        assert (await api.get(ROUTE, headers=bearer(token("platform_admin", nbf=now + 10)))).status_code == 200
        not_yet = await api.get(ROUTE, headers=bearer(token("platform_admin", nbf=now + 120)))
        assert_refused(not_yet, "nbf two minutes ahead")
        assert "not valid yet" in not_yet.json()["detail"]
        from_the_future = await api.get(ROUTE, headers=bearer(token("platform_admin", iat=now + 120)))
        assert_refused(from_the_future, "iat two minutes ahead")


@pytest.mark.parametrize("claim, value", [
    ("exp", "99999999999"), ("exp", "{future}"), ("exp", None), ("exp", {"at": "{future}"}), ("exp", ["{future}"]),
    ("nbf", "0"), ("nbf", False), ("nbf", None), ("iat", "{now}"), ("iat", True), ("iat", {"at": 0}),
], ids=lambda value: repr(value)[:20])
async def test_a_time_claim_that_is_not_a_json_number_is_refused(api, claim, value):
    """RFC 7519: exp, nbf and iat are NumericDates, JSON numbers. PyJWT compares int(value), so the string
    "99999999999" was a token that never expires, and true an iat of 1970."""
    now = int(time.time())

    def filled(item: Any) -> Any:
        if isinstance(item, str):
            return item.format(now=now, future=now + 600)
        if isinstance(item, dict):
            return {key: filled(inner) for key, inner in item.items()}
        return [filled(inner) for inner in item] if isinstance(item, list) else item

    claims = {**admin_claims(), claim: filled(value)}
    response = await api.get(ROUTE, headers=bearer(jwt.encode(claims, JWT_SECRET, algorithm="HS256")))
    assert_refused(response, f"{claim}={claims[claim]!r}")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_time_claims_with_a_fraction_are_numbers(api):
    now = time.time()
    claims = admin_claims(iat=now - 1.5, nbf=now - 0.25, exp=now + 600.75)
    assert (await api.get(ROUTE, headers=bearer(jwt.encode(claims, JWT_SECRET, algorithm="HS256")))).status_code == 200


async def test_a_token_without_exp_is_refused(api):
    claims = {"sub": "alice", "roles": ["platform_admin"], "iat": int(time.time())}
    response = await api.get(ROUTE, headers=bearer(jwt.encode(claims, JWT_SECRET, algorithm="HS256")))
    assert_refused(response, "no exp")
    assert "exp" in response.json()["detail"]


# --- the subject and the roles -------------------------------------------------------------------------------

@pytest.mark.parametrize("sub", [None, "", "   ", 42, "x" * 257])
async def test_a_token_without_a_usable_sub_is_refused(api, sub):
    claims = admin_claims()
    if sub is None:
        del claims["sub"]
    else:
        claims["sub"] = sub
    response = await api.get(ROUTE, headers=bearer(jwt.encode(claims, JWT_SECRET, algorithm="HS256")))
    assert_refused(response, f"sub {sub!r}")


async def test_unknown_roles_are_ignored(api):
    assert (await api.get(ROUTE, headers=bearer(token("superuser", "platform_admin", "root")))).status_code == 200
    only_unknown = await api.get(ROUTE, headers=bearer(token("superuser", "admin")))
    assert only_unknown.status_code == 403, only_unknown.text
    as_a_string = jwt.encode(admin_claims(roles="platform_admin"), JWT_SECRET, algorithm="HS256")
    assert (await api.get(ROUTE, headers=bearer(as_a_string))).status_code == 403


async def test_the_workspaces_claim_decides_where_a_principal_acts(api, workspaces):
    a, b = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    assert (await ops.get("/clients")).status_code == 200
    elsewhere = await api.get("/api/v1/clients", headers={**bearer(token("ops_engineer", workspaces=[a])),
                                                           "x-workspace-id": b})
    assert elsewhere.status_code == 404, elsewhere.text
    not_a_list = jwt.encode(admin_claims(roles=["ops_engineer"], workspaces=a), JWT_SECRET, algorithm="HS256")
    refused = await api.get("/api/v1/clients", headers={**bearer(not_a_list), "x-workspace-id": a})
    assert refused.status_code == 404, refused.text
    # msp_admin acts in any workspace, whatever its claim says
    msp = await api.get("/api/v1/clients", headers={**bearer(token("msp_admin")), "x-workspace-id": b})
    assert msp.status_code == 200, msp.text


# --- iss and aud ---------------------------------------------------------------------------------------------

async def test_iss_and_aud_are_checked_when_configured(api_factory, settings):
    configured = with_platform(settings, jwt_secret=JWT_SECRET, jwt_issuer="https://id.example.test/",
                               jwt_audience="capstan-api")
    async with api_factory(configured) as api:
        good = token("platform_admin", iss="https://id.example.test/", aud="capstan-api")
        assert (await api.get(ROUTE, headers=bearer(good))).status_code == 200
        among = token("platform_admin", iss="https://id.example.test/", aud=["other", "capstan-api"])
        assert (await api.get(ROUTE, headers=bearer(among))).status_code == 200
        for claims, why in [({"aud": "capstan-api"}, "no iss"),
                            ({"iss": "https://evil.example.test/", "aud": "capstan-api"}, "another iss"),
                            ({"iss": "https://id.example.test/"}, "no aud"),
                            ({"iss": "https://id.example.test/", "aud": "another-api"}, "another aud")]:
            assert_refused(await api.get(ROUTE, headers=bearer(token("platform_admin", **claims))), why)


async def test_iss_and_aud_are_not_checked_when_not_configured(api):
    anything = token("platform_admin", iss="https://whoever.example.test/", aud="whatever")
    assert (await api.get(ROUTE, headers=bearer(anything))).status_code == 200


# --- PEM public keys -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_a_pem_public_key_verifies_its_algorithm(api_factory, settings, algorithm):
    key = new_signing_key(algorithm)
    other = new_signing_key(algorithm)
    escaped = pem(key).replace("\n", "\\n")  # as an environment variable holds it on one line
    async with api_factory(with_platform(settings, jwt_public_key=escaped)) as api:
        assert (await api.get(ROUTE, headers=bearer(signed(key, **admin_claims())))).status_code == 200
        assert_refused(await api.get(ROUTE, headers=bearer(signed(other, **admin_claims()))), "another key")
        # without a secret, HS256 is not accepted at all
        assert_refused(await api.get(ROUTE, headers=bearer(token("platform_admin"))), "HS256 without a secret")


async def test_a_token_of_the_other_public_key_algorithm_is_refused(api_factory, settings):
    rsa_key, ec_key = new_signing_key("RS256"), new_signing_key("ES256")
    async with api_factory(with_platform(settings, jwt_public_key=pem(rsa_key))) as api:
        assert_refused(await api.get(ROUTE, headers=bearer(signed(ec_key, **admin_claims()))), "ES256 for an RSA key")
    async with api_factory(with_platform(settings, jwt_public_key=pem(ec_key))) as api:
        assert_refused(await api.get(ROUTE, headers=bearer(signed(rsa_key, **admin_claims()))), "RS256 for an EC key")


@pytest.mark.parametrize("also_a_secret", [False, True])
async def test_alg_confusion_hs256_signed_with_the_public_key_is_refused(api_factory, settings, also_a_secret):
    """The classic attack: the RSA public key (which is public) used as the HMAC secret of an HS256 token."""
    key = new_signing_key("RS256")
    public = pem(key)
    platform = {"jwt_public_key": public, **({"jwt_secret": JWT_SECRET} if also_a_secret else {})}
    async with api_factory(with_platform(settings, **platform)) as api:
        for secret in (public.encode(), public.strip().encode()):
            attack = forged({"alg": "HS256", "typ": "JWT"}, admin_claims(),
                            lambda data, s=secret: hmac.new(s, data, hashlib.sha256).digest())
            assert_refused(await api.get(ROUTE, headers=bearer(attack)), "HS256 signed with the public key")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
async def test_unsigned_tokens_are_refused(api, alg):
    assert_refused(await api.get(ROUTE, headers=bearer(forged({"alg": alg, "typ": "JWT"}, admin_claims()))), alg)


@pytest.mark.parametrize("alg", ["HS512", "RS512", "PS256", "EdDSA", "☃", 'x" error="forged', "A" * 2000, 7, None,
                                 ["HS256"]])
async def test_an_unaccepted_or_hostile_alg_header_is_a_401(api, alg):
    """Whatever the token's header holds, the answer is a 401 with a well-formed challenge, never a 500."""
    attack = forged({"alg": alg, "typ": "JWT"}, admin_claims(),
                    lambda data: hmac.new(JWT_SECRET.encode(), data, hashlib.sha256).digest())
    response = await api.get(ROUTE, headers=bearer(attack))
    assert_refused(response, repr(alg)[:40])
    challenge = response.headers["www-authenticate"]
    assert challenge.count('"') == 6, challenge  # realm, error, error_description: nothing forged added
    assert len(challenge) < 300


# --- JWKS ----------------------------------------------------------------------------------------------------

async def test_jwks_keys_verify_tokens_by_kid_and_are_cached(api_factory, settings, issuer):
    rsa_key, ec_key = issuer.add_key("RS256"), issuer.add_key("ES256")
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        for key in (rsa_key, ec_key, rsa_key, ec_key):
            response = await api.get(ROUTE, headers=bearer(issuer.sign(key, **admin_claims())))
            assert response.status_code == 200, (key.algorithm, response.text)
        assert issuer.fetches == 1, "the keys are fetched once and kept"
        stranger = new_signing_key("RS256", kid=rsa_key.kid)  # the issuer's kid, another key
        assert_refused(await api.get(ROUTE, headers=bearer(signed(stranger, **admin_claims()))), "a forged key")


async def test_a_rotated_key_is_picked_up_by_fetching_the_jwks_again(api_factory, settings, issuer):
    old = issuer.add_key("RS256")
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        assert (await api.get(ROUTE, headers=bearer(issuer.sign(old, **admin_claims())))).status_code == 200
        assert issuer.fetches == 1
        new = issuer.add_key("ES256")
        issuer.remove_key(old)
        rotated = await api.get(ROUTE, headers=bearer(issuer.sign(new, **admin_claims())))
        assert rotated.status_code == 200, rotated.text
        assert issuer.fetches == 2, "the unknown kid made the gate fetch the keys again, once"
        assert (await api.get(ROUTE, headers=bearer(issuer.sign(new, **admin_claims())))).status_code == 200
        assert issuer.fetches == 2


async def test_unknown_kids_do_not_make_the_gate_hammer_the_issuer(api_factory, settings, issuer):
    key = issuer.add_key("RS256")
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        assert (await api.get(ROUTE, headers=bearer(issuer.sign(key, **admin_claims())))).status_code == 200
        for n in range(5):
            forged_kid = issuer.sign(key, kid=f"made-up-{n}", **admin_claims())
            assert_refused(await api.get(ROUTE, headers=bearer(forged_kid)), "an unknown kid")
        assert issuer.fetches <= 2, f"{issuer.fetches} fetches for five made-up kids"
        assert (await api.get(ROUTE, headers=bearer(issuer.sign(key, **admin_claims())))).status_code == 200


async def test_a_token_without_kid_uses_the_only_key_of_the_jwks(api_factory, settings, issuer):
    key = issuer.add_key("ES256")
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        for _ in range(3):
            response = await api.get(ROUTE, headers=bearer(issuer.sign(key, kid=None, **admin_claims())))
            assert response.status_code == 200, response.text
        assert issuer.fetches == 1


async def test_a_token_without_kid_is_refused_when_the_jwks_holds_several_keys(api_factory, settings, issuer):
    key = issuer.add_key("ES256")
    issuer.add_key("RS256")
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        assert_refused(await api.get(ROUTE, headers=bearer(issuer.sign(key, kid=None, **admin_claims()))),
                       "no kid among two keys")
        assert (await api.get(ROUTE, headers=bearer(issuer.sign(key, **admin_claims())))).status_code == 200


async def test_a_kid_of_the_other_key_type_is_refused(api_factory, settings, issuer):
    """An ES256 token naming the kid of the issuer's RSA key: the key verifies only its own algorithm."""
    rsa_key, ec_key = issuer.add_key("RS256"), issuer.add_key("ES256")
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        mixed = issuer.sign(ec_key, kid=rsa_key.kid, **admin_claims())
        response = await api.get(ROUTE, headers=bearer(mixed))
        assert_refused(response, "an ES256 token with the RSA key's kid")
        assert "not a ES256 key" in response.json()["detail"]


async def test_an_unreachable_jwks_is_a_401_not_a_500(api_factory, settings, issuer, caplog):
    key = issuer.add_key("RS256")
    url = issuer.jwks_url
    issuer.stop()  # nothing listens on its port now
    async with api_factory(with_platform(settings, jwt_jwks_url=url)) as api:
        with caplog.at_level(logging.WARNING, logger="api.platform_v1.auth"):
            response = await api.get(ROUTE, headers=bearer(signed(key, **admin_claims())))
        assert_refused(response, "the JWKS cannot be reached")
        assert "cannot be fetched" in response.json()["detail"]
        assert any("JWKS" in record.getMessage() for record in caplog.records), caplog.text


async def test_a_failing_jwks_is_a_401_and_is_not_asked_again_for_every_request(api_factory, settings, issuer):
    key = issuer.add_key("RS256")
    issuer.fail_with(503)
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        for _ in range(5):
            assert_refused(await api.get(ROUTE, headers=bearer(issuer.sign(key, **admin_claims()))), "JWKS 503")
        assert issuer.fetches == 1, f"{issuer.fetches} fetches of a failing JWKS for five requests"


async def test_a_jwks_that_answers_garbage_is_a_401_and_keeps_the_keys_it_had(api_factory, settings, issuer):
    key = issuer.add_key("RS256")
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        assert (await api.get(ROUTE, headers=bearer(issuer.sign(key, **admin_claims())))).status_code == 200
        issuer.fail_with(200, "<html>maintenance</html>")
        rotated = issuer.add_key("RS256")  # a token of a key the gate has not seen makes it fetch again
        assert_refused(await api.get(ROUTE, headers=bearer(issuer.sign(rotated, **admin_claims()))), "garbage JWKS")
        assert issuer.fetches == 2
        # the keys fetched before still verify
        assert (await api.get(ROUTE, headers=bearer(issuer.sign(key, **admin_claims())))).status_code == 200


@pytest.mark.parametrize("document", ['{"keys": "none"}', '["a list"]', '{"keys": [{"kty": "nope"}, 7]}'])
async def test_a_jwks_without_usable_keys_is_a_401(api_factory, settings, issuer, document):
    key = issuer.add_key("RS256")
    issuer.fail_with(200, document)
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        assert_refused(await api.get(ROUTE, headers=bearer(issuer.sign(key, **admin_claims()))), document)


async def test_an_empty_jwks_is_a_401(api_factory, settings, issuer):
    async with api_factory(with_platform(settings, jwt_jwks_url=issuer.jwks_url)) as api:
        assert_refused(await api.get(ROUTE, headers=bearer(signed(new_signing_key("RS256"), **admin_claims()))),
                       "an empty JWKS")


# --- AUTH_MODE=disabled ------------------------------------------------------------------------------------

async def test_auth_disabled_logs_a_loud_warning_at_startup(api_factory, settings, caplog):
    with caplog.at_level(logging.WARNING, logger="api.app"):
        async with api_factory(with_platform(settings, auth_mode="disabled")):
            pass
    warnings = [r for r in caplog.records if r.name == "api.app" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    message = warnings[0].getMessage()
    assert "AUTH_MODE=disabled" in message and "/api/v1" in message, message


async def test_auth_enabled_logs_no_such_warning(api_factory, settings, caplog):
    with caplog.at_level(logging.WARNING, logger="api.app"):
        async with api_factory(with_platform(settings, jwt_secret=JWT_SECRET)):
            pass
    assert not [r for r in caplog.records if "AUTH_MODE" in r.getMessage()], caplog.text


async def test_auth_disabled_every_route_answers_without_a_token_as_the_local_principal(api_factory, settings):
    async with api_factory(with_platform(settings, auth_mode="disabled")) as api:
        created = await api.post("/api/v1/workspaces", json={"name": "On my laptop"},
                                 headers={"Idempotency-Key": "ws-1"})
        assert created.status_code == 201, created.text
        assert created.json()["createdBy"] == "local"
        workspace = created.json()["id"]
        in_it = {"x-workspace-id": workspace}
        client = await api.post("/api/v1/clients", json={"name": "Globex"}, headers={**in_it, "Idempotency-Key": "c-1"})
        assert client.status_code == 201, client.text
        assert client.json()["createdBy"] == "local"
        ticket = await api.post("/api/v1/tickets", json={"clientId": client.json()["id"], "title": "Printer on fire",
                                                         "priority": "critical"},
                                headers={**in_it, "Idempotency-Key": "t-1"})
        assert ticket.status_code == 201, ticket.text
        again = await api.post("/api/v1/clients", json={"name": "Globex"}, headers={**in_it, "Idempotency-Key": "c-1"})
        assert again.headers.get("idempotent-replayed") == "true", "keys still work: the local principal's"
        secret = await api.post("/api/v1/platform/secrets/SMTP_PASSWORD", json={"value": "hunter2"},
                                headers={"Idempotency-Key": "s-1"})
        assert secret.status_code < 300, secret.text
        # every route of the table answers: none refuses for want of a token or a role
        for (method, path), access in sorted(ROUTE_ACCESS.items()):
            real = "/clients/" in path and method != "DELETE"  # the client's routes act on it; DELETE on none
            url = path.format(resource_id=client.json()["id"] if real else "none-such",
                              workspace_id=workspace, key="SMTP_PASSWORD", event_id="none-such",
                              execution_id="none-such", artifact_id="none-such", agent_id="none-such",
                              target="none-such", job_id="none-such")
            headers = dict(in_it) if access.tenant else {}
            if method in MUTATING:
                headers["Idempotency-Key"] = f"walk-{method}-{path}"
            body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            response = await api.request(method, url, headers=headers, **body)
            assert response.status_code not in (401, 403) and response.status_code < 500, \
                f"{method} {url}: {response.status_code} {response.text}"
            if method == "GET":
                assert response.status_code in (200, 404), f"{method} {url}: {response.status_code} {response.text}"
