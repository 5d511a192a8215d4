"""Bearer JWTs of ``/api/v1``, checked with PyJWT before the body is read (the path's gate).

Keys: ``HS256`` with ``CAPSTAN_JWT_SECRET``; ``RS256``/``ES256`` with ``CAPSTAN_JWT_PUBLIC_KEY`` (PEM) or the
keys of ``CAPSTAN_JWT_JWKS_URL`` (cached, fetched again for an unknown ``kid``). A token's ``alg`` picks the
key, and a key only verifies its own algorithm family, so an RSA public key can never be used as an HMAC
secret. ``exp`` and ``sub`` are required; ``exp``, ``nbf`` and ``iat`` are JSON numbers (RFC 7519's NumericDate:
PyJWT alone would take ``"99999999999"`` or ``true``) and allow ``CAPSTAN_JWT_LEEWAY``;
``iss`` and ``aud`` are checked when configured. Claims: ``sub``, ``roles`` (the ten roles of
``models.platform_v1.roles``; others ignored), ``workspaces`` (the ids it may act in; ``msp_admin`` and
``platform_admin`` may act in any).

``CAPSTAN_AUTH_MODE=disabled`` makes every request the local principal, with every role and workspace.
Failures are 401 with a ``WWW-Authenticate: Bearer`` header saying why (RFC 6750), never the token.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from typing import Any

import httpx
import jwt
from fastapi import Request

from api.common.auth import Principal
from api.common.errors import BadRequest, Unauthorized
from api.common.middleware import REQUEST_ID
from models.common.settings import secret_value
from models.platform_v1.roles import ANY_WORKSPACE_ROLES, Role, known_roles
from models.platform_v1.settings import PlatformSettings

log = logging.getLogger(__name__)

#: The OpenAPI security scheme of the bearer JWT (declared in ``api/platform_v1/router.py``).
PLATFORM_JWT = "platformJwt"
SCHEME = "platform-jwt"
HMAC_ALGORITHMS = ("HS256",)
PUBLIC_KEY_ALGORITHMS = ("RS256", "ES256")
#: An unknown ``kid`` fetches the JWKS again at most this often (a forged ``kid`` must not hammer the issuer);
#: the first unknown ``kid`` after a fetch (a key rotation) is fetched for at once.
JWKS_MIN_REFETCH_SECONDS = 10.0
#: After a failed fetch the issuer is not asked again for this long (the keys already fetched stay in use).
JWKS_RETRY_SECONDS = 10.0
JWKS_TIMEOUT_SECONDS = 10.0
#: What an ``error_description`` may hold (RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E), at most this long.
_DESCRIPTION_UNSAFE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')
_DESCRIPTION_MAX = 160
#: The claims RFC 7519 makes NumericDates: JSON numbers of seconds.
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")

LOCAL = Principal(subject="local", scheme="auth-disabled", roles=frozenset(Role), any_workspace=True)


def _refusal(description: str, error: str = "invalid_token") -> Unauthorized:
    safe = _DESCRIPTION_UNSAFE.sub("?", description)[:_DESCRIPTION_MAX]
    challenge = f'Bearer realm="capstan", error="{error}", error_description="{safe}"'
    return Unauthorized(f"{description}: send Authorization: Bearer <jwt>", headers={"WWW-Authenticate": challenge})


def _named(algorithm: object) -> str:
    """The token's ``alg`` as a refusal may quote it: a short name, never what an attacker put there."""
    if isinstance(algorithm, str) and re.fullmatch(r"[A-Za-z0-9]{1,16}", algorithm):
        return algorithm
    return "an unknown algorithm"


class JwksKeys:
    """The signing keys of a JWKS URL by ``kid``, fetched with httpx and kept ``cache_seconds``.

    The keys are fetched again when they are older than ``cache_seconds``, and for a ``kid`` they do not
    hold (a rotation) unless another unknown ``kid`` was fetched for in the last ``JWKS_MIN_REFETCH_SECONDS``.
    A failed fetch keeps the keys already fetched and is not tried again for ``JWKS_RETRY_SECONDS``: a
    down issuer costs one request a timeout, not every request.
    """

    def __init__(self, url: str, cache_seconds: float) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._unknown_kid_fetched_at = float("-inf")
        self._retry_at = float("-inf")
        self._failing = False
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        async with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at > self.cache_seconds
            known = kid in self._keys or (kid is None and len(self._keys) == 1)
            unknown = not known and now - self._unknown_kid_fetched_at > JWKS_MIN_REFETCH_SECONDS
            if now >= self._retry_at and (stale or unknown):
                if not stale:
                    self._unknown_kid_fetched_at = now
                await self._fetch()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if kid not in self._keys:
            if self._failing and not self._keys:
                raise _refusal("the issuer's keys cannot be fetched now")
            raise _refusal("the token's key (kid) is not among the issuer's keys")
        return self._keys[kid]

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS) as http:
                response = await http.get(self.url)
                response.raise_for_status()
                keys = response.json().get("keys")
            if not isinstance(keys, list):
                raise ValueError("no keys list")
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            log.warning("JWKS %s could not be fetched (%s); next attempt in %.0f s", self.url,
                        type(error).__name__, JWKS_RETRY_SECONDS)
            self._failing, self._retry_at = True, time.monotonic() + JWKS_RETRY_SECONDS
            if not self._keys:
                raise _refusal("the issuer's keys cannot be fetched now") from None
            return  # keep the keys we have
        fetched: dict[str, jwt.PyJWK] = {}
        for entry in keys:
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError, ValueError, AttributeError):
                continue  # a key type or algorithm Capstan does not verify with
            fetched[str(entry.get("kid"))] = key
        self._keys, self._fetched_at, self._failing = fetched, time.monotonic(), False


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
                key = await self.jwks.key(header.get("kid"))
                if key.algorithm_name != algorithm:  # an RSA key verifies RS256 only, an EC P-256 key ES256
                    raise _refusal(f"the token's key (kid) is not a {algorithm} key")
                return key.key
        raise _refusal(f"tokens signed with {_named(algorithm)} are not accepted here")

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
        refuse_non_numeric_dates(claims)
        return principal_of(claims)


def _is_numeric_date(value: object) -> bool:
    """A JSON number (``bool`` is an ``int`` to Python, not to JSON), finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def refuse_non_numeric_dates(claims: dict[str, Any]) -> None:
    """401 for an ``exp``, ``nbf`` or ``iat`` that is not a JSON number: PyJWT compares ``int(value)``, so a
    string of digits or a boolean would pass its checks."""
    for claim in NUMERIC_DATE_CLAIMS:
        if claim in claims and not _is_numeric_date(claims[claim]):
            raise _refusal(f"the token's {claim} claim must be a number (a NumericDate)")


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

