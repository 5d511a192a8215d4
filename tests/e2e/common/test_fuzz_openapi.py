"""Schemathesis over the whole OpenAPI document of the running API, with the bearer token on.

Every operation the app documents is fuzzed (a new route is covered the day it exists): schemathesis's coverage
phase (boundaries and invalid values of every parameter and field) and its fuzzing phase, derandomized and
bounded per operation. Path and query ids are drawn half the time from a seeded project, protocol run and
step, a dispatched flow event, and a coding task of a user signed in through a fake GitHub (whose session
cookie the fuzzer sends), so requests get past the 404 into each route's real work, done by a real worker.
Checks: no 5xx, only
documented status codes, content types and headers, bodies that match the response schemas, schema-invalid
input rejected with a 4xx, and no authenticated route answering without the token.

The API and the worker run as their own processes (``capstan api``, ``capstan worker``): schemathesis's tests
are synchronous, and CPython 3.11.7 cannot ``ast.parse`` in two threads at once (Hypothesis does while it
generates, every traceback an app thread logs does too).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis

from capstan.secrets import SecretBox
from tests.conftest import Stack
from tests.e2e.live_api import LiveApi
from tests.e2e.maintenance.support import git_release_source, upstream_and_fork, write_sources
from tests.e2e.platform_v1.support import JWT_SECRET, token
from tests.e2e.protocols.support import step_file
from tests.e2e.tasks.support import WEBHOOK_SECRET
from tests.fakes.agent_node import FakeAgentNode
from tests.fakes.github import FakeGitHub
from tests.support import make_bare_remote

TOKEN = "fuzz-bearer-token"
#: Generated cases per operation in the fuzzing phase (the coverage phase adds its own, a bounded set).
MAX_EXAMPLES = 25
#: Time the calls of one operation may take, and of all operations together. Past either, an operation's
#: remaining cases are passed over (and counted in the summary): a slow or busy machine fuzzes fewer cases
#: instead of failing on pytest-timeout, and the run's length no longer grows with the operation count.
OPERATION_BUDGET_SECONDS = 3.0
TOTAL_BUDGET_SECONDS = 120.0
#: Cases of every operation that run whatever the budget says.
MIN_CASES_PER_OPERATION = 4

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "negative_data_rejection", "ignored_auth")


def fuzz_environment(stack: Stack, root: Path, github: FakeGitHub) -> dict[str, str]:
    (root / "codemachine").mkdir()
    return {
        **github.env(),
        "CAPSTAN_TASKS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CAPSTAN_JWT_SECRET": JWT_SECRET,
        # The workflow-completed webhook: signed (the fuzzer cannot sign: 401), never 503 for want of a secret.
        "CAPSTAN_AGENTFIELD_WEBHOOK_SECRET": "fuzz-agentfield-secret",
        # GitHub's webhook: switched on and signed (the fuzzer cannot sign: 401), not a 404 that tells nothing.
        "CAPSTAN_GITHUB_WEBHOOK_ENABLED": "true",
        "CAPSTAN_GITHUB_WEBHOOK_SECRET": "fuzz-github-secret",
        # The seeded agent stays healthy for the whole run (a stale one is a 503 by contract).
        "CAPSTAN_AGENT_STALE_SECONDS": "86400",
        "CAPSTAN_DATABASE_URL": stack.database_url,
        "CAPSTAN_TEMPORAL_ADDRESS": stack.temporal_address,
        "CAPSTAN_TEMPORAL_TASK_QUEUE": f"fuzz-{uuid.uuid4().hex[:12]}",
        # An action no worker applies in time answers 503, which fails the run: keep that wait short.
        "CAPSTAN_UPDATE_TIMEOUT": "15",
        "CAPSTAN_API_TOKEN": TOKEN,
        "CAPSTAN_SECRETS_KEY": SecretBox.generate_key(),
        "CAPSTAN_GIT_CACHE_DIR": str(root / "git-cache"),
        "CAPSTAN_CODEMACHINE_ROOT": str(root / "codemachine"),
        "CAPSTAN_ACTIVITY_MAX_ATTEMPTS": "1",
        "CAPSTAN_STEP_TIMEOUT": "30",
        "CAPSTAN_QA_TIMEOUT": "30",
        "CAPSTAN_SANDBOX_MODE": "bubblewrap",
        "CAPSTAN_API_SHUTDOWN_TIMEOUT": "2",
        "CAPSTAN_WORKER_SHUTDOWN_TIMEOUT": "2",
        "CAPSTAN_FEED_SOURCES_PATH": str(maintenance_sources(root)),
    }


def maintenance_sources(root: Path) -> Path:
    """A git feed source whose one tag becomes a flow event dispatched to a patch-stack-rebase run."""
    repos = upstream_and_fork(root / "maintenance")
    path = root / "feed-sources.json"
    write_sources(path, {**git_release_source("fuzz-source", repos), "primeOnly": False})
    return path


def seed_maintenance(api: httpx.Client) -> dict[str, str]:
    api.post("/feed-sources/fuzz-source/poll").raise_for_status()  # the worker's schedule may have polled first
    for _ in range(300):  # the dispatch runs on the worker; its records appear when it is done
        attempts = api.get("/maintenance-attempts").raise_for_status().json()["attempts"]
        runs = api.get("/workspace-runs").raise_for_status().json()["runs"]
        if attempts and runs:
            return {"event_id": attempts[0]["eventId"], "attempt_id": attempts[0]["id"], "run_id": runs[0]["id"],
                    "source_id": "fuzz-source"}
        time.sleep(0.1)
    raise AssertionError("the seeded flow event was not dispatched within 30 s")


def seed_tasks(api: httpx.Client, github: FakeGitHub, root: Path) -> dict[str, str | int]:
    """alice signs in (the session cookie stays on ``api``) and asks for a mock task on acme/widgets#1."""
    remote = make_bare_remote(root, {"README.md": "It says teh.\n"}, name="widgets.git")
    github.add_user("alice", email="alice@example.com")
    github.add_repo("acme", "widgets", clone_url=str(remote))
    github.add_installation(7, "acme", repos=["acme/widgets"], users=["alice"])
    github.add_issue("acme", "widgets", 1, "Fix the typo", "The README says teh.", user="alice")
    github.sign_in_as("alice")
    authorize = httpx.get(api.get("/api/auth/github").headers["location"])
    api.get(authorize.headers["location"])  # the callback: sets the session cookie
    task = api.post("/api/tasks", json={"repoOwner": "acme", "repoName": "widgets", "issueNumber": 1,
                                        "agent": "mock"}).raise_for_status().json()
    return {"task_id": task["id"], "owner": "acme", "repo": "widgets", "number": 1}


def seed_platform_v1(api: httpx.Client, agent_node: FakeAgentNode) -> dict[str, str]:
    """A workspace of the platform API, a client in it, an agent on the fake agent node, a succeeded execution
    of it and an import job (the fuzzer's JWT may act in every workspace)."""
    v1 = {"Authorization": f"Bearer {token('msp_admin')}"}
    workspace = api.post("/api/v1/workspaces", json={"name": "Fuzz"}, headers={
        **v1, "Idempotency-Key": uuid.uuid4().hex}).raise_for_status().json()["id"]
    client = api.post("/api/v1/clients", json={"name": "Fuzz Inc"}, headers={
        **v1, "x-workspace-id": workspace, "Idempotency-Key": uuid.uuid4().hex}).raise_for_status().json()
    in_it = {**v1, "x-workspace-id": workspace}
    api.put("/api/v1/agent-runtime/agents/fuzz-agent", json={"baseUrl": agent_node.url, "reasoners": [{"id": "echo"}]},
            headers={**in_it, "Idempotency-Key": uuid.uuid4().hex}).raise_for_status()
    ran = api.post("/api/v1/execute/fuzz-agent.echo", json={"input": {"seed": True}},
                   headers={**in_it, "Idempotency-Key": uuid.uuid4().hex}).raise_for_status().json()
    assert ran["status"] == "succeeded", ran
    job = api.post("/api/v1/imports", json={"resource": "runbooks", "records": [{"title": "Fuzz", "steps": ["a"]}]},
                   headers={**in_it, "Idempotency-Key": uuid.uuid4().hex}).raise_for_status().json()
    return {"workspace_id": workspace, "resource_id": client["id"], "key": "fuzz-key", "execution_id": ran["id"],
            "artifact_id": ran["outputRef"].rsplit("/", 1)[1], "agent_id": "fuzz-agent", "target": "fuzz-agent.echo",
            "job_id": job["id"]}


def seed(api: httpx.Client, github: FakeGitHub, root: Path, agent_node: FakeAgentNode) -> dict[str, int | str]:
    """A project with a real remote, a protocol run and a step, a dispatched flow event with its
    attempt and run, and a coding task: the ids the fuzzer also tries."""
    remote = make_bare_remote(root, {"README.md": "fuzz\n",
                                     ".protocols/0001-fuzz/01-hello.md": step_file("echo hello > hello.txt")})
    project = api.post("/projects", json={"name": "fuzz", "git_url": str(remote)}).raise_for_status().json()
    run = api.post(f"/projects/{project['id']}/protocols", json={"protocol_name": "0001-fuzz"})
    run = run.raise_for_status().json()
    step = api.post(f"/protocols/{run['id']}/steps", json={"step_index": 0, "step_name": "hand-made"})
    return {"project_id": project["id"], "protocol_run_id": run["id"], "step_id": step.raise_for_status().json()["id"],
            **seed_maintenance(api), **seed_tasks(api, github, root), **seed_platform_v1(api, agent_node)}


@pytest.fixture(scope="module")
def live_api(stack: Stack, tmp_path_factory) -> Iterator[tuple[LiveApi, dict[str, int], str]]:
    root = tmp_path_factory.mktemp("fuzz")
    with FakeGitHub() as github, FakeAgentNode() as agent_node, \
            LiveApi(fuzz_environment(stack, root, github), log_dir=root) as live:
        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as api:
            ids = seed(api, github, root, agent_node)
            session = api.cookies["capstan_session"]
        yield live, ids, session


@pytest.fixture(scope="module")
def api_schema(live_api):
    live, ids, session = live_api
    config = schemathesis.Config.from_dict({
        "base-url": live.url,
        "auth": {"openapi": {"bearerAuth": {"bearer": TOKEN}, "tasksSession": {"api_key": session},
                             "platformJwt": {"bearer": token("msp_admin", ttl=3600)}}},
        "request-timeout": 30,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none",
                       # Credentials come from `auth` above; a generated X-Project-Token tells nothing.
                       "with-security-parameters": False},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "dictionaries": {name: {"values": [value]} for name, value in ids.items()},
        "parameters": {
            **{f"path.{name}": {"dictionary": name, "probability": 0.5} for name in ids},
            **{f"query.{name}": {"dictionary": name, "probability": 0.5} for name in ids},
            "header.x-workspace-id": {"dictionary": "workspace_id", "probability": 0.5},
        },
    })
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request) -> None:
    """Schemathesis 4.32 names each operation's subtest through ``node._nodeid``, which pytest 9.2 dropped."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def test_every_path_id_names_a_seeded_record(live_api):
    live, ids, _ = live_api
    spec = httpx.get(f"{live.url}/openapi.json").json()
    names = {parameter["name"] for item in spec["paths"].values() for operation in item.values()
             for parameter in operation.get("parameters", []) if parameter["in"] == "path"}
    assert names <= set(ids), f"seed a record for {names - set(ids)}: else the fuzzer never gets past the 404"


class FuzzBudget:
    """How long the calls of each operation took, and whether the next case of an operation still runs."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.spent: Counter[str] = Counter()
        self.ran: Counter[str] = Counter()
        self.passed_over: Counter[str] = Counter()

    def allows(self, operation: str) -> bool:
        if self.ran[operation] < MIN_CASES_PER_OPERATION:
            return True
        return (self.spent[operation] < OPERATION_BUDGET_SECONDS
                and time.monotonic() - self.started < TOTAL_BUDGET_SECONDS)

    @contextlib.contextmanager
    def timing(self, operation: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.spent[operation] += time.monotonic() - began
            self.ran[operation] += 1

    def summary(self) -> str:
        cut = {name: count for name, count in self.passed_over.items() if count}
        return (f"fuzzed {sum(self.ran.values())} cases of {len(self.ran)} operations in "
                f"{time.monotonic() - self.started:.0f} s; cases passed over for time: "
                f"{sum(cut.values())} of {len(cut)} operations")


@pytest.fixture(scope="module")
def fuzz_budget() -> Iterator[FuzzBudget]:
    budget = FuzzBudget()
    yield budget
    print(f"\n{budget.summary()}")


def test_the_budget_passes_over_cases_only_past_the_minimum():
    budget = FuzzBudget()
    for _ in range(MIN_CASES_PER_OPERATION):
        assert budget.allows("GET /slow")
        budget.spent["GET /slow"] += OPERATION_BUDGET_SECONDS
        budget.ran["GET /slow"] += 1
    assert not budget.allows("GET /slow") and budget.allows("GET /fast")
    budget.started -= TOTAL_BUDGET_SECONDS
    assert budget.allows("GET /new") and not budget.allows("GET /slow")


@schema.parametrize()
def test_every_operation_keeps_to_the_openapi_document(case, fuzz_budget):
    """One subtest per operation. Each runs its first cases whatever the time; after that, cases run while the
    operation and the whole run are within their budgets (``FuzzBudget``), so the run ends well inside
    pytest-timeout on a loaded machine."""
    operation = case.operation.label
    if not fuzz_budget.allows(operation):
        fuzz_budget.passed_over[operation] += 1
        return
    with fuzz_budget.timing(operation):
        case.call_and_validate()
