"""Group commit: mail arriving on several SMTP sessions at once shares one transaction and one fsync.

Every arrival must be on disk before its session hears 250 (synchronous=FULL), and a
disk sync costs milliseconds. One thread owns the writing: it takes whatever arrived
while the last commit was syncing and commits it together, then answers each waiting
session. A failure falls back to one transaction per message, so one bad message
gets its 451 alone. While arrivals wait (`pending()`), the inbound worker ends its
batch early and waits (`wait_idle`) before taking the write lock again: a sending
server never waits long for the bot's own processing.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy.engine import Engine

from bot.core import memory
from bot.core.logs import log_event
from bot.inbound.arrivals import Arrival, Stored, commit_arrivals
from bot.inbound.routing import ListAddress

MAX_GROUP = 64  # arrivals per transaction at most


@dataclass(frozen=True)
class Message:
    """One received message: its copies (one per list address) and who waits for them."""

    arrivals: list[Arrival]
    done: Future


class Committer(threading.Thread):
    def __init__(self, engine: Engine, now: Callable[[], datetime]):
        super().__init__(name="inbound-committer", daemon=True)
        self.engine = engine
        self.now = now
        self.inbox: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self.idle = threading.Event()  # cleared while arrivals wait for the write lock
        self.idle.set()

    def pending(self) -> bool:
        return not self.idle.is_set()

    def wait_idle(self, timeout: float) -> None:
        self.idle.wait(timeout)

    def submit(self, raw: bytes, *, source: str, envelope_from: str, envelope_to: list[str],
               deliveries: list[ListAddress | None]) -> Future:
        """Queue one message for storing; the future gives its Stored rows once they are on disk."""
        if not self.is_alive():
            raise RuntimeError("the committer has stopped")  # the session answers 451: nothing is lost
        arrivals = [Arrival(raw, source, delivery, "", envelope_from, tuple(envelope_to)) for delivery in deliveries]
        message = Message(arrivals, Future())
        self.idle.clear()
        self.inbox.put(message)
        return message.done

    def stop(self, timeout: float = 10) -> None:
        self.inbox.put(None)
        self.join(timeout)

    def run(self) -> None:
        stopping = False
        while not stopping:
            group, stopping = self._next_group()
            try:
                self._commit(group)
            except Exception as error:  # noqa: BLE001 - the thread must outlive any one group
                log_event("committer_error", level=logging.ERROR, error=type(error).__name__, detail=str(error)[:200])
                for message in group:
                    if not message.done.done():
                        message.done.set_exception(error)
            del group  # a 14 MB message is not kept while the thread waits for the next

    def _next_group(self) -> tuple[list[Message], bool]:
        """What arrived while the last commit was syncing (waiting for the first if nothing did).

        A message whose session has gone (the client hung up after the final dot, or timed out)
        is not stored: nobody heard a 250, so the sending server sends it again."""
        group: list[Message] = []
        message = self.inbox.get()
        while message is not None:
            if message.done.set_running_or_notify_cancel():
                group.append(message)
            if len(group) >= MAX_GROUP:
                return group, False
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return group, False
        return group, True

    def _commit(self, group: list[Message]) -> None:
        if not group:
            return
        try:
            stored = self._store([a for message in group for a in message.arrivals])
        except Exception:  # noqa: BLE001 - each message again on its own: only a bad one fails
            for message in group:
                self._commit_alone(message)
            self._maybe_idle()
            return
        self._maybe_idle()
        for message in group:
            message.done.set_result(stored[:len(message.arrivals)])
            stored = stored[len(message.arrivals):]
        if sum(len(m.arrivals[0].raw) for m in group if m.arrivals) > memory.LARGE_BYTES:
            memory.give_back()

    def _maybe_idle(self) -> None:
        if self.inbox.empty():
            self.idle.set()

    def _commit_alone(self, message: Message) -> None:
        try:
            message.done.set_result(self._store(message.arrivals))
        except Exception as error:  # noqa: BLE001 - the session answers 451 and the sender retries
            message.done.set_exception(error)

    def _store(self, arrivals: list[Arrival]) -> list[Stored]:
        return commit_arrivals(self.engine, arrivals, self.now())
