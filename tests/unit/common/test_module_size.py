"""No product module grows past what one reads in a sitting: 400 lines (a bigger one becomes a folder).

Benchmarks, tests and migrations are not product modules.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ("api", "workflows", "activities", "integrations", "models", "worker", "capstan")
LIMIT = 400


def test_no_product_module_is_over_400_lines():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
             for top in PRODUCT for path in (ROOT / top).rglob("*.py") if "migrations" not in path.parts}
    too_long = {name: lines for name, lines in sizes.items() if lines > LIMIT}
    assert sizes and not too_long, f"modules over {LIMIT} lines (make each a folder): {too_long}"
