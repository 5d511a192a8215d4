"""The one runner for code that comes from a repository: step scripts, QA, engines (and, later,
patch-stack checks and coding agents). Capstan's own trusted programs (git) use integrations/process.py.

Every command starts with a clean environment (an allowlist, never the worker's) and, on Linux,
under bubblewrap (capstan/sandbox.py builds its view): its own user, PID, IPC and UTS namespaces,
the system directories read-only, a private /tmp and HOME, only its worktree writable. Where
bubblewrap cannot start, the ``process`` mode (clean environment, own process group, killed with the
worker) runs only when the operator allows it; otherwise the command fails with
:class:`SandboxUnavailable`.
docs/security.md says what a command can and cannot reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from capstan.sandbox import SANDBOX_HOME, EmptyFiles, SandboxStatus, SandboxView, bubblewrap_args, resolve_status
from capstan.settings import SandboxSettings
from integrations.process import Heartbeat, dying_with_worker

__all__ = ["Sandbox", "SandboxResult", "SandboxUnavailable", "SandboxView", "shell"]

HEARTBEAT_EVERY = 1.0
# After a command exits, how long its output pipes may stay open (held by a process that escaped
# its group in process mode) before Capstan stops reading them.
PIPE_GRACE_SECONDS = 5.0
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Harmless variables passed through from the worker when set; everything else must be asked for.
LOCALE_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")

# Process mode: the shell between Capstan and the command. It dies with the worker (PR_SET_PDEATHSIG
# through util-linux setpriv, else a watch on the worker's pid), removes the command's HOME (nobody else will) and
# takes the command's whole process group along.
PROCESS_SHIM = r"""
watch=$1; home=$2; shift 2
die() { rm -rf "$home"; kill -KILL 0; }
trap die TERM HUP
if [ -n "$watch" ]; then
  (while kill -0 "$watch" 2>/dev/null; do sleep 2; done; kill -TERM $$) </dev/null >/dev/null 2>&1 &
fi
exec 3<&0
"$@" <&3 3<&- &
wait $!
"""


class SandboxUnavailable(RuntimeError):
    """No sandbox can run here and the operator has not allowed process mode."""


@dataclass
class SandboxResult:
    returncode: int
    output: str
    """stdout, with stderr in it when ``merge_output``."""
    stderr: str
    timed_out: bool
    left_out_bytes: int
    mode: str


def shell(script: str, *, errexit: bool = False) -> list[str]:
    """argv running ``script`` with the system's POSIX shell."""
    return ["sh", "-e", "-c", script] if errexit else ["sh", "-c", script]


class Sandbox:
    def __init__(self, settings: SandboxSettings, *, heartbeat: Heartbeat | None = None) -> None:
        self.settings = settings
        #: Called about every second while a command runs (an activity's heartbeat).
        self.heartbeat = heartbeat

    @cached_property
    def status(self) -> SandboxStatus:
        """The mode in force here (probed once per process); see ``resolve_status``."""
        return resolve_status(self.settings)

    async def run(self, argv: Sequence[str], view: SandboxView, *, env: Mapping[str, str] | None = None,
                  stdin: bytes | None = None, timeout: float | None = None, merge_output: bool = True,
                  max_output_bytes: int | None = None, heartbeat: str = "") -> SandboxResult:
        """Run ``argv`` in ``view.worktree`` and wait for it, calling the sandbox's ``heartbeat`` meanwhile.

        ``env`` adds variables the caller documents for the command (on top of PATH, HOME, the locale
        and the operator's ``CAPSTAN_SANDBOX_PASS_ENV``). Output beyond ``max_output_bytes`` (default:
        ``CAPSTAN_SANDBOX_MAX_OUTPUT``) is left out. A timeout or a cancelled activity kills the
        command's whole process tree; so does the worker's death."""
        status = self.status
        if not status.usable:
            raise SandboxUnavailable(f"repository code cannot run on this worker: {status.detail}")
        with contextlib.ExitStack() as cleanup:
            if status.mode == "bubblewrap":
                empty = EmptyFiles()
                cleanup.callback(empty.close)
                args = [*bubblewrap_args(status.bwrap, view, network=self.settings.network == "on",
                                         read_only=self.settings.read_only_paths, empty=empty), "--", *argv]
                child_env = self._environment(env, SANDBOX_HOME)
                spawn = {"pass_fds": tuple(empty.fds)}
            else:
                home = tempfile.mkdtemp(prefix="capstan-sandbox-home-")
                cleanup.callback(shutil.rmtree, home, True)
                child_env = {**self._environment(env, home), "TMPDIR": home}
                shim = ["sh", "-c", PROCESS_SHIM, "capstan-sandbox"]
                args = dying_with_worker([*shim, "", home, *argv], signal.SIGTERM)
                if args[0] == "sh":  # no setpriv: the shim watches the worker's pid itself
                    args = [*shim, str(os.getpid()), home, *argv]
                spawn = {}
            return await _supervise(args, cwd=view.worktree, env=child_env, stdin=stdin, timeout=timeout,
                                    merge_output=merge_output,
                                    limit=max_output_bytes or self.settings.max_output_bytes,
                                    beat=self.heartbeat, heartbeat=heartbeat or argv[0], mode=status.mode,
                                    spawn=spawn)

    def _environment(self, extra: Mapping[str, str] | None, home: str) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH") or STANDARD_PATH, "LANG": "C.UTF-8"}
        env.update({name: os.environ[name] for name in (*LOCALE_VARIABLES, *self.settings.pass_env)
                    if name in os.environ})
        env.update(extra or {})
        env["HOME"] = home
        return env


class CappedOutput:
    """Keeps the first and the last half of ``limit`` bytes and counts what falls between."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > 2 * self.tail_limit:
            del self.tail[:-self.tail_limit]

    @property
    def left_out(self) -> int:
        return max(0, self.total - self.head_limit - self.tail_limit)

    def text(self) -> str:
        if not self.left_out:
            return (self.head + self.tail).decode(errors="replace")
        return (self.head.decode(errors="replace")
                + f"\n[... {self.left_out} bytes of output left out: the limit is "
                  f"{self.head_limit + self.tail_limit} bytes (CAPSTAN_SANDBOX_MAX_OUTPUT) ...]\n"
                + self.tail[-self.tail_limit:].decode(errors="replace"))


class _Collector(asyncio.SubprocessProtocol):
    """Output as it arrives, and the process's exit apart from its pipes closing (a leftover
    process may hold them open)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.exited = loop.create_future()
        self.closed = loop.create_future()
        self.output = CappedOutput(limit)
        self.errors = CappedOutput(limit)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        (self.output if fd == 1 else self.errors).add(data)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _supervise(args: list[str], *, cwd: Path, env: dict[str, str], stdin: bytes | None,
                     timeout: float | None, merge_output: bool, limit: int, beat: Heartbeat | None, heartbeat: str,
                     mode: str, spawn: dict) -> SandboxResult:
    loop = asyncio.get_running_loop()
    collector = _Collector(loop, limit)
    transport, _ = await loop.subprocess_exec(
        lambda: collector, *args, cwd=cwd, env=env, start_new_session=True,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_output else asyncio.subprocess.PIPE, **spawn)
    pid = transport.get_pid()
    timed_out = False
    try:
        if stdin is not None:
            pipe = transport.get_pipe_transport(0)
            pipe.write(stdin)
            pipe.close()  # after the buffer drains; a command that never reads just gets EPIPE
        deadline = loop.time() + timeout if timeout else None
        while not collector.exited.done():
            wait = HEARTBEAT_EVERY if deadline is None else max(0.0, min(HEARTBEAT_EVERY, deadline - loop.time()))
            await asyncio.wait({collector.exited}, timeout=wait)
            if collector.exited.done():
                break
            if deadline is not None and loop.time() >= deadline:
                timed_out = True
                _kill_tree(pid)
                await collector.exited
                break
            if beat is not None:
                beat(heartbeat)
        _kill_tree(pid)  # what a finished command left running (bubblewrap already took it down)
        await asyncio.wait({collector.closed}, timeout=PIPE_GRACE_SECONDS)
    except BaseException:  # cancelled activity, or anything else: nothing the command started survives
        _kill_tree(pid)
        raise
    finally:
        transport.close()
    returncode = transport.get_returncode()
    output = collector.output
    return SandboxResult(returncode if returncode is not None else -1, output.text(), collector.errors.text(),
                         timed_out, output.left_out + collector.errors.left_out, mode)


def _kill_tree(pid: int) -> None:
    """SIGKILL the command's process group. Under bubblewrap that is bwrap itself: its child, the
    PID namespace's init, dies with it (--die-with-parent) and takes every process in the namespace."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


