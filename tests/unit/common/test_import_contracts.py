"""The layers of docs/architecture.md hold: every import contract in pyproject.toml is kept.

The same check as ``make lint`` (``lint-imports``), so a test run fails on a layering break too.
"""

from __future__ import annotations

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
