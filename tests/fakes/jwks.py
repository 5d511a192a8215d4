"""A fake identity provider speaking real HTTP: its JWKS document, and the private keys to sign tokens.

Usage::

    with FakeJwks() as issuer:                       # serves GET /.well-known/jwks.json
        rsa = issuer.add_key("RS256")                # a new RSA key pair, published under its kid
        token = issuer.sign(rsa, sub="alice", roles=["viewer"])
        issuer.fetches                               # how many times the JWKS was fetched
        issuer.fail_with(503)                        # every fetch answers 503 until ``recover()``
        issuer.fail_with(200, "<html>")              # or answers garbage
        issuer.remove_key(rsa)                       # rotated out: no longer published

Keys are generated with ``cryptography``; the JWKS holds only their public parts (RFC 7517).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.served import ServedInThread

JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: Any

    @property
    def public_key(self) -> Any:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        to_jwk = RSAAlgorithm.to_jwk if self.algorithm == "RS256" else ECAlgorithm.to_jwk
        return {**to_jwk(self.public_key, as_dict=True), "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def new_signing_key(algorithm: str, kid: str | None = None) -> SigningKey:
    """A fresh RS256 (RSA 2048) or ES256 (P-256) key pair."""
    if algorithm == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"no key type for {algorithm}")
    return SigningKey(kid=kid or f"key-{uuid.uuid4().hex[:8]}", algorithm=algorithm, private_key=private)


def signed(key: SigningKey, *, kid: str | None | bool = True, ttl: int = 600, **claims: Any) -> str:
    """A JWT signed by ``key``: ``kid`` True names the key's kid, a string another kid, None/False none."""
    now = int(time.time())
    headers = {"kid": key.kid if kid is True else kid} if kid not in (None, False) else {}
    return jwt.encode({"iat": now, "exp": now + ttl, **claims}, key.private_key, algorithm=key.algorithm,
                      headers=headers)


class FakeJwks(ServedInThread):
    label = "fake JWKS"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        super().__init__(host, port)
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._failure: tuple[int, str] | None = None
        self.fetches = 0

    @property
    def jwks_url(self) -> str:
        return f"{self.url}{JWKS_PATH}"

    def add_key(self, algorithm: str, kid: str | None = None) -> SigningKey:
        key = new_signing_key(algorithm, kid)
        with self._lock:
            self._keys.append(key)
        return key

    def remove_key(self, key: SigningKey) -> None:
        with self._lock:
            self._keys = [k for k in self._keys if k.kid != key.kid]

    def fail_with(self, status: int, body: str = "issuer unavailable") -> None:
        """Every fetch answers ``status`` with ``body`` (a 200 with a body that is no JWKS: garbage)."""
        with self._lock:
            self._failure = (status, body)

    def recover(self) -> None:
        with self._lock:
            self._failure = None

    def sign(self, key: SigningKey, **claims: Any) -> str:
        return signed(key, **claims)

    def asgi(self) -> Starlette:
        async def jwks(_: Request) -> Response:
            with self._lock:
                self.fetches += 1
                failure, keys = self._failure, list(self._keys)
            if failure is not None:
                return Response(failure[1], status_code=failure[0])
            body = {"keys": [key.public_jwk() for key in keys]}
            return Response(json.dumps(body), media_type="application/json")

        return Starlette(routes=[Route(JWKS_PATH, jwks)])
