"""When ``capstan dev`` restarts a child that died, and when it gives up: pure, on an injected clock."""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartLimits:
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 10.0
    #: More deaths than this many restarts within the window is a crash loop; 0 = never restart.
    crash_loop_restarts: int = 5
    #: Also the stable period: a child that ran this long starts again from the first backoff.
    crash_loop_window_seconds: float = 60.0


class RestartPolicy:
    """One child's restart history. The backoff doubles from ``backoff_seconds`` up to
    ``max_backoff_seconds`` and starts over once the child has stayed up for a whole window."""

    def __init__(self, limits: RestartLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._restarts: deque[float] = deque()
        self._next_backoff = limits.backoff_seconds
        self._started_at = clock()

    def started(self) -> None:
        self._started_at = self.clock()

    @property
    def recent_restarts(self) -> int:
        """Restarts within the window ending now."""
        self._forget_old(self.clock())
        return len(self._restarts)

    def on_death(self) -> float | None:
        """Seconds to wait before restarting the child that just died, or None: it is crash-looping."""
        now = self.clock()
        if now - self._started_at >= self.limits.crash_loop_window_seconds:
            self._next_backoff = self.limits.backoff_seconds
        self._forget_old(now)
        if len(self._restarts) >= self.limits.crash_loop_restarts:
            return None
        self._restarts.append(now)
        delay = self._next_backoff
        self._next_backoff = min(delay * 2, self.limits.max_backoff_seconds)
        return delay

    def _forget_old(self, now: float) -> None:
        while self._restarts and self._restarts[0] <= now - self.limits.crash_loop_window_seconds:
            self._restarts.popleft()


def describe_exit(returncode: int) -> str:
    """``exit code 1`` or ``killed by SIGKILL``, from a ``Popen.returncode``."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"
