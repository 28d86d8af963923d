"""The built-in SMTP receiver: the list addresses' front door when no IMAP mailbox is used.

Contract with the sending server (in production, the organisation's Postfix):
  250  only after the raw bytes and the envelope are committed to the database;
  451  when they cannot be stored, for any reason (the sender keeps the mail and retries);
  550  for an address that is not a list address (or a +tag of one);
  552  over max_message_bytes (aiosmtpd enforces it and advertises SIZE);
  500/501/503/554 for protocol abuse, from aiosmtpd itself.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.logs import log_event
from bot.inbound.arrivals import store_inbound
from bot.inbound.routing import route

OK = "250 OK"
STORED = "250 2.0.0 Stored"
NO_SUCH_LIST = "550 5.1.1 No such list address here"
CANNOT_STORE = "451 4.3.0 Cannot store the message right now; please try again later"


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
            stored = await loop.run_in_executor(None, self._store, raw, envelope, deliveries)
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
        return f"{STORED} as #{','.join(str(s.id) for s in stored)}"

    def _store(self, raw: bytes, envelope: Envelope, deliveries):
        return store_inbound(self.engine, raw, source="smtp", envelope_from=envelope.mail_from or "",
                             envelope_to=list(envelope.rcpt_tos), deliveries=deliveries,
                             now=self.clock.now())


def start_receiver(settings: Settings, handler: ListReceiver, port: int | None = None) -> Controller:
    """Start listening in a background thread; returns the controller (call .stop())."""
    controller = Controller(
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
