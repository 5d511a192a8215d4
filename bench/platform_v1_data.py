"""The database side of ``bench/platform_v1.py``: load tickets, and the clients they reference, straight
into the stack's Postgres with ``COPY``, and show the plans of the exact SQL a ticket list runs.

The rows are the API's own: each body goes through ``validated_body`` (the schema, defaults filled),
ids come from ``new_id``, the audit record of each create (and of the 1 % deleted) from
``changed_fields``, and the columns are those ``ResourceStore.create`` and ``.delete`` set. ``search``
is a generated column: Postgres computes it during the ``COPY``, as it does for an API insert. Rows
go in creation order across all workspaces (as they would have arrived), then ``VACUUM (ANALYZE)``,
as autovacuum would have run on a table that grew to this size.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

ACTOR = "bench"
#: ``q`` words: one in about 1 % of the tickets (the titles of VPN tickets), one in about 40 % (descriptions).
RARE_WORD = "vpn"
COMMON_WORD = "user"
RARE_SHARE = 0.01
COMMON_SHARE = 0.4
DELETED_SHARE = 0.01
HISTORY_DAYS = 180

DEVICES = ["Printer", "Laptop", "Workstation", "Firewall", "Core switch", "File server", "Mailbox", "Desk phone",
           "Scanner", "Router", "NAS", "Access point", "Domain controller", "Backup appliance", "Hypervisor"]
PROBLEMS = ["offline", "slow since this morning", "does not boot", "disk almost full", "certificate expired",
            "login fails", "keeps rebooting", "no network", "license expired", "update failed", "backup failed",
            "high CPU", "fan noise", "battery swollen", "out of toner", "paper jam", "DNS errors"]
PLACES = ["at head office", "in the warehouse", "on floor 2", "on floor 3", "at the branch office", "in reception",
          "in the server room", "in accounts", "in the lab"]
RARE_TITLES = ["VPN tunnel down for remote staff", "VPN client cannot connect after update",
               "Site-to-site VPN drops every hour"]
COMMON_DESCRIPTIONS = ["The user reports it started after the weekend; restarted once, no change.",
                       "A user called the help desk twice today; screenshots attached to the email thread.",
                       "Affects one user so far; the others on the team work normally."]
OTHER_DESCRIPTIONS = ["Monitoring raised an alert overnight; checked the event log, nothing obvious.",
                      "Seen by several people in the team; started after the patch window.",
                      "Vendor case opened; waiting for a replacement part.",
                      "Intermittent; happens a few times a day, mostly in the afternoon."]
ASSIGNEES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
TAGS = ["hardware", "network", "m365", "security", "onsite", "remote", "warranty", "urgent"]
INDUSTRIES = ["Manufacturing", "Legal", "Healthcare", "Retail", "Logistics", "Finance", "Education"]
STATUSES = [("new", 10), ("open", 15), ("in_progress", 15), ("pending", 10), ("resolved", 20), ("closed", 30)]
PRIORITIES = [("low", 30), ("medium", 45), ("high", 20), ("critical", 5)]

RESOURCE_COLUMNS = ("id", "workspace_id", "kind", "data", "version", "created_by", "updated_by", "correlation_id",
                    "created_at", "updated_at", "deleted_at")
AUDIT_COLUMNS = ("workspace_id", "kind", "resource_id", "action", "actor", "changes", "version", "correlation_id",
                 "at")


def database_conninfo(data_dir: Any, port: int, database: str = "capstan") -> str:
    """The stack's Postgres, with the password ``capstan dev`` keeps in its data dir."""
    password = (data_dir / "postgres.password").read_text().strip()
    return f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{port}/{database}"


@dataclass
class Loaded:
    """What was written, and what the measurements aim at."""

    workspaces: list[str]
    clients: dict[str, list[str]] = field(default_factory=dict)
    #: Tickets a list shows (not deleted), by workspace.
    tickets: dict[str, int] = field(default_factory=dict)
    deleted: int = 0
    audit_rows: int = 0
    #: Tickets of the big workspace whose words include the rare and the common ``q`` word.
    rare_matches: int = 0
    common_matches: int = 0
    seconds: float = 0.0

    @property
    def big(self) -> str:
        return self.workspaces[0]

    def summary(self) -> dict[str, Any]:
        big = self.tickets.get(self.big, 0)
        return {"workspaces": len(self.workspaces), "big_workspace": self.big, "big_workspace_tickets": big,
                "other_tickets": sum(n for w, n in self.tickets.items() if w != self.big),
                "clients": sum(len(c) for c in self.clients.values()), "big_workspace_clients": len(
                    self.clients.get(self.big, [])), "deleted_tickets": self.deleted, "audit_rows": self.audit_rows,
                "rare_word": RARE_WORD, "rare_matches": self.rare_matches,
                "rare_share": round(self.rare_matches / big, 4) if big else None,
                "common_word": COMMON_WORD, "common_matches": self.common_matches,
                "common_share": round(self.common_matches / big, 4) if big else None,
                "seconds": round(self.seconds, 1)}


def _weighted(rng: random.Random, choices: list[tuple[str, int]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def ticket_body(rng: random.Random, client_id: str, now: datetime) -> dict[str, Any]:
    """A ticket as a client would POST it: ~1 % about the VPN, ~40 % with a description naming a user."""
    title = rng.choice(RARE_TITLES) if rng.random() < RARE_SHARE else \
        f"{rng.choice(DEVICES)} {rng.choice(PROBLEMS)} {rng.choice(PLACES)}"
    body: dict[str, Any] = {"clientId": client_id, "title": title, "status": _weighted(rng, STATUSES),
                            "priority": _weighted(rng, PRIORITIES)}
    roll = rng.random()
    if roll < COMMON_SHARE:
        body["description"] = rng.choice(COMMON_DESCRIPTIONS)
    elif roll < 0.8:
        body["description"] = rng.choice(OTHER_DESCRIPTIONS)
    if rng.random() < 0.7:
        body["assignee"] = rng.choice(ASSIGNEES)
    if rng.random() < 0.3:
        body["dueAt"] = (now + timedelta(days=rng.randint(1, 30))).isoformat().replace("+00:00", "Z")
    body["tags"] = rng.sample(TAGS, rng.randint(0, 3))
    return body


def client_body(rng: random.Random, n: int) -> dict[str, Any]:
    name = f"Client {n:05d} {rng.choice(['GmbH', 'Ltd', 'Inc', 'LLC', 'SARL'])}"
    return {"name": name, "industry": rng.choice(INDUSTRIES), "status": "active" if rng.random() < 0.9 else "inactive",
            "website": f"https://client-{n:05d}.example", "tags": rng.sample(TAGS[:4], rng.randint(0, 2))}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _split(total: int, parts: int) -> list[int]:
    share = [total // parts] * parts
    share[-1] += total - sum(share)
    return share


def load(conninfo: str, workspaces: list[str], *, big_tickets: int, other_tickets: int, big_clients: int,
         other_clients: int, seed_value: int = 12) -> Loaded:
    """``big_tickets`` tickets (and ``big_clients`` clients) in ``workspaces[0]``, ``other_tickets`` spread over
    the others (``other_clients`` clients each), over the last ``HISTORY_DAYS`` days; then ``VACUUM (ANALYZE)``."""
    import psycopg

    from api.platform_v1.services.resources import new_id, validated_body
    from models.platform_v1.catalog import BY_NAME
    from models.platform_v1.changes import changed_fields
    from models.platform_v1.tables import RECOUNT_SQL

    clients_spec, tickets_spec = BY_NAME["clients"], BY_NAME["tickets"]
    rng = random.Random(seed_value)
    started = time.monotonic()
    now = datetime.now(UTC)
    out = Loaded(workspaces=list(workspaces))
    resources: list[tuple] = []   # (created_at, row)
    audit: list[tuple] = []

    def add(spec: Any, workspace: str, body: dict[str, Any], created: datetime, deleted: bool) -> str:
        data = validated_body(spec, body)
        row_id = new_id(spec)
        correlation = uuid.uuid4().hex
        version, updated, deleted_at = 1, created, None
        audit.append((workspace, spec.name, row_id, "create", ACTOR, json.dumps(changed_fields({}, data)), 1,
                      correlation, created))
        if deleted:
            deleted_at = updated = created + timedelta(hours=rng.uniform(0.1, 72))
            version = 2
            audit.append((workspace, spec.name, row_id, "delete", ACTOR, "{}", 2, uuid.uuid4().hex, deleted_at))
        resources.append((created, (row_id, workspace, spec.name, json.dumps(data), version, ACTOR, ACTOR,
                                    correlation, created, updated, deleted_at)))
        return row_id

    others = workspaces[1:]
    ticket_counts = [big_tickets, *(_split(other_tickets, len(others)) if others else [])]
    client_counts = [big_clients, *([other_clients] * len(others))]
    for workspace, clients, tickets in zip(workspaces, client_counts, ticket_counts, strict=True):
        out.clients[workspace] = [
            add(clients_spec, workspace, client_body(rng, n), now - timedelta(days=HISTORY_DAYS + rng.uniform(0, 90)),
                deleted=False) for n in range(clients)]
        listed = 0
        for _ in range(tickets):
            deleted = rng.random() < DELETED_SHARE
            created = now - timedelta(seconds=rng.uniform(60, HISTORY_DAYS * 86400))
            add(tickets_spec, workspace, ticket_body(rng, rng.choice(out.clients[workspace]), created), created,
                deleted)
            listed += 0 if deleted else 1
            out.deleted += 1 if deleted else 0
        out.tickets[workspace] = listed
    resources.sort(key=lambda item: item[0])  # the heap in arrival order, workspaces interleaved
    audit.sort(key=lambda row: row[-1])
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY platform_resources ({', '.join(RESOURCE_COLUMNS)}) FROM STDIN") as copy:
            for _, row in resources:
                copy.write_row(row)
        with cur.copy(f"COPY platform_audit ({', '.join(AUDIT_COLUMNS)}) FROM STDIN") as copy:
            for row in audit:
                copy.write_row(row)
    out.audit_rows = len(audit)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(RECOUNT_SQL)  # the live counts the API keeps as it writes, for rows that bypassed it
        for table in ("platform_workspaces", "platform_resources", "platform_audit", "platform_idempotency_keys",
                      "platform_resource_counts"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
        match = ("SELECT count(*) FROM platform_resources WHERE workspace_id = %s AND kind = 'tickets' AND deleted_at "
                 "IS NULL AND search @@ websearch_to_tsquery('simple', %s)")
        out.rare_matches = conn.execute(match, (out.big, RARE_WORD)).fetchone()[0]
        out.common_matches = conn.execute(match, (out.big, COMMON_WORD)).fetchone()[0]
    out.seconds = time.monotonic() - started
    return out


# --- plans -------------------------------------------------------------------------------------------

async def list_sql(workspace_id: str, sort_by: str | None, sort_order: str | None, q: str | None, offset: int,
                   limit: int = 50) -> list[tuple[str, dict[str, Any]]]:
    """The SQL ``GET /api/v1/tickets`` runs for these parameters (the count, then the page), with its parameters
    as the API's driver sends them."""
    from sqlalchemy.dialects.postgresql import psycopg

    from api.common.auth import Principal
    from api.platform_v1.caller import Caller
    from api.platform_v1.services.resources import ListQuery, ResourceStore, sort_fields
    from bench.measure import CapturingSession
    from models.platform_v1.catalog import BY_NAME

    spec = BY_NAME["tickets"]
    session = CapturingSession()
    caller = Caller(Principal(subject=ACTOR, scheme="bench"), workspace_id, "bench")
    query = ListQuery(limit=limit, offset=offset, sort=sort_fields(spec).parse(sort_by, sort_order), q=q, filters={})
    await ResourceStore(session, caller).page(spec, query)  # type: ignore[arg-type]
    compiled = [statement.compile(dialect=psycopg.dialect()) for statement in session.statements]
    return [(str(c), dict(c.params)) for c in compiled]


_COSTS = re.compile(r"\s*\(cost=[^)]*\)")


def explain(conninfo: str, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of ``sql`` (the second of two runs: a warm cache, as the requests had)."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        plan = [row[0] for row in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params).fetchall()]
    nodes = [_COSTS.sub("", line).strip().removeprefix("->").strip() for line in plan
             if any(word in line for word in (" Scan ", "Sort", "Aggregate"))]
    seconds = next((line.split(":", 1)[1].strip() for line in plan if line.startswith("Execution Time")), None)
    return {"sql": sql, "params": {k: str(v) for k, v in params.items()}, "plan": plan, "nodes": nodes,
            "execution_time": seconds, "seq_scan": any("Seq Scan" in n for n in nodes)}


#: The count an alternative list would stop at (it would answer "more than 10,000").
COUNT_CAP = 10_000


def alternatives(conninfo: str, workspace_id: str, sort_by: str | None, q: str | None, offset: int,
                 limit: int = 50) -> dict[str, Any]:
    """Plans of two statements the route does NOT run, for what the figures say would help: a count that stops
    after ``COUNT_CAP`` + 1 rows, and a page that picks its ids first (the rows then fetched by primary key)."""
    from models.platform_v1.catalog import BY_NAME
    from models.platform_v1.tables import sort_expression

    where = "workspace_id = %(workspace)s AND kind = 'tickets' AND deleted_at IS NULL"
    params: dict[str, Any] = {"workspace": workspace_id}
    if q:
        where += " AND search @@ websearch_to_tsquery('simple', %(q)s)"
        params["q"] = q
    key = BY_NAME["tickets"].sorts.get(sort_by or "")
    order = f"{sort_expression(key)} DESC, id DESC" if key else "created_at DESC, id DESC"
    capped = (f"SELECT count(*) FROM (SELECT 1 FROM platform_resources WHERE {where} LIMIT {COUNT_CAP + 1}) "
              "AS capped")
    ids = f"SELECT id FROM platform_resources WHERE {where} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    return {"count_capped": explain(conninfo, capped, params), "page_ids": explain(conninfo, ids, params)}
