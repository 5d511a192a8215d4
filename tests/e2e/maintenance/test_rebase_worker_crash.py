"""A worker killed in the middle of a rebase run: another worker finishes the run, exactly once,
and the fork gets one candidate ref."""

from __future__ import annotations

import asyncio
import os

from tests.e2e.maintenance.support import (
    PATCH_SUBJECTS,
    finished_dispatch,
    git_release_source,
    release,
    remote_refs,
    upstream_and_fork,
    write_sources,
)
from tests.integration.workers import kill_worker, read_fifo, start_worker, stop_worker, worker_env
from tests.support import git

EVENT_ID = "patch:upstream-tags:v1.1.0:upstream.release"
# Under the first worker, whose sandbox shows the check the FIFOs, the check announces itself and
# hangs; under the second it passes.
HANGING_CHECK = "if [ -p {hold} ]; then echo started > {started}; cat {hold}; fi; test -f feature-two.txt"


async def test_killed_worker_mid_rebase_the_run_finishes_once_with_one_candidate_ref(
        api, settings, temporal_client, sources_path, tmp_path):
    fifos = tmp_path / "fifos"
    fifos.mkdir()
    started, hold = fifos / "started.fifo", fifos / "hold.fifo"
    os.mkfifo(started)
    os.mkfifo(hold)
    repos = upstream_and_fork(tmp_path)
    write_sources(sources_path, git_release_source("upstream-tags", repos,
                                                   checkCommand=HANGING_CHECK.format(started=started, hold=hold)))
    common = {"CAPSTAN_FEED_SOURCES_PATH": str(sources_path), "CAPSTAN_ACTIVITY_HEARTBEAT_TIMEOUT": "2",
              "CAPSTAN_SANDBOX_MODE": "bubblewrap"}
    first = start_worker(worker_env(settings, tmp_path / "cache-a", CAPSTAN_SANDBOX_READ_ONLY_PATHS=str(fifos),
                                    **common), tmp_path / "worker-a.log", "--surfaces", "maintenance")
    second = None
    try:
        # Primes the source, unless the starting worker's schedule primed it first: either way nothing is new.
        assert (await api.post("/feed-sources/upstream-tags/poll")).json()["events"] == []
        tag_sha = release(repos, "v1.1.0", {"app.txt": "app v1.1\n"})
        assert (await api.post("/feed-sources/upstream-tags/poll")).json()["events"] == [EVENT_ID]
        assert (await asyncio.wait_for(asyncio.to_thread(read_fifo, started), 60)).strip() == "started"
        kill_worker(first)
        second = start_worker(worker_env(settings, tmp_path / "cache-b", **common), tmp_path / "worker-b.log",
                              "--surfaces", "maintenance")
        await finished_dispatch(temporal_client, settings, EVENT_ID, timeout=120)
    finally:
        for proc in (first, second):
            if proc is not None:
                stop_worker(proc)

    [attempt] = (await api.get("/maintenance-attempts")).json()["attempts"]
    assert attempt["status"] == "changed", attempt
    [candidate] = attempt["candidateRefs"]
    assert remote_refs(repos.fork) == {"refs/heads/candidates/v1.1.0": candidate["sha"]}
    subjects = git("log", "--format=%s", f"{tag_sha}..refs/heads/candidates/v1.1.0", cwd=repos.fork).splitlines()
    assert subjects == list(reversed(PATCH_SUBJECTS))
    [run] = (await api.get("/workspace-runs")).json()["runs"]
    assert run["status"] == "changed" and run["processStatus"] == "completed"
    assert len((await api.get("/workspace-dispatches")).json()["dispatches"]) == 1
