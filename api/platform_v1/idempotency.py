"""``Idempotency-Key`` on every mutating ``/api/v1`` route (the IETF ``Idempotency-Key`` header draft).

Keys are stored in Postgres under (scope, principal, route, key): scope is the workspace (or
``platform``), route the method and template (``POST /api/v1/tickets``). What happens:

- the route's access check runs first (403, 400 without ``x-workspace-id``, 404 for a workspace the caller
  may not act in): a key is never reserved, nor a stored response replayed, for a caller the route refuses;
- no key → 400 ``idempotency_key_required``; a key that is not 1–255 printable ASCII characters → 400;
- first use → the key is reserved (a row without a response; a unique index decides between concurrent
  duplicates, never a read-then-write), the request runs, and its response (status, body, ETag and
  Location) is stored with the key. A write stores it in its own transaction (``store_response``), so
  a crash cannot leave a change without its response; what a route answers without writing is stored
  after it;
- the same key with the same request (method, path and body, fingerprinted) → the stored response
  again, with ``Idempotent-Replayed: true``;
- the same key with another request → 422 ``idempotency_key_reused``;
- the same key while the first request is still in flight → 409 ``idempotency_key_in_flight``
  (with ``Retry-After``). A reservation older than ``IN_FLIGHT_SECONDS`` whose request never finished
  (its process died before it wrote anything, since a write stores its response with it) is taken over;
- an error the route raised (a 4xx before any change, or a 5xx) releases the key: the request can be sent
  again with it. Keys expire after ``CAPSTAN_IDEMPOTENCY_TTL_HOURS`` (24).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, Request, Response, params
from fastapi.routing import APIRoute
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import ApiError, BadRequest, Conflict
from api.platform_v1.access import CALLER_STATE, Caller
from models.common.base import utcnow
from models.platform_v1.tables import IdempotencyRow

log = logging.getLogger(__name__)

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
#: A reservation whose request has not answered for this long is abandoned (no request runs that long).
IN_FLIGHT_SECONDS = 120
#: Response headers kept with the response and replayed.
KEPT_HEADERS = ("etag", "location", "content-type")
RESERVATION_STATE = "idempotency_reservation"
#: How often ``reserve`` tries again when the row it conflicted with was deleted before it could read it.
RESERVE_ATTEMPTS = 5


class KeyReused(ApiError):
    status_code, code = 422, "idempotency_key_reused"


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _key(request: Request) -> str:
    key = request.headers.get(HEADER)
    if key is None or not key.strip():
        raise BadRequest("Idempotency-Key is required on every mutating /api/v1 route: send a unique value per "
                         "operation (a UUID) and the same value when you retry it", code="idempotency_key_required")
    key = key.strip()
    if len(key) > KEY_MAX_LENGTH or not key.isascii() or not key.isprintable():
        raise BadRequest(f"Idempotency-Key must be 1–{KEY_MAX_LENGTH} printable ASCII characters",
                         code="invalid_idempotency_key")
    return key


def _replay(row: IdempotencyRow) -> Response:
    headers = {**(row.response_headers or {}), REPLAYED_HEADER: "true"}
    media_type = headers.pop("content-type", None)
    return Response(content=(row.response_body or "").encode(), status_code=row.status_code or 200,
                    headers=headers, media_type=media_type)


class Reservation:
    """One request's hold on its key: its row id, and whether its response is stored yet."""

    def __init__(self, row_id: int) -> None:
        self.row_id = row_id
        self.stored = False


async def store_response(db: AsyncSession, request: Request, response: Response) -> None:
    """Store ``response`` with the request's key in ``db``'s transaction (the one that writes the change)."""
    reservation: Reservation | None = getattr(request.state, RESERVATION_STATE, None)
    if reservation is None or reservation.stored:
        return
    headers = {name: value for name, value in response.headers.items() if name in KEPT_HEADERS}
    await db.exec(update(IdempotencyRow).where(IdempotencyRow.id == reservation.row_id)
                  .values(status_code=response.status_code, response_body=response.body.decode(),
                          response_headers=headers, completed_at=utcnow()))
    reservation.stored = True


class Keys:
    """The key table's operations, each in its own short transaction."""

    def __init__(self, engine: AsyncEngine, sessions: Callable[[], AsyncSession], ttl: timedelta) -> None:
        self.engine = engine
        self.sessions = sessions
        self.ttl = ttl

    @classmethod
    def of_app(cls, request: Request) -> Keys:
        """The keys as the request's app keeps them: its engine and sessions, its TTL setting."""
        state = request.app.state
        return cls(state.engine, state.sessions, timedelta(hours=state.settings.platform.idempotency_ttl_hours))

    async def reserve(self, scope: str, principal: str, route: str, key: str, print_: str) -> Reservation | Response:
        """A reservation of the key, or the stored response to replay; 409 or 422 otherwise."""
        reserved = await self._reserve_fresh(scope, principal, route, key, print_)
        if reserved is not None:
            return reserved
        for _ in range(RESERVE_ATTEMPTS):
            held = await self._reserve_once(scope, principal, route, key, print_)
            if held is not None:
                return held
        raise Conflict("a request with this Idempotency-Key is still in flight; retry when it has answered",
                       code="idempotency_key_in_flight", headers={"Retry-After": "1"})

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
                            print_: str) -> Reservation | Response | None:
        """One attempt; None when the conflicting row was deleted (released, expired) before it was read."""
        now = utcnow()
        async with self.sessions() as db, db.begin():
            inserted = (await db.exec(self._insert_unless_live(scope, principal, route, key, print_, now))).first()
            if inserted is not None:
                return Reservation(inserted[0])
            row = (await db.exec(select(IdempotencyRow).where(
                IdempotencyRow.scope == scope, IdempotencyRow.principal == principal, IdempotencyRow.route == route,
                IdempotencyRow.key == key).with_for_update())).first()
            if row is None:
                return None
            if row.fingerprint != print_:
                raise KeyReused("this Idempotency-Key was used for another request (another body or path); use a "
                                "new key for a new operation")
            if row.status_code is not None:
                return _replay(row)
            if now - row.created_at < timedelta(seconds=IN_FLIGHT_SECONDS):
                raise Conflict("a request with this Idempotency-Key is still in flight; retry when it has answered",
                               code="idempotency_key_in_flight", headers={"Retry-After": "1"})
            row.created_at = now  # abandoned: its request never wrote, this one takes it over
            db.add(row)
            return Reservation(row.id)

    async def store(self, reservation: Reservation, response: Response) -> None:
        headers = {name: value for name, value in response.headers.items() if name in KEPT_HEADERS}
        async with self.sessions() as db, db.begin():
            await db.exec(update(IdempotencyRow).where(IdempotencyRow.id == reservation.row_id,
                                                       IdempotencyRow.status_code.is_(None))
                          .values(status_code=response.status_code, response_body=response.body.decode(),
                                  response_headers=headers, completed_at=utcnow()))

    async def release(self, reservation: Reservation) -> None:
        async with self.sessions() as db, db.begin():
            await db.exec(delete(IdempotencyRow).where(IdempotencyRow.id == reservation.row_id,
                                                       IdempotencyRow.status_code.is_(None)))


class _Replayed(Exception):
    """Not an error: the stored response, carried out of the key's dependency to the route's handler."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


async def reserve_key(request: Request) -> None:
    """The key's dependency, after the route's access check: reserve the key, or replay its response."""
    route: APIRoute = request.scope["route"]
    caller: Caller = getattr(request.state, CALLER_STATE)  # left by the access check, which ran first
    key = _key(request)
    print_ = fingerprint(request.method, request.url.path, await request.body())
    held = await Keys.of_app(request).reserve(caller.workspace_id or "platform", caller.actor,
                                              f"{request.method} {route.path_format}", key, print_)
    if isinstance(held, Response):
        raise _Replayed(held)
    setattr(request.state, RESERVATION_STATE, held)


class IdempotentRoute(APIRoute):
    """A mutating route: once its access check has passed, the key is reserved (or its response replayed)
    before the route runs, and the answer stored after it (or with its write)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *,
                 dependencies: Sequence[params.Depends] | None = None, **options: Any) -> None:
        # After the route's own dependencies (the access check); once, also when a router includes the route.
        kept = [depends for depends in dependencies or () if depends.dependency is not reserve_key]
        super().__init__(path, endpoint, dependencies=[*kept, Depends(reserve_key)], **options)

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def idempotent_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except _Replayed as replayed:
                return replayed.response
            except BaseException:
                held: Reservation | None = getattr(request.state, RESERVATION_STATE, None)
                if held is not None:
                    await Keys.of_app(request).release(held)
                raise
            held = getattr(request.state, RESERVATION_STATE, None)
            if held is None:  # cannot happen: the dependency reserved or replayed
                return response
            keys = Keys.of_app(request)
            if response.status_code >= 500:
                await keys.release(held)
            elif not held.stored:
                await keys.store(held, response)
            return response

        return idempotent_handler
