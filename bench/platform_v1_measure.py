"""The measurements of ``bench/platform_v1.py``.

lists    ``GET /api/v1/tickets`` of the big workspace (and of a small one) at the defaults, with
         ``sortBy=priority`` and with a ``q`` word, on page 1 and deep: one client, then ``--clients``
         clients, each for ``--seconds``; the first answer of each case is checked (total, page, order).
         Beside each, ``EXPLAIN (ANALYZE, BUFFERS)`` of the two statements the route runs.
creates  ``POST /api/v1/tickets`` with a fresh ``Idempotency-Key`` each (one client, then ``--clients``),
         then the same requests again (replays: the stored answer, ``Idempotent-Replayed: true``).

What the key adds to a create, measured alone, is ``bench/platform_v1_keys.py``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.measure import OK, Outcome, PhaseResult, closed_loop, combine
from bench.platform_v1_data import ACTOR, Loaded, alternatives, explain, list_sql, ticket_body
from bench.stack import BenchError, CpuSampler, log

REQUEST_TIMEOUT = 60.0
LIST_TARGET_P99_MS = 50.0
TICKETS = "/api/v1/tickets"
ROUTE = f"POST {TICKETS}"


class PlatformApi:
    """Tokens signed like ``capstan token`` (HS256 with the stack's ``CAPSTAN_JWT_SECRET``) and keep-alive clients."""

    def __init__(self, api_url: str, jwt_secret: str) -> None:
        self.api_url = api_url
        self.secret = jwt_secret

    def token(self, role: str, workspaces: list[str] | None = None, ttl: int = 6 * 3600) -> str:
        import jwt

        now = int(time.time())
        claims = {"sub": ACTOR, "roles": [role], "workspaces": workspaces or [], "iat": now, "exp": now + ttl}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def pool(self, size: int, headers: dict[str, str]) -> list:
        """One keep-alive connection per client, as separate callers would have."""
        import httpx

        return [httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=REQUEST_TIMEOUT, trust_env=False,
                                  limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
                for _ in range(size)]


async def create_workspaces(api: PlatformApi, count: int) -> list[str]:
    """``count`` workspaces through ``POST /api/v1/workspaces`` (a ``platform_admin`` token)."""
    [http] = api.pool(1, {"Authorization": f"Bearer {api.token('platform_admin')}"})
    ids = []
    try:
        for n in range(count):
            response = await http.post("/api/v1/workspaces", json={"name": f"bench workspace {n + 1}"},
                                       headers={"Idempotency-Key": uuid.uuid4().hex})
            if response.status_code != 201:
                raise BenchError(f"POST /api/v1/workspaces answered {response.status_code}: {response.text[:300]}")
            ids.append(response.json()["id"])
    finally:
        await http.aclose()
    return ids


def raise_phase_errors(what: str, result: PhaseResult) -> None:
    if result.errors or result.conflicts or result.timed_out:
        raise BenchError(f"{what}: {result.errors} of {result.ok + result.errors + result.conflicts} requests "
                         f"failed{' (timed out)' if result.timed_out else ''}: {result.error_kinds}; "
                         f"e.g. {result.error_samples[:2]}")


def tenant_headers(api: PlatformApi, workspace: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token('ops_engineer', [workspace])}", "x-workspace-id": workspace}


# --- lists -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListCase:
    key: str
    what: str
    workspace: str
    params: dict[str, str]
    expected_total: int

    @property
    def path(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{TICKETS}?{query}" if query else TICKETS


def list_cases(loaded: Loaded) -> list[ListCase]:
    from bench.platform_v1_data import COMMON_WORD, RARE_WORD

    big, small = loaded.big, loaded.workspaces[-1]
    total = loaded.tickets[big]

    def deep(n: int) -> str:
        """Half-way down, on a multiple of 50 once there are a few pages."""
        return str(n // 2 // 50 * 50 if n >= 200 else n // 2)

    cases = [ListCase("default", "newest first, page 1", big, {}, total),
             ListCase("default_deep", "newest first, half-way down", big, {"offset": deep(total)}, total),
             ListCase("priority", "sortBy=priority (indexed), page 1", big, {"sortBy": "priority"}, total),
             ListCase("priority_deep", "sortBy=priority, half-way down", big,
                      {"sortBy": "priority", "offset": deep(total)}, total),
             ListCase("q_rare", f"q={RARE_WORD} (~1 %), page 1", big, {"q": RARE_WORD}, loaded.rare_matches),
             ListCase("q_rare_deep", f"q={RARE_WORD}, half-way down", big,
                      {"q": RARE_WORD, "offset": deep(loaded.rare_matches)}, loaded.rare_matches),
             ListCase("q_common", f"q={COMMON_WORD} (~40 %), page 1", big, {"q": COMMON_WORD}, loaded.common_matches),
             ListCase("q_common_deep", f"q={COMMON_WORD}, half-way down", big,
                      {"q": COMMON_WORD, "offset": deep(loaded.common_matches)}, loaded.common_matches)]
    if small != big:
        cases.append(ListCase("small_default", "a small workspace, newest first, page 1", small, {},
                              loaded.tickets[small]))
    return cases


def check_page(case: ListCase, body: dict[str, Any]) -> None:
    """The first answer of a case: the envelope, the total, the page size, the order asked for."""
    from models.platform_v1.schemas import PRIORITY_RANK

    page, sort = body.get("page", {}), body.get("sort", {})
    offset = int(case.params.get("offset", 0))
    expected_returned = max(0, min(50, case.expected_total - offset))
    by = case.params.get("sortBy", "createdAt")
    problems = []
    if page.get("total") != case.expected_total:
        problems.append(f"total {page.get('total')} (expected {case.expected_total})")
    if page.get("returned") != expected_returned or len(body.get("data", [])) != expected_returned:
        problems.append(f"returned {page.get('returned')} (expected {expected_returned})")
    if sort != {"by": by, "order": "desc"}:
        problems.append(f"sort {sort}")
    data = body.get("data", [])
    keys = [PRIORITY_RANK.index(t["priority"]) for t in data] if by == "priority" else [t["createdAt"] for t in data]
    if keys != sorted(keys, reverse=True):
        problems.append(f"not in descending {by} order")
    if any(t.get("workspaceId") != case.workspace for t in data):
        problems.append("a ticket of another workspace")
    if problems:
        raise BenchError(f"GET {case.path}: " + "; ".join(problems))


async def measure_list(api: PlatformApi, case: ListCase, clients: int, seconds: float, conninfo: str,
                       sampler: CpuSampler) -> dict[str, Any]:
    pool = api.pool(clients, tenant_headers(api, case.workspace))
    try:
        first = await pool[0].get(TICKETS, params=case.params)
        if first.status_code != 200:
            raise BenchError(f"GET {case.path} answered {first.status_code}: {first.text[:300]}")
        check_page(case, first.json())
        for client in pool:  # warm-up: connections open, plans and caches in place
            for _ in range(3):
                (await client.get(TICKETS, params=case.params)).raise_for_status()

        async def op(i: int) -> Outcome:
            response = await pool[i].get(TICKETS, params=case.params)
            return OK if response.status_code == 200 else Outcome("error", f"HTTP {response.status_code}: "
                                                                           f"{response.text[:200]}")

        out: dict[str, Any] = {"key": case.key, "what": case.what, "path": case.path,
                               "total": case.expected_total}
        for label, n in (("sequential", 1), ("concurrent", clients)):
            phase = await closed_loop(PhaseResult(case.key, label, 1, n), seconds, None, op, sampler)
            raise_phase_errors(f"GET {case.path} ({label})", phase)
            out[label] = combine([phase])
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    statements = await list_sql(case.workspace, case.params.get("sortBy"), case.params.get("sortOrder"),
                                case.params.get("q"), int(case.params.get("offset", 0)))
    count_plan, page_plan = [await asyncio.to_thread(explain, conninfo, sql, params) for sql, params in statements]
    out["plans"] = {"count": count_plan, "page": page_plan}
    out["alternatives"] = await asyncio.to_thread(alternatives, conninfo, case.workspace, case.params.get("sortBy"),
                                                  case.params.get("q"), int(case.params.get("offset", 0)))
    out["met"] = all(out[label]["p99_ms"] is not None and out[label]["p99_ms"] < LIST_TARGET_P99_MS
                     for label in ("sequential", "concurrent"))
    s, c = out["sequential"], out["concurrent"]
    log(f"  {case.path}: p50/p99 {s['p50_ms']}/{s['p99_ms']} ms (1 client), {c['p50_ms']}/{c['p99_ms']} ms "
        f"({clients} clients); SQL count {count_plan['execution_time']}, page {page_plan['execution_time']}")
    return out


async def measure_lists(api: PlatformApi, loaded: Loaded, args: Any, conninfo: str,
                        sampler: CpuSampler) -> dict[str, Any]:
    cases = list_cases(loaded)
    log(f"lists: {len(cases)} cases, {args.seconds:g}s with 1 client then {args.seconds:g}s with {args.clients}")
    out = [await measure_list(api, case, args.clients, args.seconds, conninfo, sampler) for case in cases]
    return {"clients": args.clients, "seconds": args.seconds, "target_p99_ms": LIST_TARGET_P99_MS, "cases": out,
            "met": all(case["met"] for case in out)}


# --- creates -----------------------------------------------------------------------------------------

class Creates:
    """Ticket bodies for the big workspace, and the (key, body, answer) of each create for its replay."""

    def __init__(self, loaded: Loaded) -> None:
        self.rng = random.Random(21)
        self.clients = loaded.clients[loaded.big]
        self.now = datetime.now(UTC)
        self.done: list[tuple[str, bytes, str]] = []

    def body(self) -> bytes:
        return json.dumps(ticket_body(self.rng, self.rng.choice(self.clients), self.now)).encode()


def created(response: Any) -> str | None:
    """The new ticket's id, when ``response`` is a first-time 201."""
    if response.status_code == 201 and "idempotent-replayed" not in response.headers:
        ticket_id = response.json().get("id", "")
        return ticket_id if ticket_id.startswith("tkt_") else None
    return None


async def create_phase(pool: list, creates: Creates, label: str, clients: int, count: int, seconds: float,
                       sampler: CpuSampler) -> tuple[PhaseResult, list[tuple[str, bytes, str]]]:
    done: list[tuple[str, bytes, str]] = []

    async def op(i: int) -> Outcome:
        key, body = uuid.uuid4().hex, creates.body()
        response = await pool[i].post(TICKETS, content=body, headers={"Idempotency-Key": key,
                                                                      "Content-Type": "application/json"})
        ticket_id = created(response)
        if ticket_id is None:
            return Outcome("error", f"HTTP {response.status_code}: {response.text[:200]}")
        done.append((key, body, ticket_id))
        return OK

    phase = await closed_loop(PhaseResult("create", label, 1, clients), seconds, count, op, sampler)
    raise_phase_errors(f"POST {TICKETS} ({label})", phase)
    return phase, done


async def replay_phase(pool: list, done: list[tuple[str, bytes, str]], label: str, clients: int, seconds: float,
                       sampler: CpuSampler) -> PhaseResult:
    pending = iter(done)

    async def op(i: int) -> Outcome:
        key, body, ticket_id = next(pending)
        response = await pool[i].post(TICKETS, content=body, headers={"Idempotency-Key": key,
                                                                      "Content-Type": "application/json"})
        if response.status_code == 201 and response.headers.get("idempotent-replayed") == "true" \
                and response.json().get("id") == ticket_id:
            return OK
        return Outcome("error", f"HTTP {response.status_code} replayed={response.headers.get('idempotent-replayed')}"
                                f": {response.text[:200]}")

    phase = await closed_loop(PhaseResult("replay", label, 1, clients), seconds, len(done), op, sampler)
    raise_phase_errors(f"POST {TICKETS} replays ({label})", phase)
    return phase


async def listed_total(pool: list) -> int:
    response = await pool[0].get(TICKETS, params={"limit": "1"})
    response.raise_for_status()
    return response.json()["page"]["total"]


async def measure_creates(api: PlatformApi, loaded: Loaded, args: Any, sampler: CpuSampler) -> dict[str, Any]:
    creates = Creates(loaded)
    pool = api.pool(args.clients, tenant_headers(api, loaded.big))
    out: dict[str, Any] = {"clients": args.clients, "creates_per_phase": args.creates}
    try:
        before = await listed_total(pool)
        warm, _ = await create_phase(pool, creates, "warmup", args.clients, 2 * args.clients, args.seconds, sampler)
        made = warm.ok
        for label, clients in (("sequential", 1), ("concurrent", args.clients)):
            log(f"creates: {args.creates} keyed creates, {clients} client(s)")
            phase, done = await create_phase(pool, creates, label, clients, args.creates, 10 * args.seconds,
                                             sampler)
            made += phase.ok
            log(f"creates: replaying those {len(done)} keys, {clients} client(s)")
            replay = await replay_phase(pool, done, label, clients, 10 * args.seconds, sampler)
            out[label] = {"keyed": combine([phase]), "replay": combine([replay])}
        after = await listed_total(pool)
        if after - before != made:
            raise BenchError(f"the workspace lists {after - before} new tickets after {made} creates (and their "
                             "replays, which must create none)")
        out["tickets_created"] = made
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    return out
