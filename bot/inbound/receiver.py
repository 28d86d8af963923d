"""The built-in SMTP receiver: the list addresses' front door when no IMAP mailbox is used.

Contract with the sending server (in production, the organisation's Postfix):
  250  only after the raw bytes and the envelope are committed to the database;
  451  when they cannot be stored, for any reason (the sender keeps the mail and retries);
  550  for an address that is not a list address (or a +tag of one);
  552  over max_message_bytes (aiosmtpd enforces it and advertises SIZE);
  500/501/503/554 for protocol abuse, from aiosmtpd itself.

Lines longer than RFC 5321's 1,000 octets are accepted and kept byte for byte, up to
max_message_bytes, as Postfix and Exchange accept them (ListSMTP reads DATA). Messages from concurrent
sessions are committed together (bot/inbound/committer.py).
"""
from __future__ import annotations

import asyncio
import re
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.logs import log_event
from bot.inbound.committer import Committer
from bot.inbound.routing import route

LEADING_DOT = re.compile(rb"(?:^|(?<=\r\n))\.")  # RFC 5321 4.5.2: a dot that starts a line was doubled
OK = "250 OK"
STORED = "250 2.0.0 Stored"
NO_SUCH_LIST = "550 5.1.1 No such list address here"
CANNOT_STORE = "451 4.3.0 Cannot store the message right now; please try again later"
# RFC 5321 4.5.3.1.8: at least 100 must be accepted; a sender with more sends the rest again later.
MAX_RECIPIENTS = 100
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients; send the rest in another transaction"


class ListReceiver:
    """aiosmtpd handler: accepts list addresses, stores each message before saying 250."""

    def __init__(self, settings: Settings, engine, clock: Clock, on_stored: Callable[[], None],
                 on_recovered: Callable[[str], None] | None = None,
                 on_failing: Callable[[str, str], object] | None = None):
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.on_stored = on_stored
        self.on_recovered = on_recovered  # told, once storing works again, how often it failed (451)
        self.on_failing = on_failing  # told at the first 451 of an outage, in the background (no database)
        self.failures: list[str] = []
        self.committer = Committer(engine, clock.now)
        self.committer.start()

    def close(self) -> None:
        self.committer.stop()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return TOO_MANY_RECIPIENTS
        if route(address, self.settings.networks) is None:
            log_event("rcpt_refused", address=address, peer=session.peer[0])
            return NO_SUCH_LIST
        envelope.rcpt_tos.append(address)
        return OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        deliveries = [route(a, self.settings.networks) for a in envelope.rcpt_tos]
        loop = asyncio.get_running_loop()
        try:
            stored = await asyncio.wrap_future(self.committer.submit(
                raw, source="smtp", envelope_from=envelope.mail_from or "", envelope_to=list(envelope.rcpt_tos),
                deliveries=deliveries))
        except Exception as error:  # noqa: BLE001 - whatever it is, 451 keeps the mail at the sender
            detail = str(error).splitlines()[0][:200] if str(error) else ""
            self.failures.append(f"{type(error).__name__}: {detail}")
            if len(self.failures) == 1 and self.on_failing:  # not awaited: the 451 does not wait for it
                loop.run_in_executor(None, self.on_failing, "smtp-receiver", self.failures[0])
            log_event("store_failed", level=40, source="smtp", error=type(error).__name__, detail=detail)
            return CANNOT_STORE
        if self.failures and self.on_recovered:
            failures, self.failures = self.failures, []
            message = (f"the SMTP receiver answered 451 {len(failures)} time(s) because it could not store "
                       f"mail; first: {failures[0]}; last: {failures[-1]}")
            await loop.run_in_executor(None, self.on_recovered, message)
        for item in stored:
            log_event("stored", id=item.id, source="smtp", network=item.network, bytes=len(raw),
                      duplicate=item.duplicate or None)
        self.on_stored()
        more = f" (+{len(stored) - 1} more)" if len(stored) > 1 else ""
        return f"{STORED} as #{stored[0].id}{more}"  # one line, well under RFC 5321's 512 octets


class ListSMTP(SMTP):
    """aiosmtpd's server with a DATA reader of our own.

    aiosmtpd reads DATA line by line into a list of bytearrays and joins them: about
    three times the message in memory (a 14 MB post costs over 40 MB), and lines over
    1,000 octets are refused. This reader reads up to each ".<CRLF>" (a whole base64
    attachment at once) into one buffer and never past the end of the message, keeps
    the bytes as they came (only the dot-stuffing undone), and has no line limit.
    """

    line_length_limit = 64 * 1024  # the stream reader's chunk: how much of a long line is read at once

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content = await self._read_data()
        if content is None:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> bytearray | bytes | None:
        """The message up to the lone dot, dot-stuffing undone; None when over the size limit."""
        data, limit, too_much = bytearray(), self.data_size_limit, False
        while not (data == b".\r\n" or data.endswith(b"\r\n.\r\n")):
            try:
                data += await self._reader.readuntil(b".\r\n")
            except asyncio.LimitOverrunError as error:  # no ".<CRLF>" within the reader's limit yet
                data += await self._reader.readexactly(error.consumed)
            if limit and len(data) > limit + 5:
                too_much = True
                del data[:-5]  # keep just enough to see the end
        if too_much:
            return None
        del data[-3:]  # the lone dot; the CRLF before it ends the last line
        return LEADING_DOT.sub(b"", data) if data.startswith(b".") or b"\r\n." in data else data


class ReceiverController(Controller):
    """Runs ListSMTP and stops the handler's committer with the server."""

    def factory(self) -> SMTP:
        return ListSMTP(self.handler, **self.SMTP_kwargs)

    def stop(self, *args, **kwargs) -> None:
        super().stop(*args, **kwargs)
        self.handler.close()


def start_receiver(settings: Settings, handler: ListReceiver, port: int | None = None) -> Controller:
    """Start listening in a background thread; returns the controller (call .stop())."""
    controller = ReceiverController(
        handler,
        hostname=settings.receiver.host,
        port=settings.receiver.port if port is None else port,
        data_size_limit=settings.limits.max_message_bytes,
        enable_SMTPUTF8=True,
        server_hostname=_server_name(settings),
        ident="kkrbot",
    )
    controller.start()
    return controller


def _server_name(settings: Settings) -> str:
    return settings.networks[0].domain if settings.networks else "localhost"
