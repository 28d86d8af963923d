"""The outbound side of the campaign: a real aiosmtpd server, in its own process, that misbehaves.

It answers 4xx to 30 % of DATA transactions, closes 5 % of connections after the message
without answering, refuses the dead members' addresses with 550 at RCPT, and records every
transaction in a JSON-lines file: when, which bot incarnation's connection it came on (the
`epoch`), the envelope and the copy's Message-ID. An accepted copy is written to the file
before its 250 goes out, so the file holds every copy the bot may have heard 250 for.

The epoch is the number of the `kkrbot run` process the campaign runs; it is stamped on a
connection when the connection is made. The campaign moves it on only after a killed
process is gone and before the next one starts, so a message a dead process left in the
socket is still counted as that process's, even if the sink reads it after the kill.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import random
import time
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

ACCEPTED, TEMPFAIL, DROPPED, REFUSED = "accepted", "451", "dropped", "550"


@dataclass(frozen=True)
class Faults:
    tempfail: float = 0.30  # DATA answered 451
    drop: float = 0.05  # connection closed after DATA without an answer
    refused: tuple[str, ...] = ()  # recipients refused with 550 at RCPT
    seed: int = 0


@dataclass(frozen=True)
class Copy:
    """One transaction the sink saw, as recorded."""

    t: float
    epoch: int
    outcome: str
    mail_from: str
    rcpt: str
    message_id: str
    size: int

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies a copy: its Message-ID, its recipient and its (VERP) envelope sender, which
        tells apart the copies of one post relayed by two networks."""
        return self.message_id, self.rcpt.lower(), self.mail_from.lower()


def message_id_of(content: bytes) -> str:
    end = content.find(b"\r\n\r\n")
    head = content[:end if end >= 0 else len(content)]
    return str(BytesHeaderParser(policy=compat32).parsebytes(head).get("Message-ID") or "").strip()


class _EpochSMTP(SMTP):
    """aiosmtpd's server, which remembers the campaign's epoch at the moment it was connected to."""

    epoch_value = None  # the shared multiprocessing.Value, set in the sink process

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.epoch = self.epoch_value.value


class _Handler:
    def __init__(self, faults: Faults, records: Path):
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.file = records.open("a", encoding="utf-8")

    def write(self, server, outcome: str, mail_from: str, rcpts: list[str], message_id: str, size: int) -> None:
        for rcpt in rcpts:
            line = dict(t=time.time(), epoch=server.epoch, outcome=outcome, mail_from=mail_from, rcpt=rcpt,
                        message_id=message_id, size=size)
            self.file.write(json.dumps(line) + "\n")
        self.file.flush()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.faults.refused:
            self.write(server, REFUSED, envelope.mail_from or "", [address], "", 0)
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        draw = self.rng.random()
        outcome = DROPPED if draw < self.faults.drop else TEMPFAIL if draw < self.faults.drop + self.faults.tempfail \
            else ACCEPTED
        self.write(server, outcome, envelope.mail_from or "", list(envelope.rcpt_tos), message_id_of(content),
                   len(content))
        if outcome == DROPPED:
            server.transport.close()  # the sender never hears back
            return "421 closing"
        if outcome == TEMPFAIL:
            return "451 4.3.0 Try again later"
        return "250 2.0.0 Queued"


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _EpochSMTP(self.handler, **self.SMTP_kwargs)


def _serve(port: int, faults: Faults, records: str, epoch, ready, stop) -> None:
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)  # dropped connections are the point
    _EpochSMTP.epoch_value = epoch
    controller = _Controller(_Handler(faults, Path(records)), hostname="127.0.0.1", port=port,
                             data_size_limit=64 * 1024 * 1024)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class FaultySink:
    """The sink process; `epoch` is the bot incarnation that new connections belong to."""

    def __init__(self, port: int, records: Path, faults: Faults):
        context = multiprocessing.get_context("spawn")  # no fork of a process that runs threads
        self.port, self.records = port, records
        self._epoch = context.Value("i", 0)
        self._ready, self._stop = context.Event(), context.Event()
        self.process = context.Process(target=_serve, name="proof-sink", daemon=True,
                                       args=(port, faults, str(records), self._epoch, self._ready, self._stop))

    def __enter__(self) -> "FaultySink":
        self.process.start()
        if not self._ready.wait(30):
            self.process.kill()
            raise RuntimeError("the sink did not start within 30 s")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.process.join(15)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.value = epoch

    def copies(self) -> list[Copy]:
        """Every transaction recorded so far."""
        if not self.records.exists():
            return []
        lines = self.records.read_text(encoding="utf-8").splitlines()
        return [Copy(**json.loads(line)) for line in lines if line.endswith("}")]
