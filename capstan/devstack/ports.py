"""Port checks for the local stack."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from capstan.devstack import DevStackError


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(port: int, what: str, host: str = "127.0.0.1") -> None:
    if not port_is_free(port, host):
        raise DevStackError(f"port {port} ({what}) is already in use on {host}; choose another with its option")


def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, for a server started a moment later. Picked below the kernel's ephemeral range
    when it can be: a port from that range may be handed to some outgoing connection in the meantime,
    which on a busy machine (several test runs at once) happens."""
    below = range(10000, _ephemeral_range_start())
    for port in random.sample(below, min(50, len(below))):
        if port_is_free(port, host):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
