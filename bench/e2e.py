"""3. End to end: a 5-step ``script`` protocol through the API (create, start, run_next_step,
run_qa, approve; waiting with the ``wait_idle`` Update), beside a plain shell script doing the
same git work. Reported as an overhead ratio (median of --repeats)."""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.repos import GIT_ENV, git, make_bare_remote
from bench.session import SETTLE_TIMEOUT, BenchSession
from bench.stack import BenchError, CpuSampler, log

E2E_STEPS = 5
E2E_PROTOCOL = "bench"
STEP_FILE = """---
engine_id: script
---
# Bench step {n}

```sh
echo "line {n}" >> notes.txt
```

## QA

```sh
grep -q "line {n}" notes.txt
```
"""
SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def e2e_files() -> dict[str, str]:
    files = {f".protocols/{E2E_PROTOCOL}/{n:02d}-step.md": STEP_FILE.format(n=n) for n in range(1, E2E_STEPS + 1)}
    files["README.md"] = "bench\n"
    return files


def shell_baseline_script(remote: Path, work: Path, files: dict[str, str]) -> str:
    """The same git work as the protocol, as a plain shell script: clone once, then per step
    run its sh block, commit, push the protocol branch and run its QA block."""
    lines = ["set -eu", f"git clone -q '{remote}' '{work}'", f"cd '{work}'", f"git checkout -q -b {E2E_PROTOCOL}"]
    for n in range(1, E2E_STEPS + 1):
        script, qa = SH_BLOCK.findall(files[f".protocols/{E2E_PROTOCOL}/{n:02d}-step.md"])
        lines += [f"# step {n}", script.strip(), "git add -A", f"git commit -q -m 'bench step {n}'",
                  f"git push -q origin {E2E_PROTOCOL}", qa.strip()]
    return "\n".join(lines) + "\n"


def run_shell_baseline(work_dir: Path, remote: Path, files: dict[str, str], repeat: int) -> float:
    work = work_dir / f"shell-{repeat}"
    script = work_dir / f"shell-{repeat}.sh"
    script.write_text(shell_baseline_script(remote, work, files))
    started = time.perf_counter()
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **GIT_ENV}, cwd=work_dir, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"the shell baseline failed: {result.stderr.strip()[-300:]}")
    return elapsed


async def run_protocol(bench: BenchSession, remote: Path, repeat: int) -> dict[str, float]:
    """Create, plan, execute and QA every step, approve the last: timed per stage."""
    stages: dict[str, float] = {}
    t = time.perf_counter()
    started = t

    def lap(stage: str) -> None:
        nonlocal t
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - t
        t = now

    project_id = (await bench.create_project(f"bench-e2e-{repeat}", remote))["id"]
    run = await bench.post(f"/projects/{project_id}/protocols",
                           json={"protocol_name": E2E_PROTOCOL, "description": "benchmark protocol"})
    rid = run["id"]
    lap("create")
    await bench.post(f"/protocols/{rid}/actions/start")
    status = await bench.settle(rid)
    lap("plan")
    if status != "planned":
        raise BenchError(f"planning ended in {status!r}, not 'planned'")
    steps = await bench.get(f"/protocols/{rid}/steps")
    if len(steps) != E2E_STEPS:
        raise BenchError(f"planned {len(steps)} steps, expected {E2E_STEPS}")
    lap("plan")
    for step in steps:
        await bench.post(f"/protocols/{rid}/actions/run_next_step")
        await bench.settle(rid)
        lap("execute")
        await bench.post(f"/steps/{step['id']}/actions/run_qa")
        await bench.settle(rid)
        lap("qa")
    await bench.post(f"/steps/{steps[-1]['id']}/actions/approve")
    lap("approve")
    stages["total"] = time.perf_counter() - started
    final = await bench.get(f"/protocols/{rid}")
    statuses = [s["status"] for s in await bench.get(f"/protocols/{rid}/steps")]
    if final["status"] != "completed" or set(statuses) != {"completed"}:
        raise BenchError(f"run {rid} ended {final['status']} with steps {statuses}")
    notes = git("show", f"refs/heads/{E2E_PROTOCOL}:notes.txt", cwd=remote).splitlines()
    if notes != [f"line {n}" for n in range(1, E2E_STEPS + 1)]:
        raise BenchError(f"the protocol branch holds {notes!r}")
    return {k: round(v, 3) for k, v in stages.items()}


async def measure_e2e(bench: BenchSession) -> dict[str, Any]:
    files = e2e_files()
    repeats = []
    for repeat in range(1, bench.args.repeats + 1):
        shell_remote = make_bare_remote(bench.work_dir, f"e2e-shell-{repeat}", files)
        capstan_remote = make_bare_remote(bench.work_dir, f"e2e-capstan-{repeat}", files)
        shell = run_shell_baseline(bench.work_dir, shell_remote, files, repeat)
        before = bench.sampler.snapshot()
        stages = await asyncio.wait_for(run_protocol(bench, capstan_remote, repeat),
                                        SETTLE_TIMEOUT * (2 * E2E_STEPS + 2))
        cpu = CpuSampler.usage(before, bench.sampler.snapshot())
        ratio = stages["total"] / shell if shell > 0 else None
        repeats.append({"repeat": repeat, "capstan_seconds": stages["total"], "shell_seconds": round(shell, 3),
                        "ratio": round(ratio, 1) if ratio else None, "stages": stages,
                        "cpu_percent_of_one_core": cpu})
        log(f"e2e {repeat}/{bench.args.repeats}: capstan {stages['total']:.2f}s, shell {shell:.3f}s, "
            f"x{ratio:.0f}; stages {stages}")
    capstan = statistics.median(r["capstan_seconds"] for r in repeats)
    shell = statistics.median(r["shell_seconds"] for r in repeats)
    stage_names = [k for k in repeats[0]["stages"] if k != "total"]
    return {"steps": E2E_STEPS, "repeats": repeats, "capstan_median_seconds": round(capstan, 3),
            "shell_median_seconds": round(shell, 3),
            "ratio_median": round(statistics.median(r["ratio"] for r in repeats), 1),
            "overhead_median_seconds": round(capstan - shell, 3),
            "stage_medians": {k: round(statistics.median(r["stages"][k] for r in repeats), 3)
                              for k in stage_names},
            "actions": 2 + 2 * E2E_STEPS, "waits": 1 + 2 * E2E_STEPS}
