"""Bearer JWTs of ``/api/v1``, checked with PyJWT before the body is read (the path's gate).

Keys: ``HS256`` with ``CAPSTAN_JWT_SECRET``; ``RS256``/``ES256`` with ``CAPSTAN_JWT_PUBLIC_KEY`` (PEM) or the
keys of ``CAPSTAN_JWT_JWKS_URL`` (cached, fetched again for an unknown ``kid``). A token's ``alg`` picks the
key, and a key only verifies its own algorithm family, so an RSA public key can never be used as an HMAC
secret. ``exp`` and ``sub`` are required; ``exp``, ``nbf`` and ``iat`` allow ``CAPSTAN_JWT_LEEWAY``;
``iss`` and ``aud`` are checked when configured. Claims: ``sub``, ``roles`` (the ten roles of
``models.platform_v1.roles``; others ignored), ``workspaces`` (the ids it may act in; ``msp_admin`` and
``platform_admin`` may act in any).

``CAPSTAN_AUTH_MODE=disabled`` makes every request the local principal, with every role and workspace.
Failures are 401 with a ``WWW-Authenticate: Bearer`` header saying why (RFC 6750), never the token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt
from fastapi import Request

from api.common.auth import Principal
from api.common.errors import BadRequest, Unauthorized
from api.common.middleware import REQUEST_ID
from api.common.openapi import PLATFORM_JWT
from capstan.settings import PlatformSettings, secret_value
from models.platform_v1.roles import ANY_WORKSPACE_ROLES, Role, known_roles

log = logging.getLogger(__name__)

SCHEME = "platform-jwt"
HMAC_ALGORITHMS = ("HS256",)
PUBLIC_KEY_ALGORITHMS = ("RS256", "ES256")
#: An unknown ``kid`` refetches the JWKS at most this often (a forged ``kid`` must not hammer the issuer).
JWKS_MIN_REFETCH_SECONDS = 10.0
JWKS_TIMEOUT_SECONDS = 10.0

LOCAL = Principal(subject="local", scheme="auth-disabled", roles=frozenset(Role), any_workspace=True)


def _refusal(description: str, error: str = "invalid_token") -> Unauthorized:
    challenge = f'Bearer realm="capstan", error="{error}", error_description="{description}"'
    return Unauthorized(f"{description}: send Authorization: Bearer <jwt>", headers={"WWW-Authenticate": challenge})


class JwksKeys:
    """The signing keys of a JWKS URL by ``kid``, fetched with httpx and kept ``cache_seconds``."""

    def __init__(self, url: str, cache_seconds: float) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = age > self.cache_seconds
            if stale or (kid not in self._keys and age > JWKS_MIN_REFETCH_SECONDS):
                await self._fetch()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if kid not in self._keys:
            raise _refusal("the token's key (kid) is not among the issuer's keys")
        return self._keys[kid]

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS) as http:
                response = await http.get(self.url)
                response.raise_for_status()
                keys = response.json().get("keys", [])
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            log.warning("JWKS %s could not be fetched: %s", self.url, type(error).__name__)
            if not self._keys:
                raise _refusal("the issuer's keys cannot be fetched now", error="invalid_token") from None
            return  # keep the keys we have
        fetched: dict[str, jwt.PyJWK] = {}
        for entry in keys if isinstance(keys, list) else []:
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError, ValueError):
                continue  # a key type or algorithm Capstan does not verify with
            fetched[str(entry.get("kid"))] = key
        self._keys, self._fetched_at = fetched, time.monotonic()


class JwtVerifier:
    """Verifies a bearer JWT with the configured keys and makes it a ``Principal``."""

    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings
        self.secret = secret_value(settings.jwt_secret)
        self.public_key = settings.public_key_pem()
        self.jwks = JwksKeys(settings.jwt_jwks_url, settings.jwks_cache_seconds) if settings.jwt_jwks_url else None

    async def _key(self, header: dict[str, Any]) -> Any:
        algorithm = header.get("alg")
        if algorithm in HMAC_ALGORITHMS and self.secret:
            return self.secret
        if algorithm in PUBLIC_KEY_ALGORITHMS:
            if self.public_key:
                return self.public_key
            if self.jwks is not None:
                return (await self.jwks.key(header.get("kid"))).key
        raise _refusal(f"tokens signed with {algorithm!r} are not accepted here")

    async def principal(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _refusal("the bearer token is not a JWT") from None
        key = await self._key(header)
        options = {"require": ["exp", "sub"], "verify_aud": self.settings.jwt_audience is not None}
        try:
            claims = jwt.decode(token, key, algorithms=[header["alg"]], options=options,
                                leeway=self.settings.jwt_leeway_seconds, issuer=self.settings.jwt_issuer,
                                audience=self.settings.jwt_audience)
        except jwt.ExpiredSignatureError:
            raise _refusal("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise _refusal("the token is not valid yet (nbf or iat in the future)") from None
        except jwt.MissingRequiredClaimError as error:
            raise _refusal(f"the token has no {error.claim} claim") from None
        except (jwt.InvalidIssuerError, jwt.InvalidAudienceError):
            raise _refusal("the token was issued for someone else (iss or aud)") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _refusal("the token's signature or claims are invalid") from None
        return principal_of(claims)


def principal_of(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 256:
        raise _refusal("the token's sub claim must be a non-empty string")
    roles = known_roles(claims.get("roles"))
    workspaces = claims.get("workspaces")
    granted = frozenset(w for w in workspaces if isinstance(w, str)) if isinstance(workspaces, list) else frozenset()
    return Principal(subject=subject, scheme=SCHEME, roles=frozenset(roles), workspaces=granted,
                     any_workspace=bool(roles & ANY_WORKSPACE_ROLES))


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authentication required: send Authorization: Bearer <jwt>",
                           headers={"WWW-Authenticate": 'Bearer realm="capstan"'})
    return token.strip()


def check_correlation_id(request: Request) -> None:
    """``x-correlation-id``, when sent, must be printable ASCII without spaces and at most 128 characters."""
    offered = request.headers.get("x-correlation-id")
    if offered is not None and not REQUEST_ID.match(offered):
        raise BadRequest("x-correlation-id must be printable ASCII without spaces, at most 128 characters",
                         code="invalid_correlation_id")


class PlatformJwt:
    """The gate of ``/api/v1``: the correlation id's form, then the bearer JWT (or the local principal)."""

    name = "platform-jwt"
    #: OpenAPI security alternatives (``api.common.openapi``).
    schemes = ((PLATFORM_JWT,),)

    async def check(self, request: Request) -> Principal:
        check_correlation_id(request)
        settings: PlatformSettings = request.app.state.settings.platform
        if settings.auth_mode == "disabled":
            return LOCAL
        verifier = getattr(request.app.state, "platform_jwt", None)
        if verifier is None:
            verifier = request.app.state.platform_jwt = JwtVerifier(settings)
        return await verifier.principal(_bearer(request))

