"""SMTP sinks in their own process: they count the messages they accept and discard them.

`Sink` is a minimal SMTP server on asyncio that finds the end of DATA with one
search over its buffer instead of reading line by line: aiosmtpd spends about a
microsecond per line, so 1,000 copies of a 5 MB post (70 million base64 lines) would
measure the sink, not the sender. `AiosmtpdSink` is a plain aiosmtpd server that
discards, the baseline a receiver is compared with.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import time

from aiosmtpd.controller import Controller

END_OF_DATA = b"\r\n.\r\n"
READ_LIMIT = 64 * 1024 * 1024


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, messages) -> None:
    try:
        await _converse(reader, writer, messages)
    except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
        pass  # the sink stopping, or a client gone: nothing to report
    writer.close()


async def _converse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, messages) -> None:
    writer.write(b"220 sink ESMTP\r\n")
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            writer.write(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n")
        elif verb == b"DATA":
            writer.write(b"354 go ahead\r\n")
            await writer.drain()
            await reader.readuntil(END_OF_DATA)  # the dot-stuffed text up to and with the end mark
            with messages.get_lock():
                messages.value += 1
            writer.write(b"250 2.0.0 Queued\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            break
        else:  # MAIL, RCPT, RSET, NOOP
            writer.write(b"250 OK\r\n")
        await writer.drain()


def _serve_fast(port: int, messages, ready, stop) -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: _session(r, w, messages), "127.0.0.1", port,
                                            limit=READ_LIMIT)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()
    asyncio.run(main())


class _Discarding:
    def __init__(self, messages):
        self.messages = messages

    async def handle_DATA(self, server, session, envelope):
        with self.messages.get_lock():
            self.messages.value += 1
        return "250 2.0.0 Queued"


def _serve_aiosmtpd(port: int, messages, ready, stop) -> None:
    controller = Controller(_Discarding(messages), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class Sink:
    """The fast counting sink, in its own process."""

    serve = staticmethod(_serve_fast)

    def __init__(self, port: int):
        context = multiprocessing.get_context("fork")
        self.port = port
        self.messages = context.Value("i", 0)
        self.ready, self.stopping = context.Event(), context.Event()
        self.process = context.Process(target=self.serve, args=(port, self.messages, self.ready, self.stopping),
                                       daemon=True)

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


class AiosmtpdSink(Sink):
    """A plain aiosmtpd server that discards: what a receiver costs with nothing behind it."""

    serve = staticmethod(_serve_aiosmtpd)
