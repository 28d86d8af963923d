"""A real aiosmtpd server on loopback that records what it receives and can misbehave on purpose.

Faults, set per test: answer a code (421, 451, ...) to the first N DATA commands,
refuse chosen recipients with 550, or drop the connection mid-DATA (after the
message, before the reply) the first N times.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


@dataclass
class Faults:
    data_code: str = ""  # e.g. "451 4.3.0 Try again later"
    data_code_times: int = 0
    refuse: set[str] = field(default_factory=set)  # recipients answered 550 at RCPT
    drop_times: int = 0  # close the connection instead of answering DATA


class SinkHandler:
    def __init__(self):
        self.received: list[Received] = []
        self.faults = Faults()
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.faults.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.attempts += 1
            if self.faults.drop_times > 0:
                self.faults.drop_times -= 1
                server.transport.close()  # the client never hears back: a dropped connection
                return "421 closing"
            if self.faults.data_code_times > 0:
                self.faults.data_code_times -= 1
                return self.faults.data_code
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Queued"


class SmtpSink:
    def __init__(self, port: int):
        self.handler = SinkHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port)

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def faults(self) -> Faults:
        return self.handler.faults
