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

from bot.logs import log_event


class WakeableLoop(threading.Thread):
    def __init__(self, name: str, job: Callable[[], object], after: Callable[[], None] | None = None):
        super().__init__(name=name, daemon=True)
        self.job = job
        self.after = after
        self._wake = threading.Event()
        self._stopping = threading.Event()

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
                log_event("worker_error", level=logging.ERROR, worker=self.name, error=type(error).__name__,
                          detail=str(error)[:200])
