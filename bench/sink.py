"""An aiosmtpd sink in its own process: counts the messages and the distinct recipients it receives."""
from __future__ import annotations

import multiprocessing
import time

from aiosmtpd.controller import Controller


class Counting:
    def __init__(self, messages, recipients):
        self.messages, self.recipients, self.seen = messages, recipients, set()

    async def handle_DATA(self, server, session, envelope):
        self.seen.update(envelope.rcpt_tos)
        with self.messages.get_lock():
            self.messages.value += 1
        self.recipients.value = len(self.seen)
        return "250 2.0.0 Queued"


def _serve(port: int, messages, recipients, ready, stop) -> None:
    controller = Controller(Counting(messages, recipients), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class Sink:
    def __init__(self, port: int):
        context = multiprocessing.get_context("fork")
        self.port = port
        self.messages, self.recipients = context.Value("i", 0), context.Value("i", 0)
        self.ready, self.stopping = context.Event(), context.Event()
        self.process = context.Process(target=_serve, args=(port, self.messages, self.recipients, self.ready,
                                                            self.stopping), daemon=True)

    def __enter__(self) -> "Sink":
        self.process.start()
        if not self.ready.wait(10):
            raise SystemExit("sink did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.process.join(10)

    def reset(self) -> None:
        self.messages.value = 0

    def wait_for(self, count: int, timeout: float = 600) -> float:
        deadline = time.perf_counter() + timeout
        while self.messages.value < count:
            if time.perf_counter() > deadline:
                raise SystemExit(f"sink got {self.messages.value} of {count} messages")
            time.sleep(0.002)
        return time.perf_counter()
