"""Git repositories the benchmarks create: bare remotes on the local disk."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.stack import BenchError

GIT_ENV = {"GIT_AUTHOR_NAME": "Capstan Bench", "GIT_AUTHOR_EMAIL": "bench@capstan.invalid",
           "GIT_COMMITTER_NAME": "Capstan Bench", "GIT_COMMITTER_EMAIL": "bench@capstan.invalid",
           "GIT_TERMINAL_PROMPT": "0"}


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                            env={**os.environ, **GIT_ENV}, check=False)
    if result.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


def make_bare_remote(root: Path, name: str, files: dict[str, str]) -> Path:
    """A bare repository holding ``files`` in one commit on main."""
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    for path, content in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "initial", cwd=work)
    bare = root / f"{name}.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    shutil.rmtree(work)
    return bare
