"""The built-in SMTP receiver: the list addresses' front door when no IMAP mailbox is used.

Contract with the sending server (in production, the organisation's Postfix):
  250  only after the raw bytes and the envelope are committed to the database;
  451  when they cannot be stored, for any reason (the sender keeps the mail and retries);
  550  for an address that is not a list address (or a +tag of one);
  552  over max_message_bytes (aiosmtpd enforces it and advertises SIZE);
  500/501/503/554 for protocol abuse, from aiosmtpd itself.

Lines longer than RFC 5321's 1,000 octets are accepted and kept byte for byte, up to
max_message_bytes, as Postfix and Exchange accept them. Messages from concurrent
sessions are committed together (bot/inbound/committer.py).
"""
from __future__ import annotations

import asyncio
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.logs import log_event
from bot.inbound.committer import Committer
from bot.inbound.routing import route

OK = "250 OK"
STORED = "250 2.0.0 Stored"
NO_SUCH_LIST = "550 5.1.1 No such list address here"
CANNOT_STORE = "451 4.3.0 Cannot store the message right now; please try again later"


class ListReceiver:
    """aiosmtpd handler: accepts list addresses, stores each message before saying 250."""

    def __init__(self, settings: Settings, engine, clock: Clock, on_stored: Callable[[], None],
                 on_recovered: Callable[[str], None] | None = None):
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.on_stored = on_stored
        self.on_recovered = on_recovered  # told, once storing works again, how often it failed (451)
        self.failures: list[str] = []
        self.committer = Committer(engine, clock.now)
        self.committer.start()

    def close(self) -> None:
        self.committer.stop()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
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
        return f"{STORED} as #{','.join(str(s.id) for s in stored)}"


class LongLinesSMTP(SMTP):
    """aiosmtpd's server with a line limit of our choosing (its own is RFC 5321's 1,000 octets)."""

    def __init__(self, *args, line_length_limit: int, **kwargs):
        self.line_length_limit = line_length_limit  # read by SMTP.__init__ for its stream reader
        super().__init__(*args, **kwargs)


class ReceiverController(Controller):
    """Runs LongLinesSMTP and stops the handler's committer with the server."""

    def __init__(self, handler: ListReceiver, *, line_length_limit: int, **kwargs):
        super().__init__(handler, **kwargs)
        self.line_length_limit = line_length_limit

    def factory(self) -> SMTP:
        return LongLinesSMTP(self.handler, line_length_limit=self.line_length_limit, **self.SMTP_kwargs)

    def stop(self, *args, **kwargs) -> None:
        super().stop(*args, **kwargs)
        self.handler.close()


def start_receiver(settings: Settings, handler: ListReceiver, port: int | None = None) -> Controller:
    """Start listening in a background thread; returns the controller (call .stop())."""
    controller = ReceiverController(
        handler,
        line_length_limit=settings.limits.max_message_bytes,
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
