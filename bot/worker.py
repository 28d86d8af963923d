"""The inbound worker: one thread that processes stored messages when woken.

The receiver (and later the IMAP cursor) wakes it after each commit; a periodic
wake from the scheduler catches retries whose time has come. A wake while it is
busy is remembered, so no message waits for the next period.
"""
from __future__ import annotations

import logging
import threading

from bot.app import App
from bot.logs import log_event
from bot.pipeline import process_pending


class InboundWorker(threading.Thread):
    def __init__(self, app: App):
        super().__init__(name="inbound-worker", daemon=True)
        self.app = app
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        self._wake.set()  # resume whatever was stored but not finished before the last stop
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                process_pending(self.app)
            except Exception as error:  # noqa: BLE001 - e.g. the database is away; try again on next wake
                log_event("worker_error", level=logging.ERROR, error=type(error).__name__, detail=str(error)[:200])
