"""Docs name only paths that exist: a file moved or renamed fails here until every mention follows it.

Checked: the README, everything under ``docs/`` (its relative links too), and the docstrings and comments
of the code, wherever they name a repository path (``api/common/errors.py``, ``tests/workflows/``, …).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TOP = ("api", "workflows", "activities", "integrations", "models", "worker", "capstan", "tests", "docs", "bench",
       "scripts", ".ci")
#: A repository path: a top-level folder, then path segments; a file ends in an extension, a folder in ``/``.
TOPS = "|".join(re.escape(top) for top in TOP)
PATH = re.compile(rf"(?<![\w./-])((?:{TOPS})/(?:[\w.-]+/)*(?:[\w-]+\.(?:py|md|json|toml|sh|ya?ml|txt|mako|ini|cfg)\b|"
                  r"[\w-]+/))")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def tracked(*patterns: str) -> list[Path]:
    listing = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listing.stdout.split()]


def cited_paths(text: str) -> set[str]:
    return {match.group(1) for match in PATH.finditer(text)}


def missing(path: Path, cited: set[str]) -> list[str]:
    """What ``path`` cites that exists neither from the repository's root nor (a doc's relative link) beside it."""
    return sorted(name for name in cited if not (ROOT / name).exists() and not (path.parent / name).exists())


def test_docs_and_readme_name_only_paths_that_exist():
    broken = {}
    for doc in [ROOT / "README.md", *tracked("docs/*.md", "docs/**/*.md")]:
        text = doc.read_text()
        names = missing(doc, cited_paths(text))
        links = [link for link in LINK.findall(text) if "://" not in link and not link.startswith("mailto:")
                 and not (doc.parent / link).exists()]
        if names or links:
            broken[str(doc.relative_to(ROOT))] = names + links
    assert not broken, f"docs cite paths that do not exist: {broken}"


def test_code_names_only_paths_that_exist():
    broken = {}
    for source in tracked("*.py", "pyproject.toml", "Makefile", "docker-compose.yml", "Dockerfile"):
        if "migrations/versions" in str(source) or not source.exists():
            continue
        names = missing(source, cited_paths(source.read_text()))
        if names:
            broken[str(source.relative_to(ROOT))] = names
    assert not broken, f"code comments and docstrings cite paths that do not exist: {broken}"


def test_the_check_finds_a_path_in_prose():
    assert cited_paths("see `api/common/errors.py` and tests/workflows/ (not api/x)") == {
        "api/common/errors.py", "tests/workflows/"}
    assert cited_paths("https://example.com/api/v1/tickets and tests/fakes/ ") == {"tests/fakes/"}
