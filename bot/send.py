"""Send: deliver due outbox rows, over SMTP or into a Maildir, and record what happened.

The one window where a crash can send a mail twice is after the server said 250
and before the batch's results are committed; it is kept to one batch
(`[outbox] batch_size`).
"""
from __future__ import annotations

import mailbox
import queue
import smtplib
import ssl
import threading
from pathlib import Path
from typing import Protocol

from sqlmodel import Session

from bot import outbox
from bot.app import App
from bot.db import session_scope
from bot.logs import log_event
from bot.outbox import BOUNCED, SENT, Delivery, Result
from bot.settings import Settings

RETRY = "retry"


class Sender(Protocol):
    def send(self, deliveries: list[Delivery]) -> list[Result]: ...

    def close(self) -> None: ...


class MaildirSender:
    """Deliver into a standard Maildir, each file starting with Return-Path and Delivered-To
    as a delivery agent writes them (the embedded default, `kkrbot preview` and `demo`)."""

    def __init__(self, path: Path):
        self.maildir = mailbox.Maildir(path, create=True)

    def send(self, deliveries: list[Delivery]) -> list[Result]:
        return [self._deliver(d) for d in deliveries]

    def _deliver(self, delivery: Delivery) -> Result:
        trace = f"Return-Path: <{delivery.envelope_from}>\r\nDelivered-To: {delivery.recipient}\r\n".encode()
        try:
            self.maildir.add(trace + delivery.raw)
        except OSError as error:
            return Result(delivery.id, RETRY, f"maildir: {error}")
        return Result(delivery.id, SENT, "maildir")

    def close(self) -> None:
        pass


class SmtpSender:
    """A few persistent SMTP connections used in parallel; each result classified 2xx/4xx/5xx."""

    def __init__(self, settings: Settings):
        secrets = settings.secrets
        self.host = secrets.get("SMTP_HOST", "")
        self.tls = secrets.get("SMTP_TLS", "starttls")
        self.port = int(secrets.get("SMTP_PORT") or (465 if self.tls == "implicit" else 587))
        self.user, self.password = secrets.get("SMTP_USER"), secrets.get("SMTP_PASSWORD")
        self.local_hostname = settings.networks[0].domain if settings.networks else None
        self.connections: list[smtplib.SMTP | None] = [None] * settings.outbox.connections

    def send(self, deliveries: list[Delivery]) -> list[Result]:
        work: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        for delivery in deliveries:
            work.put(delivery)
        results: list[Result] = []
        lanes = min(len(self.connections), len(deliveries))
        threads = [threading.Thread(target=self._lane, args=(i, work, results)) for i in range(lanes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def _lane(self, slot: int, work: queue.SimpleQueue, results: list[Result]) -> None:
        while True:
            try:
                delivery = work.get_nowait()
            except queue.Empty:
                return
            results.append(self._send_one(slot, delivery))

    def _send_one(self, slot: int, delivery: Delivery) -> Result:
        try:
            connection = self._connection(slot)
            connection.sendmail(delivery.envelope_from, [delivery.recipient], delivery.raw)
            return Result(delivery.id, SENT, "250")
        except smtplib.SMTPRecipientsRefused as error:
            code, text = error.recipients.get(delivery.recipient, (450, b"refused"))
            return _by_code(delivery.id, code, text)
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
            self._reset(slot)
            status = _by_code(delivery.id, error.smtp_code, error.smtp_error)
            return status if isinstance(error, smtplib.SMTPDataError) else Result(delivery.id, RETRY, status.detail)
        except (smtplib.SMTPException, OSError) as error:
            self._drop(slot)
            return Result(delivery.id, RETRY, f"{type(error).__name__}: {error}")

    def _connection(self, slot: int) -> smtplib.SMTP:
        connection = self.connections[slot]
        if connection is None:
            connection = self._connect()
            self.connections[slot] = connection
        return connection

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.tls == "implicit":
            connection = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                          context=context, timeout=60)
        else:
            connection = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=60)
            if self.tls == "starttls":
                connection.starttls(context=context)
        if self.user:
            connection.login(self.user, self.password or "")
        return connection

    def _reset(self, slot: int) -> None:
        try:
            if self.connections[slot]:
                self.connections[slot].rset()
        except (smtplib.SMTPException, OSError):
            self._drop(slot)

    def _drop(self, slot: int) -> None:
        connection, self.connections[slot] = self.connections[slot], None
        if connection is not None:
            try:
                connection.close()
            except OSError:
                pass

    def close(self) -> None:
        for slot, connection in enumerate(self.connections):
            if connection is not None:
                try:
                    connection.quit()
                except (smtplib.SMTPException, OSError):
                    pass
                self.connections[slot] = None


def _by_code(outbox_id: int, code: int, text: bytes | str) -> Result:
    detail = f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
    if 500 <= code < 600:
        return Result(outbox_id, BOUNCED, detail)
    return Result(outbox_id, RETRY, detail)


def make_sender(settings: Settings) -> Sender:
    if settings.outbound == "smtp":
        return SmtpSender(settings)
    return MaildirSender(settings.sent_dir)


def flush_outbox(app: App, sender: Sender) -> int:
    """Send every due row, batch by batch; return how many deliveries were attempted."""
    from bot.bounces import record_refusals

    attempted = 0
    while True:
        with Session(app.engine) as session:
            batch = outbox.due(session, app.clock.now(), app.settings.outbox.batch_size)
        if not batch:
            return attempted
        results = sender.send(batch)
        with session_scope(app.engine) as session:
            bounced = outbox.record(session, results, app.clock.now())
            record_refusals(app, session, bounced)
        for result in results:
            log_event("sent" if result.status == SENT else "send_" + result.status, outbox=result.id,
                      detail=None if result.status == SENT else result.detail[:120])
        attempted += len(batch)
        if all(r.status == RETRY for r in results):
            return attempted  # everything is backing off: try again on the next run
