"""The ingest measurement of ``bench/platform_v1.py``: ``POST /api/v1/events/ingest`` in batches.

ingest   Batches of --batch-events events, each with a fresh ``Idempotency-Key`` and fresh event ids, into a
         workspace of its own with one client and one asset. Two mixes, each with one client then ``--clients``
         clients, for ``--seconds`` × 2 each:

         - ``telemetry``: what an RMM or a fleet of edge agents sends most: telemetry (~400 bytes of metrics
           each) with one heartbeat in ten;
         - ``mixed``: the same with 2 % alerts on the asset and 1 % status changes of it (each through the
           record store: a record, its audit entry, its reference lock), and one pipeline failure per batch.

         Then every batch of the last phase again with new keys: all duplicates, nothing applied. Each answer
         is checked (202, received = the batch, accepted + duplicates = received); the ids accepted across a
         phase equal the rows Postgres holds for it. Target: >= 2,000 events/s in batches of 100.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from bench.measure import OK, Outcome, PhaseResult, closed_loop, combine
from bench.platform_v1_measure import PlatformApi, raise_phase_errors, tenant_headers
from bench.stack import BenchError, CpuSampler, log

INGEST = "/api/v1/events/ingest"
TARGET_EVENTS_PER_SECOND = 2000.0
MIXES = ("telemetry", "mixed")


class Batches:
    """Batch bodies of one mix, with fresh event ids, and every body sent (for the duplicates' phase)."""

    def __init__(self, mix: str, size: int, asset_id: str, seed: int) -> None:
        self.mix, self.size, self.asset_id = mix, size, asset_id
        self.rng = random.Random(seed)
        self.sent: list[bytes] = []
        self.counter = 0

    def _event(self, n: int) -> dict[str, Any]:
        self.counter += 1
        event_id = f"bench-{self.mix}-{uuid.uuid4().hex[:16]}"
        roll = self.rng.random()
        if self.mix == "mixed" and n == 0:
            return {"id": event_id, "type": "pipeline.failed", "data": {"pipeline": "nightly",
                                                                        "repository": "acme/widgets"}}
        if self.mix == "mixed" and roll < 0.02:
            return {"id": event_id, "type": "alert.triggered",
                    "data": {"title": f"Disk {self.counter} full", "severity": "error", "assetId": self.asset_id}}
        if self.mix == "mixed" and roll < 0.03:
            return {"id": event_id, "type": "asset.state_changed",
                    "data": {"assetId": self.asset_id, "status": self.rng.choice(["active", "maintenance"])}}
        if roll > 0.9:
            return {"id": event_id, "type": "heartbeat", "data": {"uptimeSeconds": self.counter}}
        return {"id": event_id, "type": "telemetry", "occurredAt": "2026-12-08T01:00:00Z", "data": {
            "cpu": round(self.rng.uniform(0, 100), 2), "memory": round(self.rng.uniform(0, 100), 2),
            "disks": [{"mount": m, "freeBytes": self.rng.randrange(10**9, 10**12)} for m in ("/", "/var", "/home")],
            "load": [round(self.rng.uniform(0, 8), 2) for _ in range(3)],
            "services": {"nginx": "running", "postgres": "running", "backup": "stopped"},
            "host": f"srv-{self.rng.randrange(1000):03d}.eu-1.example"}}

    def body(self) -> bytes:
        body = json.dumps({"source": f"bench-{self.mix}", "events": [self._event(n) for n in range(self.size)]})
        self.sent.append(body.encode())
        return self.sent[-1]


async def ingest_phase(pool: list, bodies: Any, label: str, clients: int, seconds: float, count: int | None,
                       sampler: CpuSampler, expect_duplicates: bool = False) -> tuple[PhaseResult, int, int]:
    totals = {"accepted": 0, "duplicates": 0}

    async def op(i: int) -> Outcome:
        body = bodies()
        response = await pool[i].post(INGEST, content=body, headers={"Idempotency-Key": uuid.uuid4().hex,
                                                                     "Content-Type": "application/json"})
        if response.status_code != 202:
            return Outcome("error", f"HTTP {response.status_code}: {response.text[:200]}")
        batch = response.json()
        received = len(json.loads(body)["events"])
        if batch["received"] != received or batch["accepted"] + batch["duplicates"] != received \
                or (expect_duplicates and batch["accepted"]):
            return Outcome("error", f"unexpected counts: {batch}")
        totals["accepted"] += batch["accepted"]
        totals["duplicates"] += batch["duplicates"]
        return OK

    phase = await closed_loop(PhaseResult("ingest", label, 1, clients), seconds, count, op, sampler)
    raise_phase_errors(f"POST {INGEST} ({label})", phase)
    return phase, totals["accepted"], totals["duplicates"]


async def stored_ids(workspace: str, conninfo: str) -> int:
    import psycopg

    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cursor = await conn.execute("SELECT count(*) FROM platform_ingest_events WHERE workspace_id = %s",
                                    (workspace,))
        return int((await cursor.fetchone())[0])


async def _workspace_with_an_asset(api: PlatformApi) -> tuple[str, str, dict[str, str]]:
    from bench.platform_v1_measure import create_workspaces

    [workspace] = await create_workspaces(api, 1)
    headers = tenant_headers(api, workspace)
    [http] = api.pool(1, headers)
    try:
        client = await http.post("/api/v1/clients", json={"name": "Bench client"},
                                 headers={"Idempotency-Key": uuid.uuid4().hex})
        asset_body = {"clientId": client.json()["id"], "name": "srv-001", "type": "server"}
        asset = await http.post("/api/v1/assets", json=asset_body, headers={"Idempotency-Key": uuid.uuid4().hex})
        if asset.status_code != 201:
            raise BenchError(f"POST /api/v1/assets answered {asset.status_code}: {asset.text[:300]}")
    finally:
        await http.aclose()
    return workspace, asset.json()["id"], headers


def _figures(phase: PhaseResult, batch_events: int, accepted: int, duplicates: int) -> dict[str, Any]:
    out = combine([phase])
    wall = phase.wall_seconds or 1.0
    out.update({"events_per_second": round(phase.ok * batch_events / wall, 1), "accepted": accepted,
                "duplicates": duplicates})
    out["cpu_ms_per_event"] = {k: round(v / batch_events, 3) for k, v in out["cpu_ms_per_ok"].items()}
    return out


async def measure_ingest(api: PlatformApi, args: Any, conninfo: str, sampler: CpuSampler) -> dict[str, Any]:
    workspace, asset_id, headers = await _workspace_with_an_asset(api)
    pool = api.pool(args.clients, headers)
    out: dict[str, Any] = {"clients": args.clients, "batch_events": args.batch_events,
                           "target_events_per_second": TARGET_EVENTS_PER_SECOND, "workspace": workspace}
    seconds = 2 * args.seconds
    try:
        accepted_total = 0
        for seed, mix in enumerate(MIXES):
            batches = Batches(mix, args.batch_events, asset_id, seed)
            await ingest_phase(pool, batches.body, "warmup", args.clients, seconds, 2 * args.clients, sampler)
            accepted_total += 2 * args.clients * args.batch_events
            out[mix] = {}
            for label, clients in (("sequential", 1), ("concurrent", args.clients)):
                first_sent = len(batches.sent)
                phase, accepted, duplicates = await ingest_phase(pool, batches.body, label, clients, seconds, None,
                                                                 sampler)
                if duplicates:
                    raise BenchError(f"{mix} {label}: {duplicates} fresh events answered as duplicates")
                accepted_total += accepted
                out[mix][label] = _figures(phase, args.batch_events, accepted, duplicates)
                log(f"ingest {mix}, {clients} client(s): {out[mix][label]['events_per_second']:.0f} events/s, "
                    f"batch p50/p99 {out[mix][label]['p50_ms']}/{out[mix][label]['p99_ms']} ms")
            resent = iter(batches.sent[first_sent:])
            phase, accepted, duplicates = await ingest_phase(pool, resent.__next__, "duplicates", args.clients,
                                                             seconds, len(batches.sent) - first_sent, sampler,
                                                             expect_duplicates=True)
            out[mix]["duplicates"] = _figures(phase, args.batch_events, accepted, duplicates)
        held = await stored_ids(workspace, conninfo)
        if held != accepted_total:
            raise BenchError(f"Postgres holds {held} event ids of the workspace, the answers accepted {accepted_total}")
        out["event_ids_stored"] = held
    finally:
        for client in pool:
            await client.aclose()
    best = max(out[mix][label]["events_per_second"] for mix in MIXES for label in ("sequential", "concurrent"))
    out["met"] = out["telemetry"]["concurrent"]["events_per_second"] >= TARGET_EVENTS_PER_SECOND
    out["best_events_per_second"] = best
    return out


def render_ingest(data: dict[str, Any]) -> list[str]:
    from bench.stack import fmt

    lines = [f"  batches of {data['batch_events']} events, a fresh Idempotency-Key each; "
             f"{'':<2}CPU ms per event (API, Postgres)",
             f"  {'':<34}{'clients':>8}{'events/s':>10}{'batch p50':>10}{'p99 ms':>8}"]
    for mix in MIXES:
        for label in ("sequential", "concurrent", "duplicates"):
            d = data[mix][label]
            clients = 1 if label == "sequential" else data["clients"]
            title = f"{mix}, {'all duplicates' if label == 'duplicates' else 'new events'}"
            cpu = d["cpu_ms_per_event"]
            lines.append(f"  {title:<34}{clients:>8}{d['events_per_second']:>10.0f}{fmt(d['p50_ms'], '.1f'):>10}"
                         f"{fmt(d['p99_ms'], '.1f'):>8}  api {cpu.get('api', 0):.3f}, postgres "
                         f"{cpu.get('postgres', 0):.3f}")
    lines.append(f"  event ids Postgres holds = accepted in the answers: {data['event_ids_stored']:,}")
    lines.append(f"  target >= {data['target_events_per_second']:,.0f} events/s (telemetry, {data['clients']} "
                 f"clients): {'met' if data['met'] else 'NOT met'}")
    return lines
