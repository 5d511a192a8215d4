"""How ``capstan dev`` paces restarts of a dying child and when it calls it a crash loop (a fake clock, no sleeps)."""

from __future__ import annotations

import logging
import signal
import sys

from capstan.devstack.restarts import RestartLimits, RestartPolicy, describe_exit
from capstan.devstack.supervisor import SupervisedChild


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LIMITS = RestartLimits(backoff_seconds=0.5, max_backoff_seconds=4.0, crash_loop_restarts=5,
                       crash_loop_window_seconds=60.0)


def dies_after(policy: RestartPolicy, clock: FakeClock, uptime: float) -> float | None:
    """The child ran ``uptime`` seconds and died; what the policy answers. Restarts it when told to."""
    clock.now += uptime
    delay = policy.on_death()
    if delay is not None:
        clock.now += delay
        policy.started()
    return delay


def test_backoff_doubles_up_to_its_cap():
    clock = FakeClock()
    policy = RestartPolicy(RestartLimits(backoff_seconds=0.5, max_backoff_seconds=4.0, crash_loop_restarts=100),
                           clock)
    assert [dies_after(policy, clock, 0.1) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_five_restarts_within_a_minute_then_the_next_death_is_a_crash_loop():
    clock = FakeClock()
    policy = RestartPolicy(LIMITS, clock)
    assert [dies_after(policy, clock, 1.0) for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.recent_restarts == 5
    assert dies_after(policy, clock, 1.0) is None


def test_deaths_spread_over_more_than_the_window_never_stop_the_stack():
    clock = FakeClock()
    policy = RestartPolicy(LIMITS, clock)
    delays = [dies_after(policy, clock, 20.0) for _ in range(50)]  # a death every ~25 s, forever
    assert None not in delays
    assert policy.recent_restarts <= 3


def test_a_child_up_for_a_whole_window_starts_again_from_the_first_backoff():
    clock = FakeClock()
    policy = RestartPolicy(LIMITS, clock)
    assert [dies_after(policy, clock, 1.0) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert dies_after(policy, clock, 60.0) == 0.5  # it was stable: not 4 s
    assert dies_after(policy, clock, 1.0) == 1.0


def test_zero_restarts_stops_on_the_first_death():
    policy = RestartPolicy(RestartLimits(crash_loop_restarts=0), FakeClock())
    assert policy.on_death() is None


def test_exit_descriptions():
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"


def test_a_child_that_dies_is_logged_and_restarted_after_its_backoff(caplog):
    clock = FakeClock()
    child = SupervisedChild("worker 1", [sys.executable, "-c", "raise SystemExit(3)"], {}, LIMITS, clock)
    first = child.start()
    first.wait(30)
    with caplog.at_level(logging.INFO, logger="capstan.devstack.supervisor"):
        assert child.supervise() is None
        assert f"worker 1 (pid {first.pid}) died: exit code 3; restarting it in 0.5s (restart 1 within 60s)" \
            in caplog.messages
        clock.now += 0.4
        assert child.supervise() is None and child.proc is first  # still backing off
        clock.now += 0.1
        assert child.supervise() is None
    second = child.proc
    assert second is not first
    assert f"worker 1 restarted (pid {second.pid})" in caplog.messages
    second.wait(30)


def test_a_crash_looping_child_gives_the_reason_to_stop():
    clock = FakeClock()
    limits = RestartLimits(backoff_seconds=0.5, crash_loop_restarts=1, crash_loop_window_seconds=60.0)
    child = SupervisedChild("api", [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
                            {}, limits, clock)
    child.start().wait(30)
    assert child.supervise() is None
    clock.now += 0.5
    child.supervise()
    child.proc.wait(30)
    assert child.supervise() == "api keeps dying (killed by SIGTERM after 1 restart within 60s)"
