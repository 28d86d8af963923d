"""The background loops survive a failing job and report the trouble once it works again."""
from __future__ import annotations

import threading

from bot.worker import WakeableLoop


def test_a_failing_job_does_not_stop_the_loop_and_recovery_is_reported():
    calls, reports, done = [], [], threading.Event()

    def job():
        calls.append(1)
        if len(calls) <= 2:
            raise OSError("database or disk is full")
        done.set()
        return 0

    loop = WakeableLoop("test-loop", job, on_recovered=reports.append)
    loop.start()
    for _ in range(3):
        loop.wake()
        threading.Event().wait(0.05)
    assert done.wait(5)
    loop.stop()
    assert len(calls) >= 3
    assert reports == ["test-loop failed 2 time(s) before it worked again; first: OSError: database or disk is "
                       "full; last: OSError: database or disk is full"]


def test_the_first_failure_of_each_outage_is_told_at_once():
    outcomes = iter([OSError("disk full"), OSError("disk full"), None, OSError("locked"), None])
    told, ran = [], threading.Event()

    def job():
        outcome = next(outcomes, None)
        ran.set()
        if outcome is not None:
            raise outcome
        return 0

    loop = WakeableLoop("test-loop", job, on_recovered=lambda _: None, on_failing=lambda *what: told.append(what))
    loop.start()
    for _ in range(5):
        ran.wait(5)
        ran.clear()
        loop.wake()
    loop.stop()
    assert told == [("test-loop", "OSError: disk full"), ("test-loop", "OSError: locked")]  # not once per failure
