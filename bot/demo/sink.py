"""A loopback SMTP server that files every mail it accepts into a Maildir, as a delivery agent would.

The demo sends through the bot's real SMTP sender, so what lands in the Maildir went
through the same outbox and send code as `kkrbot run` with `outbound = "smtp"`. Each
file starts with Return-Path and Delivered-To, and the sink remembers what came (at the
simulated time) for the simulated members to read and answer.
"""
from __future__ import annotations

import mailbox
import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.parser import BytesHeaderParser
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

from bot.core.clock import Clock

LOOPBACK = "127.0.0.1"  # nothing the demo sends may leave the machine


@dataclass(frozen=True)
class Delivered:
    """One mail as its recipient got it."""

    at: datetime
    recipient: str
    kind: str  # its X-Kkrbot-Kind
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


class _Filing:
    """aiosmtpd handler: one Maildir file per recipient."""

    def __init__(self, folder: Path, clock: Clock):
        for sub in ("cur", "new", "tmp"):  # Maildir(create=True) makes them only for a folder it creates
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(folder, create=False)
        self.clock = clock
        self.arrived: list[Delivered] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.original_content or envelope.content
        with self.lock:
            for recipient in envelope.rcpt_tos:
                trace = f"Return-Path: <{envelope.mail_from}>\r\nDelivered-To: {recipient}\r\n".encode()
                self.maildir.add(trace + raw)
                self.arrived.append(Delivered(self.clock.now(), recipient.lower(), _kind(raw), raw))
        return "250 2.0.0 Delivered"


class MaildirSink:
    """Start with `with MaildirSink(folder, clock) as sink:`; `sink.port` is where to send."""

    def __init__(self, folder: Path, clock: Clock):
        self.handler = _Filing(folder, clock)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname=LOOPBACK, port=self.port)
        self._read = 0

    def __enter__(self) -> "MaildirSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def new_mail(self) -> list[Delivered]:
        """What arrived since the last call."""
        with self.handler.lock:
            fresh = self.handler.arrived[self._read:]
            self._read = len(self.handler.arrived)
        return fresh

    @property
    def delivered(self) -> list[Delivered]:
        with self.handler.lock:
            return list(self.handler.arrived)


def _kind(raw: bytes) -> str:
    return str(BytesHeaderParser(policy=policy.compat32).parsebytes(raw).get("X-Kkrbot-Kind", "")).strip()


def free_port() -> int:
    """A port on loopback nobody listens on (aiosmtpd's controller cannot be given port 0)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]
