"""The database side of ``bench/scale.py``: seed a stack's Postgres with many runs and events in
bulk (``COPY``), and show the plans of the exact SQL the list routes run.

Seeding writes straight into the tables the alembic migrations made (``models/``), bypassing the
API and Temporal: it builds the history a long-lived installation would have, not a workload.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from models.protocols.event_types import EventType
from models.protocols.status import ProtocolStatus, StepStatus

#: How the seeded runs end up, roughly as a team's history looks: most finished, a few live.
RUN_STATUSES = [(ProtocolStatus.COMPLETED, 60), (ProtocolStatus.FAILED, 10), (ProtocolStatus.CANCELLED, 6),
                (ProtocolStatus.RUNNING, 8), (ProtocolStatus.PAUSED, 4), (ProtocolStatus.BLOCKED, 4),
                (ProtocolStatus.PLANNED, 5), (ProtocolStatus.PENDING, 3)]
STEP_NAMES = ["00-setup", "01-plan-schema", "02-implement-api", "03-write-tests", "04-docs", "05-cleanup"]
RUN_EVENT_TYPES = [EventType.PLANNING_STARTED, EventType.PROTOCOL_PLANNED, EventType.PROTOCOL_PAUSED,
                   EventType.PROTOCOL_RESUMED, EventType.CI_RUNNING, EventType.CI_SUCCEEDED, EventType.CI_FAILED,
                   EventType.OPEN_PR_REQUESTED, EventType.PR_OPENED, EventType.PROTOCOL_COMPLETED]
STEP_EVENT_TYPES = [EventType.STEP_CREATED, EventType.STEP_STARTED, EventType.STEP_COMPLETED,
                    EventType.QA_REQUESTED, EventType.QA_PASSED, EventType.QA_FAILED, EventType.STEP_FAILED,
                    EventType.STEP_RETRIED, EventType.MANUAL_APPROVAL]
PROJECT_EVENT_TYPES = [EventType.SETUP_STARTED, EventType.REPOSITORY_FETCHED, EventType.BASE_BRANCH_VERIFIED,
                       EventType.CI_PROVIDER_DETECTED, EventType.SETUP_COMPLETED]


@dataclass
class Seeded:
    """What was written: ids to aim the measured requests at, and counts to print."""

    project_ids: list[int] = field(default_factory=list)
    big_project_id: int = 0
    runs: int = 0
    steps: int = 0
    events: int = 0
    big_project_runs: int = 0
    big_project_events: int = 0
    small_project_id: int = 0
    small_project_events: int = 0
    busiest_run_id: int = 0
    busiest_run_events: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "project_ids"} | {"projects": len(self.project_ids)}


def database_conninfo(data_dir: Path, port: int, database: str = "capstan") -> str:
    """The stack's Postgres, with the password ``capstan dev`` keeps in its data dir."""
    password = (data_dir / "postgres.password").read_text().strip()
    return f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{port}/{database}"


def _weighted(rng: random.Random, choices: list[tuple[Any, int]]) -> Any:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _split(total: int, parts: int, big_share: float) -> list[int]:
    """``total`` split into ``parts``: the first gets ``big_share``, the others the rest evenly."""
    big = round(total * big_share) if parts > 1 else total
    rest = [(total - big) // (parts - 1)] * (parts - 1) if parts > 1 else []
    if rest:
        rest[-1] += total - big - sum(rest)
    return [big, *rest]


def seed(conninfo: str, *, projects: int, runs: int, events: int, big_share: float, seed_value: int = 9) -> Seeded:
    """``projects`` projects, ``runs`` runs with 2-6 steps each and ``events`` events, the first
    project holding ``big_share`` of the runs and events; then ``VACUUM ANALYZE``, as autovacuum
    would have done on a database that grew to this size."""
    import time

    import psycopg

    rng = random.Random(seed_value)
    started = time.monotonic()
    out = Seeded()
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for i in range(projects):
            cur.execute("INSERT INTO projects (name, git_url, base_branch, ci_provider, default_models, "
                        "forge_repository) VALUES (%s, %s, 'main', %s, %s, %s) RETURNING id",
                        (f"scale-{i:02d}", f"https://git.example.invalid/team/scale-{i:02d}.git",
                         "github" if i % 2 == 0 else None, json.dumps({"exec": "codex-5", "qa": "codex-5-mini"}),
                         f"team/scale-{i:02d}"))
            out.project_ids.append(cur.fetchone()[0])
        out.big_project_id = out.project_ids[0]

        # Runs, each started at some moment of the last 90 days.
        run_rows = []
        for project_id, count in zip(out.project_ids, _split(runs, projects, big_share), strict=True):
            for n in range(count):
                run_rows.append((project_id, f"feature-{project_id}-{n:05d}", _weighted(rng, RUN_STATUSES),
                                 now - timedelta(seconds=rng.uniform(0, 90 * 86400))))
        run_rows.sort(key=lambda r: r[3])  # ids in creation order, as the API gives them
        with cur.copy("COPY protocol_runs (project_id, protocol_name, status, base_branch, protocol_root, "
                      "description, template_config, runtime_state, created_at, updated_at) FROM STDIN") as copy:
            for project_id, name, status, created in run_rows:
                copy.write_row((project_id, name, status.value, "main", f".protocols/{name}",
                                f"Implement {name}: schema change, API route, tests and docs.",
                                json.dumps({"template": "default", "steps": len(STEP_NAMES)}),
                                json.dumps({"branch": name, "planned_at": created.isoformat(), "attempt": 1}),
                                created, created + timedelta(hours=rng.uniform(0.1, 48))))
        cur.execute("UPDATE protocol_runs SET workflow_id = 'protocol-run-' || id WHERE project_id = ANY(%s)",
                    (out.project_ids,))
        cur.execute("SELECT id, project_id, created_at FROM protocol_runs WHERE project_id = ANY(%s) ORDER BY id",
                    (out.project_ids,))
        seeded_runs = cur.fetchall()
        out.runs = len(seeded_runs)
        out.big_project_runs = sum(1 for _, p, _ in seeded_runs if p == out.big_project_id)

        with cur.copy("COPY step_runs (protocol_run_id, step_index, step_name, step_type, status, model, summary, "
                      "engine_id, retries, created_at, updated_at) FROM STDIN") as copy:
            for run_id, _, created in seeded_runs:
                for index in range(rng.randint(2, len(STEP_NAMES))):
                    status = _weighted(rng, [(StepStatus.COMPLETED, 70), (StepStatus.PENDING, 15),
                                             (StepStatus.FAILED, 8), (StepStatus.NEEDS_QA, 7)])
                    copy.write_row((run_id, index, STEP_NAMES[index], "execute", status.value, "codex-5",
                                    f"{STEP_NAMES[index]}: {rng.randint(1, 40)} files changed", "codex",
                                    rng.choice([0, 0, 0, 1]), created, created + timedelta(minutes=index * 7)))
        cur.execute("SELECT s.id, s.protocol_run_id, s.step_index FROM step_runs s "
                    "JOIN protocol_runs r ON r.id = s.protocol_run_id WHERE r.project_id = ANY(%s)",
                    (out.project_ids,))
        steps_of: dict[int, list[tuple[int, int]]] = {}
        for step_id, run_id, index in cur.fetchall():
            steps_of.setdefault(run_id, []).append((step_id, index))
        out.steps = sum(len(s) for s in steps_of.values())

        # Events: each project's share, spread over its runs (some busier than others) and steps;
        # one in a hundred belongs to the project only (setup).
        event_rows: list[tuple] = []
        runs_of: dict[int, list[tuple[int, datetime]]] = {}
        for run_id, project_id, created in seeded_runs:
            runs_of.setdefault(project_id, []).append((run_id, created))
        for project_id, count in zip(out.project_ids, _split(events, projects, big_share), strict=True):
            project_runs = runs_of[project_id]
            weights = [rng.paretovariate(2.0) for _ in project_runs]
            for run_id, created in rng.choices(project_runs, weights=weights, k=count):
                if rng.random() < 0.01:
                    event_rows.append(_project_event(rng, project_id, now))
                else:
                    event_rows.append(_run_event(rng, project_id, run_id, created, steps_of.get(run_id, [])))
        event_rows.sort(key=lambda r: r[-1])
        with cur.copy("COPY events (project_id, protocol_run_id, step_run_id, event_type, message, metadata, "
                      "dedupe_key, created_at) FROM STDIN") as copy:
            for n, (project_id, run_id, step_id, event_type, message, metadata, created) in enumerate(event_rows):
                copy.write_row((project_id, run_id, step_id, event_type, message, json.dumps(metadata),
                                f"scale:{seed_value}:{n}", created))
        out.events = len(event_rows)
        out.big_project_events = sum(1 for r in event_rows if r[0] == out.big_project_id)
        out.small_project_id = out.project_ids[-1]
        out.small_project_events = sum(1 for r in event_rows if r[0] == out.small_project_id)
        cur.execute("SELECT protocol_run_id, count(*) FROM events WHERE project_id = %s AND protocol_run_id IS NOT "
                    "NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1", (out.big_project_id,))
        out.busiest_run_id, out.busiest_run_events = cur.fetchone()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in ("projects", "protocol_runs", "step_runs", "events"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
    out.seconds = time.monotonic() - started
    return out


def _project_event(rng: random.Random, project_id: int, now: datetime) -> tuple:
    event_type = rng.choice(PROJECT_EVENT_TYPES)
    return (project_id, None, None, event_type.value, f"Project setup: {event_type.value.replace('_', ' ')}",
            {"git_url": f"https://git.example.invalid/team/scale-{project_id}.git", "base_branch": "main"},
            now - timedelta(seconds=rng.uniform(0, 90 * 86400)))


def _run_event(rng: random.Random, project_id: int, run_id: int, created: datetime,
               steps: list[tuple[int, int]]) -> tuple:
    at = created + timedelta(seconds=rng.uniform(0, 2 * 86400))
    if steps and rng.random() < 0.7:
        step_id, index = rng.choice(steps)
        event_type = rng.choice(STEP_EVENT_TYPES)
        metadata = {"step_index": index, "step_name": STEP_NAMES[index], "engine": "codex", "model": "codex-5",
                    "duration_ms": rng.randint(200, 900_000), "exit_code": rng.choice([0, 0, 0, 1]),
                    "commit": f"{rng.getrandbits(160):040x}"}
        message = f"Step {STEP_NAMES[index]}: {event_type.value.replace('_', ' ')}"
        return project_id, run_id, step_id, event_type.value, message, metadata, at
    event_type = rng.choice(RUN_EVENT_TYPES)
    metadata = {"actor": "api", "request_id": f"{rng.getrandbits(64):016x}", "status": "running"}
    return project_id, run_id, None, event_type.value, f"Protocol {event_type.value.replace('_', ' ')}", metadata, at


# --- plans ---------------------------------------------------------------------------------------

async def route_sql(name: str, **kwargs: Any) -> str:
    """The SQL the list service behind a measured route runs, with its values inlined."""
    from sqlalchemy.dialects import postgresql

    from api.protocols.services.events import list_events
    from api.protocols.services.runs import list_runs
    from bench.measure import CapturingSession

    session = CapturingSession()
    if name == "events":
        await list_events(session, **kwargs)  # type: ignore[arg-type]
    elif name == "runs":
        await list_runs(session, **kwargs)  # type: ignore[arg-type]
    else:
        raise ValueError(name)
    (statement,) = session.statements
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


_COSTS = re.compile(r"\s*\(cost=[^)]*\)")


def explain(conninfo: str, sql: str) -> dict[str, Any]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of ``sql``: the whole plan, its scan lines and its time."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")  # warm the cache as the measured requests had it
        plan = [row[0] for row in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()]
    scans = [_COSTS.sub("", line).strip().removeprefix("->").strip() for line in plan if " Scan " in f" {line} "]
    seconds = next((line.split(":", 1)[1].strip() for line in plan if line.startswith("Execution Time")), None)
    return {"sql": sql, "plan": plan, "scans": scans, "execution_time": seconds,
            "seq_scan": any("Seq Scan" in s for s in scans)}
