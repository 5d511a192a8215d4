"""2. Webhooks: signed GitHub ``workflow_run`` deliveries (POST /webhooks/github?protocol_run_id=)
beside the same ``ci_report`` Signals sent directly, each phase on fresh runs, then the wait
until the workflows processed the backlog. Target: API/direct >= 0.7."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bench.measure import OK, REQUEST_TIMEOUT, Outcome, PhaseResult
from bench.repos import make_bare_remote
from bench.session import BenchSession
from bench.stack import CpuSampler, log

WEBHOOKS_TARGET = 0.7


def signed_delivery(secret: str | None, branch: str) -> tuple[bytes, dict[str, str]]:
    payload = {"action": "completed",
               "workflow_run": {"conclusion": "success", "status": "completed", "head_branch": branch}}
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "workflow_run",
               "X-GitHub-Delivery": str(uuid.uuid4())}
    if secret:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return body, headers


async def measure_webhooks(bench: BenchSession) -> dict[str, Any]:
    from models.protocols.workflow_io import CiOutcome, CiReport, Signal, WorkflowName, protocol_run_workflow_id

    n = bench.args.clients
    secret = bench.target.webhook_secret
    remote = make_bare_remote(bench.work_dir, "webhooks", {"README.md": "bench\n"})
    project = await bench.create_project("bench-webhooks", remote)
    await bench.wait_project_setup(project["id"])

    # Is the route there? One signed delivery to a throwaway run.
    [probe] = await bench.create_runs(project["id"], f"bench-probe-{project['id']}", 1)
    body, headers = signed_delivery(secret, probe["protocol_name"])
    answer = await bench.http.post("/webhooks/github", params={"protocol_run_id": probe["id"]}, content=body,
                                   headers=headers)
    if answer.status_code != 200:
        reason = f"POST /webhooks/github answered {answer.status_code}: {answer.text[:200]}"
        log(f"webhooks: skipped; {reason}")
        return {"skipped": True, "reason": reason}

    def report(branch: str) -> CiReport:
        return CiReport(outcome=CiOutcome.SUCCESS, source="github", event_name="workflow_run", status="success",
                        delivery_id=str(uuid.uuid4()), branch=branch)

    pool = bench.client_pool()
    current: dict[str, list[int]] = {}
    phase_no = 0

    async def ops(path: str) -> Callable[[int], Awaitable[Outcome]]:
        # Fresh runs for every phase: no phase works on a history another one grew.
        nonlocal phase_no
        phase_no += 1
        runs = await bench.create_runs(project["id"], f"bench-hooks-{project['id']}-{phase_no}", n)
        ids = [r["id"] for r in runs]
        names = [r["protocol_name"] for r in runs]
        handles = [bench.temporal.get_workflow_handle(protocol_run_workflow_id(r)) for r in ids]
        starts = [bench.start_kwargs(project, r) for r in runs]
        current["ids"] = ids
        await bench.drain(ids, 60)

        async def via_api(i: int) -> Outcome:
            body, headers = signed_delivery(secret, names[i])
            response = await pool[i].post("/webhooks/github", params={"protocol_run_id": ids[i]},
                                          content=body, headers=headers)
            if response.status_code == 200 and response.json().get("message") == "Webhook recorded":
                return OK
            return Outcome("error", f"HTTP {response.status_code}: {response.text[:200]}")

        async def direct(i: int) -> Outcome:
            await handles[i].signal(Signal.CI_REPORT, report(names[i]),
                                    rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT))
            return OK

        async def with_start(i: int) -> Outcome:
            """What the API sends: signal-with-start, the whole workflow input attached."""
            wf_input, kwargs = starts[i]
            await bench.temporal.start_workflow(WorkflowName.PROTOCOL_RUN, wf_input, start_signal=Signal.CI_REPORT,
                                                start_signal_args=[report(names[i])],
                                                rpc_timeout=timedelta(seconds=REQUEST_TIMEOUT), **kwargs)
            return OK

        return {"api": via_api, "direct": direct, "with_start": with_start}[path]

    async def after(result: PhaseResult) -> None:
        # Signals return before the workflow acts on them: wait for the backlog, so the
        # next phase does not pay for this one, and report how long it took.
        result.drain_seconds = round(await bench.drain(current["ids"], max(120.0, 8 * bench.args.seconds)), 2)
        result.cpu_with_drain = CpuSampler.usage(result.cpu_before, bench.sampler.snapshot())

    try:
        phases = await bench.run_paths("webhooks", ops, after)
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    out = bench.summarize(phases, WEBHOOKS_TARGET)
    direct = out["direct"].get("processed_per_second")
    if direct:
        out["processed_ratio"] = round(out["api"]["processed_per_second"] / direct, 3)
    return out
