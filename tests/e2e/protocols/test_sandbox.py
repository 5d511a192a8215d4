"""Repository code in the sandbox: what a step gets, its limits, and what happens where no sandbox can run."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from capstan.settings import SandboxSettings, Settings
from tests.e2e.protocols.support import create_project, create_run, event_types, with_execution
from tests.support import git, settle
from worker.main import WorkerResources, serve_surfaces

STEP = """---
engine_id: script
---
# Step

```sh
{script}
```
"""


def with_sandbox(settings: Settings, **options) -> Settings:
    return Settings(**{**vars(settings), "sandbox": SandboxSettings(**options)})


@contextlib.asynccontextmanager
async def worker_for(temporal_client, settings: Settings):
    """An in-process worker with these settings, on the test's task queue."""
    resources = WorkerResources(settings)
    async with serve_surfaces(temporal_client, settings, resources):
        yield
    await resources.close()


async def run_one_step(api, temporal_client, tmp_path: Path, script: str) -> tuple[Path, dict, dict]:
    """A project whose one step runs ``script``, planned and executed: the remote, the step and its output."""
    remote, project = await create_project(api, tmp_path, {".protocols/0001-demo/01-step.md": STEP.format(
        script=script)})
    run = await create_run(api, project["id"])
    await api.post(f"/protocols/{run['id']}/actions/start")
    assert await settle(temporal_client, run["id"]) == "planned"
    await api.post(f"/protocols/{run['id']}/actions/run_next_step")
    await settle(temporal_client, run["id"])
    step = (await api.get(f"/protocols/{run['id']}/steps")).json()[0]
    artifacts = (await api.get(f"/steps/{step['id']}/artifacts")).json()
    return remote, step, artifacts[0] if artifacts else {}


def broken_bwrap(tmp_path: Path) -> Path:
    """A bwrap that fails like one on a host without unprivileged user namespaces."""
    path = tmp_path / "bwrap"
    path.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    path.chmod(0o755)
    return path


async def test_a_step_gets_a_clean_environment_and_only_its_worktree(api, settings, worker, temporal_client,
                                                                     tmp_path):
    script = ("env | cut -d= -f1 | sort > env-names.txt\n"
              "echo hello > $HOME/in-home && ls /tmp > tmp.txt\n"
              "if touch /usr/capstan 2>/dev/null || touch /capstan 2>/dev/null; then echo writable; exit 9; fi\n"
              "touch ../escaped ../../escaped 2>/dev/null || true\n"
              "git log --format=%s > git-log.txt && (git config remote.origin.url || echo hidden) > remote.txt\n"
              "ls /proc | grep -c '^[0-9]' > process-count.txt")
    with tempfile.NamedTemporaryFile(prefix="capstan-host-tmp-", dir="/tmp") as host_file:
        remote, step, output = await run_one_step(api, temporal_client, tmp_path, script)
    assert step["status"] == "needs_qa", output["content"]
    assert Path(host_file.name).name not in git("show", "refs/heads/0001-demo:tmp.txt", cwd=remote)  # a private /tmp
    cache = settings.worker.git_cache_dir
    assert not (cache / "escaped").exists() and not (cache / "worktrees" / "escaped").exists()
    names = git("show", "refs/heads/0001-demo:env-names.txt", cwd=remote).split()
    assert set(names) - {"PWD", "SHLVL", "OLDPWD", "_"} == {"PATH", "HOME", "LANG", "CAPSTAN_STEP_FILE",
                                                            "CAPSTAN_MODEL"}
    assert "home" in git("show", "refs/heads/0001-demo:tmp.txt", cwd=remote).split()
    # git reads the project's history; the remote's URL (credentials, maybe) is not there.
    assert git("show", "refs/heads/0001-demo:git-log.txt", cwd=remote) == "initial"
    assert git("show", "refs/heads/0001-demo:remote.txt", cwd=remote) == "hidden"
    # Its own PID namespace: bubblewrap's init, the shell, ls and grep; none of the machine's processes.
    assert int(git("show", "refs/heads/0001-demo:process-count.txt", cwd=remote)) <= 5


async def test_a_step_that_times_out_is_killed_with_everything_it_started(settings, api_factory, worker,
                                                                          temporal_client, tmp_path):
    marker = f"{time.time_ns() % 10**9}.5"  # sleep's argument: finds the step's processes on this machine
    async with api_factory(with_execution(settings, step_timeout_seconds=2)) as api:
        _, step, output = await run_one_step(api, temporal_client, tmp_path,
                                             f"sleep {marker} &\n(setsid sleep {marker} &)\nsleep {marker}")
        events = (await api.get(f"/protocols/{step['protocol_run_id']}/events")).json()
    assert step["status"] == "failed"
    assert output["exit_code"] == 124
    assert "timed out after 2s" in events[0]["message"]
    assert await processes_gone(f"sleep {marker}")


async def processes_gone(cmdline: str, within: float = 10.0) -> bool:
    """Whether no process runs ``cmdline`` (bounded: a killed process's exit has no event to await here)."""
    import asyncio

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not [pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline(pid) == cmdline]:
            return True
        await asyncio.sleep(0.1)
    return False


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


async def test_output_beyond_the_cap_is_left_out_and_says_so(settings, temporal_client, api, tmp_path):
    capped = with_sandbox(settings, mode="bubblewrap", max_output_bytes=64 * 1024)
    async with worker_for(temporal_client, capped):
        _, step, output = await run_one_step(api, temporal_client, tmp_path,
                                             "echo FIRST-LINE\nyes 0123456789 | head -c 3000000\necho\necho LAST-LINE")
    assert step["status"] == "needs_qa"
    content = output["content"]
    assert content.startswith("FIRST-LINE") and content.rstrip().endswith("LAST-LINE")
    assert "bytes of output left out: the limit is 65536 bytes (CAPSTAN_SANDBOX_MAX_OUTPUT)" in content
    assert len(content) < 70 * 1024


async def test_network_off_cuts_every_connection(settings, temporal_client, api, tmp_path):
    postgres = urlsplit(settings.database.url.replace("+psycopg", ""))
    probe = (f"python3 -c \"import socket; socket.create_connection(('{postgres.hostname}', {postgres.port}), 3)\" "
             "&& echo CONNECTED || echo NO-CONNECTION")
    async with worker_for(temporal_client, with_sandbox(settings, mode="bubblewrap", network="off")):
        _, _, cut = await run_one_step(api, temporal_client, tmp_path / "off", probe)
    async with worker_for(temporal_client, with_sandbox(settings, mode="bubblewrap", network="on")):
        _, _, connected = await run_one_step(api, temporal_client, tmp_path / "on", probe)
    assert "NO-CONNECTION" in cut["content"] and "CONNECTED" not in cut["content"]
    assert "CONNECTED" in connected["content"]


async def test_without_a_sandbox_and_no_opt_in_steps_fail_instead_of_running(settings, api_factory, temporal_client,
                                                                              tmp_path):
    unsandboxed = with_sandbox(settings, mode="auto", bwrap_path=str(broken_bwrap(tmp_path)))
    async with api_factory(unsandboxed) as api, worker_for(temporal_client, unsandboxed):
        health = (await api.get("/health")).json()
        remote, step, output = await run_one_step(api, temporal_client, tmp_path, "echo ran > ran.txt")
        events = (await api.get(f"/protocols/{step['protocol_run_id']}/events")).json()
        types = await event_types(api, step["protocol_run_id"])
    assert health["status"] == "degraded"
    assert health["components"]["sandbox"]["status"] == "degraded"
    assert "No permissions to create new namespace" in health["components"]["sandbox"]["detail"]
    assert step["status"] == "failed" and types[-1] == "step_failed"
    message = events[0]["message"]
    assert "script did not run: repository code cannot run on this worker: bubblewrap cannot start" in message
    assert "process mode is not allowed (CAPSTAN_SANDBOX_ALLOW_PROCESS)" in message
    assert output["exit_code"] == 126
    assert "0001-demo" not in git("branch", "--list", cwd=remote)  # nothing ran, nothing was pushed


async def test_process_mode_runs_steps_only_when_the_operator_allows_it(settings, api_factory, temporal_client,
                                                                        tmp_path, monkeypatch):
    monkeypatch.setenv("CAPSTAN_SECRETS_KEY", "worker-secret-in-the-environment")
    allowed = with_sandbox(settings, mode="auto", allow_process=True, bwrap_path=str(broken_bwrap(tmp_path)))
    async with api_factory(allowed) as api, worker_for(temporal_client, allowed):
        health = (await api.get("/health")).json()
        remote, step, _ = await run_one_step(api, temporal_client, tmp_path, "env > env.txt")
    assert health["components"]["sandbox"]["status"] == "ok"  # (the health of the other components is not this test's)
    assert health["components"]["sandbox"]["detail"].startswith("process (bubblewrap cannot start")
    assert step["status"] == "needs_qa"
    env = git("show", "refs/heads/0001-demo:env.txt", cwd=remote)
    assert "CAPSTAN_STEP_FILE=" in env and "worker-secret-in-the-environment" not in env


async def test_the_command_engine_gets_the_step_file_on_stdin_and_by_path(settings, temporal_client, api,
                                                                          tmp_path):
    agent = with_execution(settings, command_engine='cat > from-stdin.md; cp "$CAPSTAN_STEP_FILE" by-path.md')
    step = "---\nengine_id: command\n---\n# Write the notes\n"
    remote, project = await create_project(api, tmp_path, {".protocols/0001-demo/01-agent.md": step})
    run = await create_run(api, project["id"])
    async with worker_for(temporal_client, agent):
        await api.post(f"/protocols/{run['id']}/actions/start")
        assert await settle(temporal_client, run["id"]) == "planned"
        await api.post(f"/protocols/{run['id']}/actions/run_next_step")
        await settle(temporal_client, run["id"])
    assert git("show", "refs/heads/0001-demo:from-stdin.md", cwd=remote) == step.strip()
    assert git("show", "refs/heads/0001-demo:by-path.md", cwd=remote) == step.strip()


async def test_a_step_cannot_make_capstans_own_git_run_its_code(api, worker, temporal_client, tmp_path):
    """The worktree's .git file names the git dir, and with it the config and hooks git runs: a step
    that points it at a repository of its making must not get Capstan's commit to run them."""
    pwned = tmp_path / "pwned"
    script = (f"git init -q --bare evil.git\n"
              f"git --git-dir=evil.git config core.bare false\n"
              f"git --git-dir=evil.git config core.fsmonitor 'touch {pwned}-fsmonitor #'\n"
              f"git --git-dir=evil.git config core.hooksPath \"$PWD/hooks\"\n"
              f"mkdir hooks && printf '#!/bin/sh\\ntouch {pwned}-hook\\n' > hooks/post-commit\n"
              f"chmod +x hooks/post-commit\n"
              f"echo \"gitdir: $PWD/evil.git\" > .git\n"
              f"echo changed > notes.txt")
    remote, step, output = await run_one_step(api, temporal_client, tmp_path, script)
    assert step["status"] == "needs_qa", output["content"]
    assert git("show", "refs/heads/0001-demo:notes.txt", cwd=remote) == "changed"  # committed as usual
    assert not list(tmp_path.glob("pwned*"))
