"""The table of ``Idempotency-Key``s (``platform_idempotency_keys``): reserve a key, store the answer it got,
release it. No HTTP here: ``api.platform_v1.idempotency`` reads the header, replays and stores answers.

A key is stored under (scope, principal, route, key) with the fingerprint of its request; the same key
with the same request replays the stored answer, with another request it is 422 ``idempotency_key_reused``.

The fingerprint hashes the method, the path with its query string, and the body's **canonical JSON** (keys
sorted, no whitespace, non-ASCII escaped), so the same body sent with its keys in another order or other
spacing is the same request, and ``?a=1`` is another request than ``?a=2``. The query is canonical too (its
parameters sorted, percent-encoded one way). A body that is not JSON is fingerprinted as its bytes.

Older forms still match their identical retries until they expire (``CAPSTAN_IDEMPOTENCY_TTL_HOURS``), as
``RequestPrint.matches`` accepts them: keys reserved before fingerprints were canonical hold the hash of the
body's bytes, and keys reserved before the query counted hold the hash of the path alone (such a key replays
for its path whatever the query; it cannot tell, and it lives one TTL at most).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import ApiError, Conflict
from models.common.base import utcnow
from models.platform_v1.tables import IdempotencyRow

#: A reservation whose request has not answered for this long is abandoned (no request runs that long).
IN_FLIGHT_SECONDS = 120
#: How often ``reserve`` tries again when the row it conflicted with was deleted before it could read it.
RESERVE_ATTEMPTS = 5


class KeyReused(ApiError):
    status_code, code = 422, "idempotency_key_reused"


def _digest(method: str, path: str, body: bytes, *more: bytes) -> str:
    """sha256 of the length-prefixed parts: the three of the older forms, four (the query last) of the current."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body, *more):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def canonical_json(body: bytes) -> bytes:
    """``body`` as canonical JSON (keys sorted, no whitespace, ASCII); a body that is not JSON as it is."""
    if not body:
        return body
    try:
        value = json.loads(body)
    except ValueError:  # not JSON, or not UTF-8: the request is refused anyway, its bytes tell it apart
        return body
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def canonical_query(query: str) -> bytes:
    """The query string in one form (parameters sorted, blank values kept, percent-encoded one way):
    ``b=2&a=1`` and ``a=1&b=%32`` are one query."""
    return urlencode(sorted(parse_qsl(query, keep_blank_values=True))).encode()


def fingerprint(method: str, path: str, body: bytes, query: str = "") -> str:
    """The fingerprint a key is stored with: the method, the path, the body's canonical JSON and the canonical
    query (a fourth part even when empty, so no current fingerprint equals one of the older forms)."""
    return _digest(method, path, canonical_json(body), canonical_query(query))


@dataclass(frozen=True)
class RequestPrint:
    """What tells one request from another for its key: method, path, query string and body."""

    method: str
    path: str
    body: bytes
    query: str = ""

    @cached_property
    def current(self) -> str:
        return fingerprint(self.method, self.path, self.body, self.query)

    def matches(self, stored: str) -> bool:
        """Whether a stored fingerprint is this request's: the current form, or an older one of the same
        request: the hash of the body's bytes (before fingerprints were canonical), or of the path without
        the query (before the query counted)."""
        if stored == self.current:
            return True
        older = {_digest(self.method, self.path, self.body), _digest(self.method, self.path, canonical_json(self.body))}
        return stored in older


@dataclass(frozen=True)
class StoredAnswer:
    """The answer a key replays: its status, body and kept headers (``etag``, ``location``, ``content-type``)."""

    status_code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Reservation:
    """One request's hold on its key: its row id, and whether its answer is stored yet."""

    row_id: int
    stored: bool = False

    async def store(self, db: AsyncSession, answer: StoredAnswer) -> None:
        """Store ``answer`` with the key in ``db``'s transaction (the one that writes the change): a crash cannot
        leave a change without its answer. Once per reservation."""
        if self.stored:
            return
        await db.exec(update(IdempotencyRow).where(IdempotencyRow.id == self.row_id)
                      .values(status_code=answer.status_code, response_body=answer.body.decode(),
                              response_headers=answer.headers, completed_at=utcnow()))
        self.stored = True


def _in_flight() -> Conflict:
    return Conflict("a request with this Idempotency-Key is still in flight; retry when it has answered",
                    code="idempotency_key_in_flight", headers={"Retry-After": "1"})


class Keys:
    """The key table's operations, each in its own short transaction."""

    def __init__(self, engine: AsyncEngine, sessions: Callable[[], AsyncSession], ttl: timedelta) -> None:
        self.engine = engine
        self.sessions = sessions
        self.ttl = ttl

    async def reserve(self, scope: str, principal: str, route: str, key: str,
                      request: RequestPrint) -> Reservation | StoredAnswer:
        """A reservation of the key, or the stored answer to replay; 409 or 422 otherwise."""
        reserved = await self._reserve_fresh(scope, principal, route, key, request.current)
        if reserved is not None:
            return reserved
        for _ in range(RESERVE_ATTEMPTS):
            held = await self._reserve_once(scope, principal, route, key, request)
            if held is not None:
                return held
        raise _in_flight()

    def _insert_unless_live(self, scope: str, principal: str, route: str, key: str, print_: str,
                            now: datetime) -> Any:
        """The key's row, new or taking over an expired one; no row returned when a live one holds the key."""
        fresh = {"fingerprint": print_, "created_at": now, "expires_at": now + self.ttl, "status_code": None,
                 "response_body": None, "response_headers": None, "completed_at": None}
        return insert(IdempotencyRow).values(scope=scope, principal=principal, route=route, key=key, **fresh) \
            .on_conflict_do_update(index_elements=["scope", "principal", "route", "key"], set_=fresh,
                                   where=IdempotencyRow.expires_at <= now).returning(IdempotencyRow.id)

    async def _reserve_fresh(self, scope: str, principal: str, route: str, key: str,
                             print_: str) -> Reservation | None:
        """The way nearly every mutation goes, a key's first use, as one autocommitted statement: no ORM
        session and no BEGIN/COMMIT round trips around it (they were a third of what the key cost)."""
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            inserted = (await conn.execute(self._insert_unless_live(scope, principal, route, key, print_,
                                                                    utcnow()))).first()
        return Reservation(inserted[0]) if inserted is not None else None

    async def _reserve_once(self, scope: str, principal: str, route: str, key: str,
                            request: RequestPrint) -> Reservation | StoredAnswer | None:
        """One attempt; None when the conflicting row was deleted (released, expired) before it was read."""
        now = utcnow()
        async with self.sessions() as db, db.begin():
            inserted = (await db.exec(self._insert_unless_live(scope, principal, route, key, request.current,
                                                               now))).first()
            if inserted is not None:
                return Reservation(inserted[0])
            row = (await db.exec(select(IdempotencyRow).where(
                IdempotencyRow.scope == scope, IdempotencyRow.principal == principal, IdempotencyRow.route == route,
                IdempotencyRow.key == key).with_for_update())).first()
            if row is None:
                return None
            if not request.matches(row.fingerprint):
                raise KeyReused("this Idempotency-Key was used for another request (another body, path or query); "
                                "use a new key for a new operation")
            if row.status_code is not None:
                return StoredAnswer(row.status_code, (row.response_body or "").encode(),
                                    dict(row.response_headers or {}))
            if now - row.created_at < timedelta(seconds=IN_FLIGHT_SECONDS):
                raise _in_flight()
            row.created_at = now  # abandoned: its request never wrote, this one takes it over
            db.add(row)
            return Reservation(row.id)

    async def store(self, reservation: Reservation, answer: StoredAnswer) -> None:
        """Store ``answer`` in a transaction of its own (an answer given without a write)."""
        async with self.sessions() as db, db.begin():
            await db.exec(update(IdempotencyRow).where(IdempotencyRow.id == reservation.row_id,
                                                       IdempotencyRow.status_code.is_(None))
                          .values(status_code=answer.status_code, response_body=answer.body.decode(),
                                  response_headers=answer.headers, completed_at=utcnow()))
        reservation.stored = True

    async def release(self, reservation: Reservation) -> None:
        async with self.sessions() as db, db.begin():
            await db.exec(delete(IdempotencyRow).where(IdempotencyRow.id == reservation.row_id,
                                                       IdempotencyRow.status_code.is_(None)))
