"""A benchmark's connection to the stack it measures: the HTTP API and the Temporal frontend,
and the set-up and waiting every measurement shares."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

from bench.measure import REQUEST_TIMEOUT, Outcome, PhaseResult, closed_loop, combine, percentile, rate
from bench.stack import BenchError, CpuSampler, log

SETTLE_TIMEOUT = 180.0        # seconds, one wait_idle


@dataclass
class Target:
    api_url: str
    temporal_address: str
    namespace: str
    api_token: str | None
    webhook_secret: str | None


class BenchSession:
    """What the measurements share: ``args`` (the command line), an HTTP client on the API, a
    temporalio client with the project's data converter, the work dir and the CPU sampler."""

    def __init__(self, args: argparse.Namespace, target: Target, work_dir: Path, sampler: CpuSampler) -> None:
        self.args = args
        self.target = target
        self.work_dir = work_dir
        self.sampler = sampler
        self.headers = {"Authorization": f"Bearer {target.api_token}"} if target.api_token else {}
        self.http = None
        self.temporal = None

    async def __aenter__(self) -> Self:
        import httpx
        from temporalio.client import Client
        from temporalio.contrib.pydantic import pydantic_data_converter

        self.http = httpx.AsyncClient(base_url=self.target.api_url, headers=self.headers,
                                      timeout=REQUEST_TIMEOUT, trust_env=False)
        # The same payload converter as the API and the worker.
        self.temporal = await asyncio.wait_for(
            Client.connect(self.target.temporal_address, namespace=self.target.namespace,
                           data_converter=pydantic_data_converter), REQUEST_TIMEOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.aclose()

    def client_pool(self, size: int | None = None) -> list:
        """One keep-alive HTTP client per benchmark client (``--clients`` unless ``size``), as
        separate callers would have."""
        import httpx

        return [httpx.AsyncClient(base_url=self.target.api_url, headers=self.headers, timeout=REQUEST_TIMEOUT,
                                  trust_env=False, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
                for _ in range(self.args.clients if size is None else size)]

    async def post(self, path: str, expect: int = 200, **kwargs) -> dict[str, Any]:
        response = await self.http.post(path, **kwargs)
        if response.status_code != expect:
            raise BenchError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def get(self, path: str, **kwargs) -> Any:
        response = await self.http.get(path, **kwargs)
        if response.status_code != 200:
            raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def check_api(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(Exception):  # retried until the deadline
                if (await self.http.get("/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise BenchError(f"the API at {self.target.api_url} does not answer /healthz")
            await asyncio.sleep(0.5)

    async def create_project(self, name: str, remote: Path) -> dict[str, Any]:
        return await self.post("/projects", json={"name": name, "git_url": str(remote), "base_branch": "main"})

    async def wait_project_setup(self, project_id: int) -> None:
        """Let the setup workflow (a clone into the worker's cache) finish before measuring."""
        from models.protocols.workflow_io import project_setup_workflow_id

        handle = self.temporal.get_workflow_handle(project_setup_workflow_id(project_id))
        with contextlib.suppress(Exception):
            await handle.result(rpc_timeout=timedelta(seconds=SETTLE_TIMEOUT))

    async def create_runs(self, project_id: int, prefix: str, count: int) -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(4)

        async def one(i: int) -> dict[str, Any]:
            async with gate:
                return await self.post(f"/projects/{project_id}/protocols",
                                       json={"protocol_name": f"{prefix}-{i:03d}", "description": "benchmark run"})
        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def settle(self, run_id: int) -> str | None:
        """The ``wait_idle`` Update: returns once the work the run's actions started is done."""
        from models.protocols.workflow_io import Update, protocol_run_workflow_id

        handle = self.temporal.get_workflow_handle(protocol_run_workflow_id(run_id))
        return await handle.execute_update(Update.WAIT_IDLE, result_type=str,
                                           rpc_timeout=timedelta(seconds=SETTLE_TIMEOUT))

    async def drain(self, run_ids: list[int], timeout: float) -> float:
        """Wait until no run has a pending activity or workflow task (the signals sent are
        processed); returns the seconds it took."""
        from models.protocols.workflow_io import protocol_run_workflow_id

        started = time.monotonic()
        gate = asyncio.Semaphore(8)

        async def busy(run_id: int) -> bool:
            async with gate:
                desc = await self.temporal.get_workflow_handle(protocol_run_workflow_id(run_id)).describe(
                    rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT))
            raw = desc.raw_description
            if raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt >= 3:
                # A failing workflow task never drains (e.g. the code changed under a running worker).
                raise BenchError(f"workflow tasks of protocol run {run_id} are failing (attempt "
                                 f"{raw.pending_workflow_task.attempt}); see the worker log")
            return bool(raw.pending_activities) or raw.HasField("pending_workflow_task")

        while time.monotonic() - started < timeout:
            flags = await asyncio.gather(*(busy(r) for r in run_ids), return_exceptions=True)
            failing = next((f for f in flags if isinstance(f, BenchError)), None)
            if failing is not None:
                raise failing
            if not any(f is True or isinstance(f, Exception) for f in flags):
                return time.monotonic() - started
            await asyncio.sleep(0.5)
        log(f"runs still busy after {timeout:.0f}s of draining; going on")
        return time.monotonic() - started

    # API path vs direct Temporal path (actions and webhooks)

    def paths(self) -> list[str]:
        return ["api", "direct"] + (["with_start"] if self.args.diagnose else [])

    def start_kwargs(self, project: dict[str, Any], run: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The workflow input and start options the API sends with every action and CI report
        (``api/protocols/services/protocol_workflows.py``), built once from the records the API returned,
        for the ``with_start`` diagnostic path."""
        from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

        from models.common import search_attributes as sa
        from models.protocols.workflow_io import (
            ProjectSnapshot,
            ProtocolRunInput,
            ProtocolRunSnapshot,
            RunOptions,
            protocol_run_workflow_id,
        )

        wf_input = ProtocolRunInput(
            project=ProjectSnapshot(id=project["id"], name=project["name"], git_url=project["git_url"],
                                    base_branch=project["base_branch"], ci_provider=project.get("ci_provider")),
            run=ProtocolRunSnapshot(id=run["id"], protocol_name=run["protocol_name"], status=run["status"],
                                    base_branch=run["base_branch"], description=run.get("description")),
            options=RunOptions())
        kwargs = {"id": protocol_run_workflow_id(run["id"]), "task_queue": self.args.task_queue,
                  "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
                  "search_attributes": TypedSearchAttributes([
                      SearchAttributePair(sa.PROJECT_ID, project["id"]),
                      SearchAttributePair(sa.PROTOCOL_RUN_ID, run["id"]),
                      SearchAttributePair(sa.RUN_KIND, "protocol_run"),
                      SearchAttributePair(sa.STATUS, run["status"])])}
        return wf_input, kwargs

    async def run_paths(self, measurement: str, ops: Callable[[str], Awaitable[Callable[[int], Awaitable[Outcome]]]],
                        after: Callable[[PhaseResult], Awaitable[None]] | None = None) -> dict[str, list[PhaseResult]]:
        """Every path once per round, the order rotating from round to round so that no path
        always runs first (on a cold server) or last (on a grown database)."""
        paths = self.paths()
        phases: dict[str, list[PhaseResult]] = {p: [] for p in paths}
        for round_no in range(self.args.rounds):
            shift = round_no % len(paths)
            for path in paths[shift:] + paths[:shift]:
                op = await ops(path)
                log(f"{measurement} round {round_no + 1}/{self.args.rounds}: {path} ...")
                result = await closed_loop(PhaseResult(measurement, path, round_no + 1, self.args.clients),
                                           self.args.seconds, self.args.requests, op, self.sampler)
                if after is not None:
                    await after(result)
                phases[path].append(result)
                drained = f", backlog drained in {result.drain_seconds:.1f}s" if result.drain_seconds is not None \
                    else ""
                log(f"  {path}: {rate(result.ok, result.wall_seconds):.1f} ok/s, "
                    f"p50 {percentile(result.latencies_ms, 50) or 0:.0f} ms, {result.conflicts} conflicts, "
                    f"{result.errors} errors{drained}")
        return phases

    def summarize(self, phases: dict[str, list[PhaseResult]], target: float) -> dict[str, Any]:
        out: dict[str, Any] = {"clients": self.args.clients, "seconds_per_phase": self.args.seconds}
        for path, results in phases.items():
            out[path] = combine(results)
        direct = out["direct"]["ok_per_second"]
        ratio = out["api"]["ok_per_second"] / direct if direct else None
        out.update({"ratio": round(ratio, 3) if ratio is not None else None, "target": target,
                    "met": ratio is not None and ratio >= target})
        if "with_start" in out and out["with_start"]["ok_per_second"]:
            out["ratio_api_to_with_start"] = round(out["api"]["ok_per_second"] / out["with_start"]["ok_per_second"],
                                                   3)
        out["phases"] = [p.summary() for results in phases.values() for p in results]
        return out
