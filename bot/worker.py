"""Background loops that run a job when woken: the inbound worker and the outbox sender.

The receiver (or the IMAP reader) wakes the inbound worker after each commit; the
inbound worker wakes the sender when it has processed mail; the scheduler wakes
both periodically for retries whose time has come. A wake while the job runs is
remembered, so nothing waits for the next period.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from bot.core.logs import log_event


class WakeableLoop(threading.Thread):
    """A job run on every wake. If it raises (the database locked or gone, the disk full), the loop
    goes on. The first failure of an outage goes to `on_failing` (where, what) at once, which must
    not need the database; once the job works again, `on_recovered` hears what went wrong and how
    often, so it can be recorded (through the database, which works again by then)."""

    def __init__(self, name: str, job: Callable[[], object], after: Callable[[], None] | None = None,
                 on_recovered: Callable[[str], None] | None = None,
                 on_failing: Callable[[str, str], object] | None = None):
        super().__init__(name=name, daemon=True)
        self.job = job
        self.after = after
        self.on_recovered = on_recovered
        self.on_failing = on_failing
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._failures: list[str] = []

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        self._wake.set()  # first run at once: resume what was left unfinished before the last stop
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                if self.job() and self.after:
                    self.after()
            except Exception as error:  # noqa: BLE001 - e.g. the database is away: try again on the next wake
                self._failures.append(f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}")
                log_event("worker_error", level=logging.ERROR, worker=self.name, error=type(error).__name__,
                          detail=str(error)[:200])
                if len(self._failures) == 1:
                    self._failing(self._failures[0])
                continue
            self._recovered()

    def _failing(self, failure: str) -> None:
        if self.on_failing:
            try:
                self.on_failing(self.name, failure)
            except Exception:  # noqa: BLE001 - telling must not break the loop
                log_event("worker_tell_failed", level=logging.ERROR, worker=self.name)

    def _recovered(self) -> None:
        if self._failures and self.on_recovered:
            failures, self._failures = self._failures, []
            try:
                self.on_recovered(f"{self.name} failed {len(failures)} time(s) before it worked again; "
                                  f"first: {failures[0]}; last: {failures[-1]}")
            except Exception:  # noqa: BLE001 - telling must not break the loop
                self._failures = failures
