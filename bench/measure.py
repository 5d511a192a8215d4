"""Closed-loop load: N clients, each sending one request at a time, and what a phase of it
measured (throughput, latency percentiles, CPU by process role)."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.stack import CpuSampler

REQUEST_TIMEOUT = 60.0        # seconds, every single HTTP call or Temporal RPC


@dataclass
class Outcome:
    kind: str                 # "ok" | "conflict" | "error"
    detail: str | None = None


OK = Outcome("ok")


@dataclass
class PhaseResult:
    measurement: str
    path: str                 # "api" | "direct"
    round: int
    clients: int
    wall_seconds: float = 0.0
    ok: int = 0
    conflicts: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)   # successful calls only
    cpu: dict[str, float] = field(default_factory=dict)
    drain_seconds: float | None = None
    cpu_with_drain: dict[str, float] = field(default_factory=dict)   # phase + drain, % of one core
    timed_out: bool = False
    cpu_before: dict[str, float] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        return {"measurement": self.measurement, "path": self.path, "round": self.round, "clients": self.clients,
                "wall_seconds": round(self.wall_seconds, 3), "ok": self.ok, "conflicts": self.conflicts,
                "errors": self.errors, "ok_per_second": round(rate(self.ok, self.wall_seconds), 1),
                **percentiles(self.latencies_ms), "error_kinds": self.error_kinds,
                "error_samples": self.error_samples, "cpu_percent_of_one_core": self.cpu,
                "drain_seconds": self.drain_seconds, "cpu_with_drain_percent_of_one_core": self.cpu_with_drain,
                "timed_out": self.timed_out}


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))  # nearest rank
    return ordered[index]


def percentiles(latencies: list[float]) -> dict[str, float | None]:
    def r(v: float | None) -> float | None:
        return round(v, 1) if v is not None else None
    return {"p50_ms": r(percentile(latencies, 50)), "p95_ms": r(percentile(latencies, 95)),
            "p99_ms": r(percentile(latencies, 99)), "max_ms": r(max(latencies) if latencies else None)}


async def closed_loop(result: PhaseResult, seconds: float, max_requests: int | None,
                      op: Callable[[int], Awaitable[Outcome]], sampler: CpuSampler) -> PhaseResult:
    """``result.clients`` clients each send one request at a time until ``seconds`` have passed
    or ``max_requests`` were sent in all."""
    issued = 0
    started = time.monotonic()
    deadline = started + seconds

    async def client(i: int) -> None:
        nonlocal issued
        while time.monotonic() < deadline and (max_requests is None or issued < max_requests):
            issued += 1
            t0 = time.perf_counter()
            try:
                outcome = await op(i)
            except Exception as exc:  # noqa: BLE001 - counted, never fatal
                outcome = Outcome("error", f"{type(exc).__name__}: {exc}")
            elapsed_ms = (time.perf_counter() - t0) * 1000
            if outcome.kind == "ok":
                result.ok += 1
                result.latencies_ms.append(elapsed_ms)
            elif outcome.kind == "conflict":
                result.conflicts += 1
            else:
                result.errors += 1
                key = (outcome.detail or "error").split(":")[0][:80]
                result.error_kinds[key] = result.error_kinds.get(key, 0) + 1
                if len(result.error_samples) < 5:
                    result.error_samples.append((outcome.detail or "")[:300])

    before = result.cpu_before = sampler.snapshot()
    tasks = [asyncio.create_task(client(i)) for i in range(result.clients)]
    _, pending = await asyncio.wait(tasks, timeout=seconds + REQUEST_TIMEOUT + 30)
    for task in pending:  # only if a call outlived its own timeout
        task.cancel()
        result.timed_out = True
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    result.wall_seconds = time.monotonic() - started
    result.cpu = CpuSampler.usage(before, sampler.snapshot())
    return result


def combine(phases: list[PhaseResult]) -> dict[str, Any]:
    """One path's rounds taken together: requests over total wall time, latencies pooled."""
    wall = sum(p.wall_seconds for p in phases)
    latencies = [x for p in phases for x in p.latencies_ms]
    ok = sum(p.ok for p in phases)
    cpu_roles = {k for p in phases for k in p.cpu}
    cpu = {k: round(sum(p.cpu.get(k, 0.0) * p.wall_seconds for p in phases) / wall, 1) if wall else 0.0
           for k in sorted(cpu_roles)}
    drains = [p.drain_seconds for p in phases if p.drain_seconds is not None]
    kinds: Counter[str] = Counter()
    for p in phases:
        kinds.update(p.error_kinds)
    # CPU milliseconds each role spent per successful request (during the phase itself).
    per_ok = {k: round(v / 100 * wall * 1000 / ok, 2) for k, v in cpu.items() if k != "machine_busy"} if ok else {}
    out = {"rounds": len(phases), "wall_seconds": round(wall, 2), "ok": ok,
           "conflicts": sum(p.conflicts for p in phases), "errors": sum(p.errors for p in phases),
           "ok_per_second": round(rate(ok, wall), 1), **percentiles(latencies), "error_kinds": dict(kinds),
           "cpu_percent_of_one_core": cpu, "cpu_ms_per_ok": per_ok}
    if drains:
        out["drain_seconds"] = round(sum(drains), 2)
        out["processed_per_second"] = round(rate(ok, wall + sum(drains)), 1)
        # CPU ms per request until the backlog was processed (phase + drain).
        spans = [(p.wall_seconds + (p.drain_seconds or 0.0), p.cpu_with_drain) for p in phases]
        roles = {k for _, c in spans for k in c if k != "machine_busy"}
        out["cpu_ms_per_ok_with_drain"] = {k: round(sum(c.get(k, 0.0) / 100 * t for t, c in spans) * 1000 / ok, 2)
                                           for k in sorted(roles)} if ok else {}
    return out


class CapturingSession:
    """Stands in for a route's database session to catch the statements a service builds (for their plans):
    every read answers nothing."""

    def __init__(self) -> None:
        self.statements: list[Any] = []

    async def exec(self, statement: Any) -> Any:
        self.statements.append(statement)
        return self

    def one(self) -> int:
        return 0

    def first(self) -> None:
        return None

    def all(self) -> list:
        return []
