"""What ``Idempotency-Key`` adds to a create, measured alone (``bench/platform_v1.py``, part 2).

The API refuses a mutation without a key (400 ``idempotency_key_required``) and has no switch to skip it,
so "the same creates without the key" cannot be sent. They are estimated instead: the key's own work is
run alone, with the API's own code, from this process against the stack's database, and subtracted
from the keyed creates measured through the API.

The key's work in a create is (``api/platform_v1/services/idempotency_keys.py``): ``Keys.reserve`` — a
pooled connection of its own (SQLAlchemy's pre-ping) and one autocommitted ``INSERT … ON CONFLICT DO UPDATE …
WHERE expires_at <= now RETURNING`` — then ``Reservation.store``: one ``UPDATE`` inside the create's own
transaction, whose commit the create pays anyway. So each timed operation is
``reserve`` plus that ``UPDATE`` run in an open transaction (its ``BEGIN`` and ``COMMIT`` untimed). For
CPU, the same loop without ``reserve`` and ``UPDATE`` (the open transaction, a ``SELECT 1``, the commit)
is run as well and subtracted, so only the key's statements count.

One more loop, not what the API does: the same key statements on connections with
``synchronous_commit=off``, to show how much of the key's time is the reservation's own commit waiting for
its WAL flush.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bench.measure import percentiles
from bench.platform_v1_data import ACTOR, Loaded
from bench.platform_v1_measure import ROUTE, TICKETS, Creates
from bench.stack import CpuSampler, log

KEYED_CREATE_TARGET = 0.8
CPU_ROLES = ("bench", "postgres")


async def timed_loop(op: Callable[[], Awaitable[float]], clients: int, count: int,
                     sampler: CpuSampler) -> dict[str, Any]:
    """``count`` calls of ``op`` from ``clients`` concurrent loops: the times ``op`` reports, and CPU per call."""
    latencies: list[float] = []
    budget = iter(range(count))

    async def loop() -> None:
        for _ in budget:
            latencies.append(await op())

    before = sampler.snapshot()
    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(clients)))
    wall = time.monotonic() - started
    cpu = CpuSampler.usage(before, sampler.snapshot())
    n = len(latencies)
    return {"ok": n, "clients": clients, "wall_seconds": round(wall, 2), "mean_ms": round(sum(latencies) / n, 2),
            **percentiles(latencies), "cpu_percent_of_one_core": cpu,
            "cpu_ms_per_op": {k: round(cpu.get(k, 0.0) / 100 * wall * 1000 / n, 3) for k in CPU_ROLES}}


async def measure_key_statements(conninfo: str, loaded: Loaded, args: Any, sampler: CpuSampler) -> dict[str, Any]:
    from pydantic_core import to_json
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from api.platform_v1.services.idempotency_keys import Keys, RequestPrint, Reservation, StoredAnswer
    from capstan.db import async_url, create_engine, create_session_factory
    from capstan.settings import DatabaseSettings

    creates = Creates(loaded)
    engine = create_engine(DatabaseSettings(CAPSTAN_DATABASE_URL=conninfo))  # the API's engine options
    async_commit = create_async_engine(async_url(conninfo), pool_size=5, max_overflow=5, pool_pre_ping=True,
                                       connect_args={"options": "-c synchronous_commit=off"})
    # The answer stored with the key: a ticket as the API renders it.
    answer = {"id": f"tkt_{uuid.uuid4().hex}", "workspaceId": loaded.big, **json.loads(creates.body()), "version": 1,
              "createdAt": "2026-12-05T00:00:00.000000Z", "updatedAt": "2026-12-05T00:00:00.000000Z",
              "createdBy": ACTOR, "updatedBy": ACTOR}
    stored = StoredAnswer(201, to_json(answer), {"etag": '"1"', "location": f"{TICKETS}/{answer['id']}",
                                                 "content-type": "application/json"})

    engines = {"api": engine, "async_commit": async_commit}
    factories = {name: create_session_factory(bound) for name, bound in engines.items()}

    async def with_key(kind: str = "api") -> float:
        sessions = factories[kind]
        keys = Keys(engines[kind], sessions, timedelta(hours=24))  # per request, as the API makes it
        body = creates.body()
        started = time.perf_counter()
        held = await keys.reserve(loaded.big, "bench-keys", ROUTE, uuid.uuid4().hex,
                                  RequestPrint("POST", TICKETS, body))
        reserved = time.perf_counter()
        assert isinstance(held, Reservation), "a fresh key is reserved, never replayed"
        async with sessions() as db, db.begin():
            await db.exec(text("SELECT 1"))  # the create's transaction, which already holds its connection
            stored_from = time.perf_counter()
            await held.store(db, stored)
            done = time.perf_counter()
        return (reserved - started + done - stored_from) * 1000  # its commit is the create's own

    async def scaffold() -> float:
        """``with_key`` without the key: the body, the open transaction, ``SELECT 1``, the commit."""
        creates.body()
        async with factories["api"]() as db, db.begin():
            await db.exec(text("SELECT 1"))
        return 0.0

    out: dict[str, Any] = {}
    try:
        for _ in range(2 * args.clients):  # warm-up: the pool's connections open
            await with_key()
        for label, clients in (("sequential", 1), ("concurrent", args.clients)):
            keyed = await timed_loop(with_key, clients, args.creates, sampler)
            base = await timed_loop(scaffold, clients, args.creates, sampler)
            keyed["scaffold_cpu_ms_per_op"] = base["cpu_ms_per_op"]
            keyed["cpu_ms_per_ok"] = {k: round(max(0.0, keyed["cpu_ms_per_op"][k] - base["cpu_ms_per_op"][k]), 2)
                                      for k in CPU_ROLES}
            out[label] = keyed
            log(f"keys: {keyed['ok']} reserve + store, {clients} client(s): mean {keyed['mean_ms']} ms, CPU "
                f"{keyed['cpu_ms_per_ok']} ms each")
        for _ in range(2):
            await with_key("async_commit")  # warm-up
        out["sequential_async_commit"] = await timed_loop(lambda: with_key("async_commit"), 1, args.creates,
                                                          sampler)
        log(f"keys with synchronous_commit=off: mean {out['sequential_async_commit']['mean_ms']} ms")
    finally:
        await engine.dispose()
        await async_commit.dispose()
    return out


def keyed_ratio(creates: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """Keyed creates against the same creates without the key's statements, two ways:

    - time, one client: each create's wall time is its cost: (mean create − mean key) / mean create;
    - CPU, several clients: the API is busy, so throughput follows CPU per create: (API + Postgres CPU of a
      create − CPU of the key's statements, this process's and Postgres') / (API + Postgres CPU of a create).
    """
    seq, conc = creates["sequential"]["keyed"], creates["concurrent"]["keyed"]
    create_ms = 1000 * seq["wall_seconds"] / seq["ok"]
    key_ms = keys["sequential"]["mean_ms"]
    by_time = (create_ms - key_ms) / create_ms
    create_cpu = sum(conc["cpu_ms_per_ok"].get(k, 0.0) for k in ("api", "postgres"))
    key_cpu = sum(keys["concurrent"]["cpu_ms_per_ok"].values())
    by_cpu = (create_cpu - key_cpu) / create_cpu if create_cpu else None
    return {"create_ms_one_client": round(create_ms, 2), "key_ms_one_client": key_ms,
            "ratio_by_time": round(by_time, 3), "create_cpu_ms": round(create_cpu, 2), "key_cpu_ms": round(key_cpu, 2),
            "ratio_by_cpu": round(by_cpu, 3) if by_cpu is not None else None, "target": KEYED_CREATE_TARGET,
            "met": by_time >= KEYED_CREATE_TARGET and (by_cpu is None or by_cpu >= KEYED_CREATE_TARGET)}
