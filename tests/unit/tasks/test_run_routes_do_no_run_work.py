"""The tasks wing's run routes and the services they use leave a run's work to its workflow: none awaits a
workflow's result, writes a status or a task/execution row, locks a row, talks to Temporal but through
``api.common.temporal_calls``, or calls GitHub (the user's own repository list, read for their scope in
``api.tasks.services.github_data``, is no run's work). ``lint-imports`` checks the imports too (the
contract "the tasks wing's run routes and services do not call GitHub" in pyproject.toml); this reads
the code for what an import contract cannot see.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

RUN_MODULES = [
    "api.tasks.routes.tasks", "api.tasks.routes.intake", "api.tasks.services.task_actions",
    "api.tasks.services.callbacks", "api.tasks.services.runs", "api.tasks.services.comment_intake",
    "api.tasks.services.task_records", "api.tasks.services.scope",
]
#: Only ``api.common.temporal_calls`` speaks to Temporal's client.
TEMPORAL_CLIENT = {"temporalio.client", "temporalio.service"}
#: Writing rows (``db.add``…: the services name their session ``db``), and the statements that do.
SESSIONS = {"db", "session"}
WRITES = {"add", "add_all", "merge", "delete", "flush", "bulk_save_objects"}
SQL_WRITES = {"insert", "update", "delete"}
RUN_ROWS = {"CodingTaskRow", "TaskExecutionRow", "TaskDeliveryRow"}
#: The one GitHub read allowed: the user's own repositories, for which tasks they may see.
SCOPE_READ = {"api.tasks.services.scope": ["github_client"]}
#: What GitHub is called with on a run's behalf.
GITHUB = {"GitHubClient", "github_client", "InstallationTokens", "create_issue", "create_comment", "set_labels",
          "get_issue", "get_repo", "add_comment_reaction", "create_pull", "list_pulls"}


def run_work(source: str) -> list[str]:
    """What in ``source`` does a run's work (empty when nothing does)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom):
            if node.module in TEMPORAL_CLIENT:
                found.append(f"{line}: imports {node.module}")
            if node.module in {"sqlalchemy", "sqlmodel", "sqlalchemy.dialects.postgresql"}:
                found += [f"{line}: imports {alias.name}" for alias in node.names if alias.name in SQL_WRITES]
        elif isinstance(node, ast.Import):
            found += [f"{line}: imports {alias.name}" for alias in node.names if alias.name in TEMPORAL_CLIENT]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "result":
            found.append(f"{line}: calls .result() (awaits a workflow's result)")
        elif isinstance(node, ast.Attribute) and node.attr == "status" and isinstance(node.ctx, ast.Store):
            found.append(f"{line}: writes .status")
        elif isinstance(node, ast.Attribute) and node.attr in WRITES and isinstance(node.value, ast.Name) \
                and node.value.id in SESSIONS:
            found.append(f"{line}: .{node.attr}(…) writes rows")
        elif isinstance(node, ast.keyword) and node.arg == "with_for_update":
            found.append(f"{line}: locks a row")
        elif isinstance(node, ast.Attribute) and node.attr in {"with_for_update", *GITHUB}:
            found.append(f"{line}: {node.attr}")
        elif isinstance(node, ast.Name) and node.id in GITHUB:
            found.append(f"{line}: {node.id}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RUN_ROWS:
            found.append(f"{line}: makes a {node.func.id}")
    return found


@pytest.mark.parametrize("module", RUN_MODULES)
def test_the_module_leaves_the_runs_work_to_its_workflow(module: str):
    found = run_work(inspect.getsource(importlib.import_module(module)))
    assert [finding.split(": ", 1)[1] for finding in found] == SCOPE_READ.get(module, []), found


@pytest.mark.parametrize(("source", "what"), [
    ("async def stop(handle):\n    await handle.cancel()\n    return await handle.result()\n", ".result"),
    ("def record(task, status):\n    task.status = status\n", "writes .status"),
    ("def record(task, now):\n    task.status, task.updated_at = 'stopped', now\n", "writes .status"),
    ("async def save(db, task):\n    db.add(task)\n    await db.commit()\n", ".add"),
    ("async def lock(db, i):\n    return await db.get(TaskExecutionRow, i, with_for_update=True)\n", "locks"),
    ("def queue(i):\n    return TaskExecutionRow(id=i, status='queued')\n", "makes a TaskExecutionRow"),
    ("async def label(github):\n    await github.set_labels('a', 'b', 1, [])\n", "set_labels"),
    ("from temporalio.client import Client\n", "imports temporalio.client"),
    ("from sqlalchemy import update\n", "imports update"),
])
def test_the_check_sees_each_kind_of_run_work(source: str, what: str):
    """The patterns the tasks wing had before its runs went through their workflows are caught."""
    assert any(what in finding for finding in run_work(source)), run_work(source)
