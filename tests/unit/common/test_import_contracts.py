"""The layers of docs/architecture.md hold: every import contract in pyproject.toml is kept.

The same check as ``make lint`` (``lint-imports``), so a test run fails on a layering break too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_every_import_contract_is_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    report = result.stdout + result.stderr
    broken = report[report.find("Broken contracts"):] if "Broken contracts" in report else report
    assert result.returncode == 0, f"an import contract of pyproject.toml is broken:\n{broken}"
    assert " KEPT" in report and "BROKEN" not in report


#: What import-linter cannot name (a subpackage of an external package): ``integrations`` runs in both
#: processes and outside any Temporal context, so it never reaches for a workflow's or activity's API.
TEMPORAL_CONTEXT = ("temporalio.workflow", "temporalio.activity", "temporalio.worker")


def temporal_context_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith(TEMPORAL_CONTEXT)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [name for name in [node.module, *names] if name.startswith(TEMPORAL_CONTEXT)][:1]
    return found


def test_integrations_import_no_temporal_workflow_activity_or_worker_module():
    offenders = {str(path.relative_to(ROOT)): found for path in (ROOT / "integrations").rglob("*.py")
                 if (found := temporal_context_imports(path.read_text()))}
    assert not offenders, f"integrations/ must not need a Temporal context (pass a callback): {offenders}"


def test_the_check_sees_each_form_of_import():
    assert temporal_context_imports("from temporalio import activity") == ["temporalio.activity"]
    assert temporal_context_imports("import temporalio.workflow") == ["temporalio.workflow"]
    assert temporal_context_imports("from temporalio.worker import Worker") == ["temporalio.worker"]
    assert temporal_context_imports("from temporalio.exceptions import ApplicationError") == []
