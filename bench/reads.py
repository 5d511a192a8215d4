"""The read paths of every surface — list and status routes — timed in-process: what a typed response costs.

``make bench-reads`` (or ``python bench/reads.py --requests 400 --json out.json``). One embedded Postgres,
one Temporal dev server and one in-process worker; the real app (``create_app``, its lifespan and
middleware) spoken to over ASGI, so the figures are the app's own time without a network or a second
process in the way. Each surface is seeded through its own API (a project with a protocol run of 30
steps; a feed release dispatched to a maintenance attempt; a coding task run by the mock agent; a platform
workspace with tickets), then the rows a list reads are multiplied in SQL to ``--rows`` each.

For each route: requests one after another, after a warm-up; per request the wall time (p50, p99) and the
CPU time of this process (the app and the client: Postgres runs apart). Run it on two trees one after
the other on the same machine to compare them (docs/performance.md, "Read paths").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the project's packages importable
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.stack import loadavg, machine_info, tree_fingerprint  # noqa: E402

ROUTE_NAMES = ("protocols", "maintenance", "tasks", "platform_v1")


def _env_for_tasks(github: Any, root: Path) -> dict[str, str]:
    from tests.e2e.platform_v1.support import JWT_SECRET

    return {**github.env(), "CAPSTAN_TASKS_WEBHOOK_SECRET": secrets.token_hex(16),
            "CAPSTAN_TASKS_WORKDIR": str(root / "tasks"), "CAPSTAN_JWT_SECRET": JWT_SECRET}


@asynccontextmanager
async def stack(root: Path) -> AsyncIterator[dict[str, str]]:
    """Postgres and Temporal for this run, on free ports under ``root``."""
    from capstan.devstack.ports import free_port
    from capstan.devstack.postgres import EmbeddedPostgres
    from capstan.devstack.temporal_server import TemporalDevServer
    from capstan.migrate import upgrade_to_head

    postgres = EmbeddedPostgres(root / "pg", free_port(), password=secrets.token_urlsafe(), database="capstan")
    temporal = TemporalDevServer(free_port(), ui_port=None, db_file=None, log_path=root / "temporal.log")
    try:
        postgres.start()
        upgrade_to_head(postgres.url)
        temporal.start()
        yield {"CAPSTAN_DATABASE_URL": postgres.url, "CAPSTAN_TEMPORAL_ADDRESS": temporal.address}
    finally:
        temporal.stop()
        postgres.stop()


async def clone_rows(conn: Any, table: str, where: str, copies: int, replace: dict[str, str]) -> None:
    """``copies`` copies of the rows of ``table`` matching ``where``, with the SQL expressions of ``replace``
    (which may use ``:k``, the copy's number) in place of those columns; identity columns count on.
    ``where`` must not match the copies (each copy would be copied again)."""
    columns = [row[0] for row in await conn.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = :t AND is_identity = 'NO' "
        "AND is_generated = 'NEVER' ORDER BY ordinal_position"), {"t": table})]
    values = ", ".join(replace.get(name, name) for name in columns)
    statement = text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table} WHERE {where}")
    for k in range(1, copies + 1):
        await conn.execute(statement, {"k": k})


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := await check()):
            return value
        await asyncio.sleep(0.2)
    raise SystemExit(f"bench-reads: {what} did not happen within {timeout:.0f} s")


async def seed_protocols(api: httpx.AsyncClient, root: Path, steps: int) -> dict[str, str]:
    from tests.support import make_bare_remote

    remote = make_bare_remote(root, {"README.md": "bench\n"}, name="protocols.git")
    project = (await api.post("/projects", json={"name": "bench", "git_url": str(remote)})).raise_for_status().json()
    run = (await api.post(f"/projects/{project['id']}/protocols", json={"protocol_name": "0001-bench"}))
    run = run.raise_for_status().json()
    for index in range(steps):
        (await api.post(f"/protocols/{run['id']}/steps", json={"step_index": index, "step_name": f"step {index}"})
         ).raise_for_status()
    return {"protocol runs": f"/projects/{project['id']}/protocols", "protocol run": f"/protocols/{run['id']}",
            "steps of a run": f"/protocols/{run['id']}/steps",
            "events of a run": f"/events?protocol_run_id={run['id']}"}


async def seed_maintenance(api: httpx.AsyncClient, engine: Any, rows: int) -> dict[str, str]:
    (await api.post("/feed-sources/bench-source/poll")).raise_for_status()

    async def dispatched() -> Any:
        attempts = (await api.get("/maintenance-attempts")).json().get("attempts") or []
        runs = (await api.get("/workspace-runs")).json().get("runs") or []
        return attempts[0] if attempts and runs else None

    attempt = await eventually(dispatched, "the feed release's dispatch")
    async with engine.begin() as conn:
        await clone_rows(conn, "maintenance_flow_events", f"id = '{attempt['eventId']}'", rows,
                         {"id": "id || '-' || :k"})
        await clone_rows(conn, "maintenance_attempts", f"attempt_id = '{attempt['id']}'", rows,
                         {"attempt_id": "attempt_id || '-' || :k", "event_id": "event_id || '-' || :k"})
        run_id = (await conn.execute(text("SELECT min(id) FROM maintenance_workspace_runs"))).scalar_one()
        await clone_rows(conn, "maintenance_workspace_runs", f"id = '{run_id}'", rows, {"id": "id || '-' || :k"})
    return {"maintenance attempts": "/maintenance-attempts", "a maintenance attempt":
            f"/maintenance-attempts/{attempt['id']}", "flow events": "/flow-events",
            "workspace runs": "/workspace-runs"}


async def seed_tasks(api: httpx.AsyncClient, github: Any, engine: Any, root: Path, rows: int) -> dict[str, str]:
    from tests.support import make_bare_remote

    remote = make_bare_remote(root, {"README.md": "It says teh.\n"}, name="widgets.git")
    github.add_user("alice", email="alice@example.com")
    github.add_repo("acme", "widgets", clone_url=str(remote))
    github.add_installation(7, "acme", repos=["acme/widgets"], users=["alice"])
    github.add_issue("acme", "widgets", 1, "Fix the typo", "The README says teh.", user="alice")
    github.sign_in_as("alice")
    authorize = await api.get("/api/auth/github")
    async with httpx.AsyncClient() as outside:
        callback = (await outside.get(authorize.headers["location"])).headers["location"]
    await api.get(callback.replace("http://capstan.test", ""))
    task = (await api.post("/api/tasks", json={"repoOwner": "acme", "repoName": "widgets", "issueNumber": 1,
                                               "agent": "mock"})).raise_for_status().json()
    status_path = f"/api/tasks/{task['id'].replace('/', '%2F').replace('#', '%23')}/status"

    async def finished() -> bool:
        return (await api.get(status_path)).json().get("status") in {"success", "failed", "timed_out"}

    await eventually(finished, "the mock agent's task run")
    async with engine.begin() as conn:
        await clone_rows(conn, "coding_tasks", f"id = '{task['id']}'", rows, {
            "id": "'acme/widgets#' || (100 + :k)", "issue_number": "100 + :k",
            "execution_id": "execution_id || '-' || :k"})
        await clone_rows(conn, "coding_task_executions", f"task_id = '{task['id']}'", rows, {
            "id": "id || '-' || :k", "task_id": "'acme/widgets#' || (100 + :k)"})
    return {"tasks": "/api/tasks?limit=100", "task history": "/api/tasks/history?limit=50",
            "task status": status_path}


async def seed_platform_v1(api: httpx.AsyncClient, rows: int) -> dict[str, str | dict[str, str]]:
    from tests.e2e.platform_v1.support import token

    headers = {"Authorization": f"Bearer {token('msp_admin', ttl=3600)}"}
    workspace = (await api.post("/api/v1/workspaces", json={"name": "Bench"}, headers={
        **headers, "Idempotency-Key": uuid.uuid4().hex})).raise_for_status().json()["id"]
    headers["x-workspace-id"] = workspace
    client = (await api.post("/api/v1/clients", json={"name": "Bench Inc"}, headers={
        **headers, "Idempotency-Key": uuid.uuid4().hex})).raise_for_status().json()
    ticket = None
    for index in range(rows):
        ticket = (await api.post("/api/v1/tickets", json={
            "clientId": client["id"], "title": f"Printer {index} is on fire", "priority": "high"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex})).raise_for_status().json()
    return {"headers": headers, "tickets": "/api/v1/tickets?limit=50", "a ticket": f"/api/v1/tickets/{ticket['id']}"}


async def time_route(api: httpx.AsyncClient, path: str, requests: int, headers: dict[str, str] | None = None
                     ) -> dict[str, float]:
    for _ in range(max(10, requests // 10)):  # warm-up: caches, pools, first-use imports
        (await api.get(path, headers=headers)).raise_for_status()
    walls = []
    cpu_before = time.process_time()
    for _ in range(requests):
        began = time.perf_counter()
        response = await api.get(path, headers=headers)
        walls.append(time.perf_counter() - began)
        response.raise_for_status()
    cpu = time.process_time() - cpu_before
    walls.sort()
    return {"p50_ms": round(statistics.median(walls) * 1000, 2),
            "p99_ms": round(walls[min(len(walls) - 1, int(len(walls) * 0.99))] * 1000, 2),
            "cpu_ms": round(cpu / requests * 1000, 2), "bytes": len(response.content)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from api.app import create_app
    from capstan.db import create_engine
    from capstan.settings import DatabaseSettings, Settings
    from capstan.temporal import connect
    from tests.e2e.maintenance.support import git_release_source, upstream_and_fork, write_sources
    from tests.fakes.github import FakeGitHub
    from worker.main import WorkerResources, serve_surfaces

    root = Path(tempfile.mkdtemp(prefix="capstan-bench-reads-"))
    figures: dict[str, Any] = {}
    try:
        with FakeGitHub() as github:
            async with stack(root) as servers:
                sources = root / "feed-sources.json"
                write_sources(sources, {**git_release_source("bench-source", upstream_and_fork(root / "maint")),
                                        "primeOnly": False})
                os.environ.update({**servers, **_env_for_tasks(github, root), "CAPSTAN_FEED_SOURCES_PATH": str(sources),
                                   "CAPSTAN_GIT_CACHE_DIR": str(root / "git-cache"), "CAPSTAN_SECRETS_KEY":
                                   __import__("capstan.secrets", fromlist=["SecretBox"]).SecretBox.generate_key(),
                                   "CAPSTAN_TEMPORAL_TASK_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
                                   "CAPSTAN_SANDBOX_MODE": "bubblewrap", "CAPSTAN_LOG_LEVEL": "WARNING"})
                settings = Settings()
                temporal = await connect(settings.temporal)
                engine = create_engine(DatabaseSettings(url=servers["CAPSTAN_DATABASE_URL"]))
                resources = WorkerResources(settings, temporal=temporal)
                app = create_app(settings, temporal_client=temporal)
                async with serve_surfaces(temporal, settings, resources), app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://capstan.test",
                                                 timeout=120) as api:
                        print("seeding …", file=sys.stderr)
                        seeded = {
                            "protocols": await seed_protocols(api, root, args.steps),
                            "maintenance": await seed_maintenance(api, engine, args.rows),
                            "tasks": await seed_tasks(api, github, engine, root, args.rows),
                            "platform_v1": await seed_platform_v1(api, args.rows),
                        }
                        for surface, routes in seeded.items():
                            headers = routes.pop("headers", None)
                            for name, path in routes.items():
                                figures[f"{surface}: {name}"] = {
                                    "path": path, **await time_route(api, path, args.requests, headers)}
                                print(f"  {surface}: {name} {figures[f'{surface}: {name}']}", file=sys.stderr)
                await resources.close()
                await engine.dispose()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"tree": tree_fingerprint(), "load_before": None, "machine": machine_info(Path(sys.executable), "memory"),
            "requests": args.requests, "rows": args.rows, "routes": figures}


def render(report: dict[str, Any]) -> str:
    lines = [f"tree {report['tree']}, {report['requests']} requests per route, {report['rows']} rows per list, "
             f"load {report.get('load_before')} → {report.get('load_after')}",
             "| route | path | p50 ms | p99 ms | CPU ms/request | bytes |", "|---|---|---|---|---|---|"]
    for name, row in report["routes"].items():
        lines.append(f"| {name} | `{row['path']}` | {row['p50_ms']} | {row['p99_ms']} | {row['cpu_ms']} | "
                     f"{row['bytes']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests per route (default 300)")
    parser.add_argument("--rows", type=int, default=60, help="rows behind each list (default 60)")
    parser.add_argument("--steps", type=int, default=30, help="steps of the protocol run (default 30)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    load_before = loadavg()
    report = asyncio.run(run(args))
    report.update(load_before=load_before, load_after=loadavg())
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
