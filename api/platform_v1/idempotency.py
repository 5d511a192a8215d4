"""``Idempotency-Key`` on every mutating ``/api/v1`` route (the IETF ``Idempotency-Key`` header draft).

Keys are stored in Postgres under (scope, principal, route, key) (``services.idempotency_keys``): scope is the
workspace (or ``platform``), route the method and template (``POST /api/v1/tickets``). What happens:

- the route's access check runs first (403, 400 without ``x-workspace-id``, 404 for a workspace the caller
  may not act in): the key's dependency depends on the caller's, so a key is never reserved, nor a stored
  answer replayed, for a caller the route refuses;
- no key → 400 ``idempotency_key_required``; a key that is not 1–255 printable ASCII characters → 400;
- first use → the key is reserved (a row without an answer; a unique index decides between concurrent
  duplicates, never a read-then-write), the route runs, and its answer (status, body, ETag and Location)
  is stored with the key. A write stores it in its own transaction (``IdempotencyKey.commit``), so a crash
  cannot leave a change without its answer; what a route answers without writing is stored after it;
- the same key with the same request (method, path and query string, and the body's canonical JSON) → the stored answer
  again, with ``Idempotent-Replayed: true``;
- the same key with another request → 422 ``idempotency_key_reused``;
- the same key while the first request is still in flight → 409 ``idempotency_key_in_flight``
  (with ``Retry-After``). A reservation older than ``IN_FLIGHT_SECONDS`` whose request never finished
  (its process died before it wrote anything, since a write stores its answer with it) is taken over;
- an error the route raised (a 4xx before any change, or a 5xx) releases the key: the request can be sent
  again with it. Keys expire after ``CAPSTAN_IDEMPOTENCY_TTL_HOURS`` (24).

A mutating route gets its key as a typed parameter (``key: KeyDep``) and commits its write with it:
``return await key.commit(db, response)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response, params
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import BadRequest
from api.platform_v1.access import CallerDep, PlatformRoute
from api.platform_v1.services.idempotency_keys import Keys, RequestPrint, Reservation, StoredAnswer

R = TypeVar("R", bound=Response)

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
#: Response headers kept with the answer and replayed.
KEPT_HEADERS = ("etag", "location", "content-type")


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


def answer_of(response: Response) -> StoredAnswer:
    """What a key keeps of ``response``: its status, body and ``KEPT_HEADERS``."""
    headers = {name: value for name, value in response.headers.items() if name in KEPT_HEADERS}
    return StoredAnswer(response.status_code, response.body, headers)


def replay(answer: StoredAnswer) -> Response:
    headers = {**answer.headers, REPLAYED_HEADER: "true"}
    media_type = headers.pop("content-type", None)
    return Response(content=answer.body, status_code=answer.status_code, headers=headers, media_type=media_type)


def keys_of(request: Request) -> Keys:
    """The keys as the request's app keeps them: its engine and sessions, its TTL setting."""
    state = request.app.state
    return Keys(state.engine, state.sessions, timedelta(hours=state.settings.platform.idempotency_ttl_hours))


@dataclass(frozen=True)
class IdempotencyKey:
    """The ``Idempotency-Key`` a mutating route runs under, reserved for this request."""

    value: str
    reservation: Reservation

    async def commit(self, db: AsyncSession, response: R, *, kept: Response | None = None) -> R:
        """Commit ``db``'s write with ``response`` stored under the key, in the same transaction; or ``kept``
        when the answer holds what must not be stored (a secret shown once), which a replay then answers."""
        await self.reservation.store(db, answer_of(kept if kept is not None else response))
        await db.commit()
        return response


class _Replayed(Exception):
    """Not an error: the stored answer, carried out of the key's dependency to the route's handler."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


@dataclass
class _Held:
    reservation: Reservation | None = None


#: The reservation of the request a mutating route's handler runs, for the handler to store or release
#: once the route has answered (the dependency that reserves it cannot see the answer).
_held: ContextVar[_Held | None] = ContextVar("platform_v1_idempotency_reservation", default=None)


async def reserve_key(request: Request, caller: CallerDep) -> IdempotencyKey:
    """The key's dependency, after the route's access check: reserve the key, or replay its answer."""
    route: PlatformRoute = request.scope["route"]
    key = _key(request)
    print_ = RequestPrint(request.method, request.url.path, await request.body(), request.url.query)
    held = await keys_of(request).reserve(caller.workspace_id or "platform", caller.actor,
                                          f"{request.method} {route.path_format}", key, print_)
    if isinstance(held, StoredAnswer):
        raise _Replayed(replay(held))
    slot = _held.get()
    assert slot is not None, "reserve_key runs only on an IdempotentRoute"
    slot.reservation = held
    return IdempotencyKey(key, held)


#: The ``Idempotency-Key`` of a mutating route (registered with ``platform_route``), reserved.
KeyDep = Annotated[IdempotencyKey, Depends(reserve_key)]


class IdempotentRoute(PlatformRoute):
    """A mutating route: once its access check has passed, the key is reserved (or its answer replayed)
    before the route runs, and the answer stored after it (unless the route's write stored it)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *,
                 dependencies: Sequence[params.Depends] | None = None, **options: Any) -> None:
        # After the route's own dependencies (the access check), whether or not the endpoint names ``KeyDep``.
        kept = [depends for depends in dependencies or () if depends.dependency is not reserve_key]
        super().__init__(path, endpoint, dependencies=[*kept, Depends(reserve_key)], **options)

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def idempotent_handler(request: Request) -> Response:
            slot = _Held()
            token = _held.set(slot)
            try:
                response = await handler(request)
            except _Replayed as replayed:
                return replayed.response
            except BaseException:
                # A release deletes the reservation only while it holds no answer: a write that raised
                # rolled back the answer it stored.
                if slot.reservation is not None:
                    await keys_of(request).release(slot.reservation)
                raise
            finally:
                _held.reset(token)
            held = slot.reservation
            if held is None or held.stored:
                return response
            if response.status_code >= 500:
                await keys_of(request).release(held)
            else:
                await keys_of(request).store(held, answer_of(response))
            return response

        return idempotent_handler
