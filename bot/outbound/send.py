"""Send: deliver due outbox rows, over SMTP or into a Maildir, and record what happened.

The one window where a crash can send a mail twice is after the server said 250
and before the results are committed; it is kept to the one batch on the wire
(`[outbox] batch_size`): the next batch is read and its copies made while this one
is sent, but it goes out only after this one's results are committed. A busy
database does not open it: results that cannot be written are kept and written
before anything else is sent.

Each copy is written to the server part by part (bot/outbound/copies.py): the
content it shares with other copies is never joined into a per-recipient string.
"""
from __future__ import annotations

import mailbox
import queue
import re
import smtplib
import socket
import ssl
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.app import App
from bot.config.settings import Settings
from bot.core import memory
from bot.core.clock import Clock, SystemClock
from bot.core.logs import log_event
from bot.mailauth.oauth2 import LoginRefused, TokenError, TokenSource, log_in_with_token, shared_source, xoauth2_string
from bot.outbound import admin_notices, outbox
from bot.outbound.copies import CopyMaker, MissingContent, SharedPart, dot_stuffed
from bot.outbound.outbox import BOUNCED, FAILED, SENT, Delivery, Result
from bot.store.db import session_scope
from bot.store.models import OutboxMessage

RETRY = "retry"
LARGE_PART = 64 * 1024  # a part this large is written on its own; smaller ones are joined into one write
# Records the rows the SMTP server refused with 5xx, in the transaction that records the
# results. The caller hands it in (the daemon passes bounce scoring), so sending does not
# depend on what a refusal means for the person.
OnRefused = Callable[[Session, list[OutboxMessage]], None]
LOGIN_ALARM_SECONDS = 15 * 60
REFUSAL_NOTICE_EVERY = timedelta(hours=1)
LOGIN_COOLDOWN_SECONDS = 10  # after a refused OAuth2 login, how long other lanes fail without trying
# Replies that are about our mailbox, not the recipient: Exchange Online's SendAs refusals (the
# VERP envelope sender or the From is not allowed for this app or mailbox), its and Gmail's
# sending quotas and rate limits, an unauthenticated submission. Such a refusal is trouble with
# the server: the mail is retried and the administrator told; never a bounce against the recipient.
SERVER_TROUBLE = re.compile(
    r"\b5\.7\.(?:60|57|705|708)\b|\b5\.2\.252\b|\b5\.4\.5\b|\b4\.7\.66\b|SendAs|send as this sender"
    r"|sending quota|SubmissionQuota|rate limit", re.IGNORECASE)


class Pace:
    """At most `per_minute` mails handed to the server in any 60 seconds of the app's clock
    (`[outbox] max_per_minute`; Exchange Online allows 30 a minute per mailbox). What does not fit
    stays queued and goes out on a later wake-up. 0 means no limit. Kept per running bot."""

    def __init__(self, per_minute: int = 0):
        self.per_minute = per_minute
        self.handed: deque[datetime] = deque()

    def room(self, now: datetime, wanted: int) -> int:
        if not self.per_minute:
            return wanted
        while self.handed and now - self.handed[0] >= timedelta(minutes=1):
            self.handed.popleft()
        return max(0, min(wanted, self.per_minute - len(self.handed)))

    def spend(self, count: int, now: datetime) -> None:
        if self.per_minute:
            self.handed.extend([now] * count)


class Sender(Protocol):
    unrecorded: list[Result]
    pace: Pace

    def send(self, deliveries: list[Delivery]) -> list[Result]: ...

    def close(self) -> None: ...


class MaildirSender:
    """Deliver into a standard Maildir, each file starting with Return-Path and Delivered-To
    as a delivery agent writes them (the embedded default, `kkrbot preview` and `demo`)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)  # data_dir: on PostgreSQL nothing else made it
        self.maildir = mailbox.Maildir(path, create=True)
        self.unrecorded: list[Result] = []
        self.pace = Pace()  # a folder has no sending limits

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


class _Batch:
    """Results of one batch, filled in by the lanes."""

    def __init__(self, size: int):
        self.results: list[Result] = []
        self.size = size
        self.done = threading.Event()
        self.lock = threading.Lock()
        if size == 0:
            self.done.set()

    def add(self, result: Result) -> None:
        with self.lock:
            self.results.append(result)
            if len(self.results) == self.size:
                self.done.set()


class SmtpSender:
    """A few persistent SMTP connections, each owned by one lane thread that takes the next
    delivery from a shared queue; each result classified 2xx/4xx/5xx. Batches flow through
    without a barrier, so no connection waits for the slowest one of a batch."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None):
        self.clock = clock or SystemClock()  # the login alarm's time: the app's clock, so it can be tested
        secrets = settings.secrets
        self.host = secrets.get("SMTP_HOST", "")
        self.tls = secrets.get("SMTP_TLS", "starttls")
        self.port = int(secrets.get("SMTP_PORT") or (465 if self.tls == "implicit" else 587))
        self.user, self.password = secrets.get("SMTP_USER"), secrets.get("SMTP_PASSWORD")
        self.tokens: TokenSource | None = shared_source(secrets) if secrets.get("SMTP_AUTH") == "xoauth2" else None
        self.local_hostname = settings.networks[0].domain if settings.networks else None
        self.connections: list[smtplib.SMTP | None] = [None] * settings.outbox.connections
        self.work: queue.SimpleQueue = queue.SimpleQueue()
        self.lanes: list[threading.Thread] = []
        self.unrecorded: list[Result] = []  # delivered, but not yet recorded: recorded before anything else
        self.failing_since: datetime | None = None  # when connecting or logging in started to fail
        self.last_failure = ""
        self.alarm_raised = False
        self.pace = Pace(settings.outbox.max_per_minute)
        self.refusal = ""  # the last SendAs/quota refusal not yet told to the administrator
        self.refusal_told_at: datetime | None = None
        self.login_failed: tuple[datetime, Exception] | None = None  # (when, error) of a refused token

    def send(self, deliveries: list[Delivery]) -> list[Result]:
        self._start_lanes()
        batch = _Batch(len(deliveries))
        for delivery in deliveries:
            self.work.put((delivery, batch))
        batch.done.wait()
        return batch.results

    def _start_lanes(self) -> None:
        if not self.lanes:
            self.lanes = [threading.Thread(target=self._lane, args=(slot,), name=f"smtp-lane-{slot}", daemon=True)
                          for slot in range(len(self.connections))]
            for lane in self.lanes:
                lane.start()

    def _lane(self, slot: int) -> None:
        while (item := self.work.get()) is not None:
            delivery, batch = item
            batch.add(self._send_one(slot, delivery))
        self._quit(slot)

    def _send_one(self, slot: int, delivery: Delivery) -> Result:
        try:
            connection = self._connection(slot)
            self.failing_since = None
            transmit(connection, delivery)
            return Result(delivery.id, SENT, "250")
        except smtplib.SMTPRecipientsRefused as error:
            code, text = error.recipients.get(delivery.recipient, (450, b"refused"))
            return self._server_trouble(delivery.id, code, text) or _by_code(delivery.id, code, text)
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
            # A 5xx to the text (size, content) is not the recipient's address failing: not scored.
            self._reset(slot)
            trouble = self._server_trouble(delivery.id, error.smtp_code, error.smtp_error)
            status = trouble or _by_code(delivery.id, error.smtp_code, error.smtp_error, scores=False)
            return status if isinstance(error, smtplib.SMTPDataError) else Result(delivery.id, RETRY, status.detail)
        except (smtplib.SMTPException, OSError) as error:
            self._drop(slot)
            return Result(delivery.id, RETRY, f"{type(error).__name__}: {error}")
        except Exception as error:  # noqa: BLE001 - a lane must never die: its batch would wait forever
            self._drop(slot)
            return Result(delivery.id, RETRY, f"{type(error).__name__}: {error}")

    def _connection(self, slot: int) -> smtplib.SMTP:
        connection = self.connections[slot]
        if connection is None:
            self._refuse_while_cooling()
            try:
                connection = self._connect()
            except (smtplib.SMTPException, OSError, TokenError, LoginRefused) as error:
                self.failing_since = self.failing_since or self.clock.now()
                self.last_failure = f"{type(error).__name__}: {error}"
                if isinstance(error, (TokenError, LoginRefused)):
                    self.login_failed = (self.clock.now(), error)
                raise
            self.connections[slot] = connection
        return connection

    def _refuse_while_cooling(self) -> None:
        """After a token that could not be had or was refused, the rest of the batch fails at once
        instead of asking the issuer and the server again for every mail (a burst of 200 would
        otherwise be 200 token requests: Entra throttles, and the answer would be the same)."""
        failed = self.login_failed
        if failed and (self.clock.now() - failed[0]).total_seconds() < LOGIN_COOLDOWN_SECONDS:
            raise type(failed[1])(str(failed[1]))  # a new one per lane: lanes must not share a traceback
        self.login_failed = None

    def _server_trouble(self, outbox_id: int, code: int, text: bytes | str) -> Result | None:
        """A SendAs or quota refusal: retried later, noted for the administrator; else None."""
        detail = _by_code(outbox_id, code, text).detail
        if not SERVER_TROUBLE.search(detail):
            return None
        self.refusal = detail
        return Result(outbox_id, RETRY, detail)

    def refused(self) -> str | None:
        """A SendAs or quota refusal to tell the administrator about, at most once an hour."""
        now = self.clock.now()
        if not self.refusal or (self.refusal_told_at and now - self.refusal_told_at < REFUSAL_NOTICE_EVERY):
            return None
        detail, self.refusal, self.refusal_told_at = self.refusal, "", now
        return (f"SMTP {self.host}:{self.port} refuses to send for the list's mailbox (SendAs permission or "
                f"sending quota); the mail stays queued and is retried: {detail[:200]}")

    def trouble(self) -> str | None:
        """Once per episode: a description when connecting or logging in has failed for 15 minutes."""
        if self.failing_since is None:
            self.alarm_raised = False
            return None
        if self.alarm_raised or (self.clock.now() - self.failing_since).total_seconds() < LOGIN_ALARM_SECONDS:
            return None
        self.alarm_raised = True
        return f"SMTP {self.host}:{self.port}: failing for over 15 minutes: {self.last_failure[:200]}"

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.tls == "implicit":
            connection = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                          context=context, timeout=60)
        else:
            connection = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=60)
            if self.tls == "starttls":
                connection.starttls(context=context)
        # The text goes out in a few writes; without NODELAY, Nagle's algorithm and the server's
        # delayed ACK hold each copy's last write back by tens of milliseconds.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._log_in(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def check_login(self) -> None:
        """Connect and log in once, then quit (`kkrbot config check --connect`)."""
        self._connect().quit()

    def _log_in(self, connection: smtplib.SMTP) -> None:
        """SMTP AUTH with the password, or XOAUTH2 with a token renewed once when refused."""
        if self.tokens is not None:
            log_in_with_token(self.tokens, lambda token: _xoauth2(connection, self.user or "", token),
                              (smtplib.SMTPAuthenticationError,), f"SMTP {self.host} (XOAUTH2 as {self.user})")
        elif self.user:
            connection.login(self.user, self.password or "")

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

    def _quit(self, slot: int) -> None:
        connection, self.connections[slot] = self.connections[slot], None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def close(self) -> None:
        for _ in self.lanes:
            self.work.put(None)
        for lane in self.lanes:
            lane.join(30)
        self.lanes = []


def _xoauth2(connection: smtplib.SMTP, user: str, token: str) -> None:
    """AUTH XOAUTH2 with the SASL string as the initial response; to a 334 error challenge
    (RFC 7628 style) the answer is empty, so the server ends with its 535."""
    connection.ehlo_or_helo_if_needed()
    sasl = xoauth2_string(user, token)
    connection.auth("XOAUTH2", lambda challenge=None: sasl if challenge is None else "", initial_response_ok=True)


def _by_code(outbox_id: int, code: int, text: bytes | str, scores: bool = True) -> Result:
    detail = f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
    if 500 <= code < 600:
        return Result(outbox_id, BOUNCED, detail, scores=scores)
    return Result(outbox_id, RETRY, detail)


def make_sender(settings: Settings, clock: Clock | None = None) -> Sender:
    if settings.outbound == "smtp":
        return SmtpSender(settings, clock=clock)
    return MaildirSender(settings.sent_dir)


def flush_outbox(app: App, sender: Sender, on_refused: OnRefused) -> int:
    """Send every due row, batch by batch; return how many deliveries were attempted.

    While one batch is on the wire, the next is read and its copies made; it is sent only
    once the results of the first are committed, so at most one batch is ever sent and
    unrecorded. Results that cannot be recorded (the database is busy) are kept and
    recorded before anything else is read: a mail the server accepted is never taken for unsent.
    """
    if not _record_leftovers(app, sender, on_refused):
        return 0
    maker = CopyMaker(app)
    attempted = _send_batches(app, sender, maker, on_refused)
    if maker.largest > memory.LARGE_BYTES:
        maker.cache.clear()
        memory.give_back()
    return attempted


def _send_batches(app: App, sender: Sender, maker: CopyMaker, on_refused: OnRefused) -> int:
    attempted = 0
    batch = _next_batch(app, sender, maker, on_refused, exclude=set())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-wire") as wire:
        while batch:
            sender.pace.spend(len(batch), app.clock.now())
            on_the_wire = wire.submit(sender.send, batch)
            attempted += len(batch)
            following, trouble = _claim_meanwhile(app, sender, maker, on_refused, {d.id for d in batch})
            results = on_the_wire.result()
            if not _record(app, sender, results, on_refused):
                break
            _report_refusal(app, sender)
            if trouble is not None:  # the batch on the wire is recorded: now say what went wrong
                raise trouble
            if results and all(r.status == RETRY for r in results):  # the server is away: back off
                _report_trouble(app, sender)
                break
            batch = following or _next_batch(app, sender, maker, on_refused, exclude=set())
    return attempted


def _claim_meanwhile(app: App, sender: Sender, maker: CopyMaker, on_refused: OnRefused,
                     on_the_wire: set[int]) -> tuple[list[Delivery], SQLAlchemyError | None]:
    """The next batch, claimed while one is on the wire. Claiming writes; if the database refuses,
    the batch on the wire must still be recorded before the error goes up, or it would be sent again."""
    try:
        return _next_batch(app, sender, maker, on_refused, exclude=on_the_wire), None
    except SQLAlchemyError as error:
        return [], error


def _next_batch(app: App, sender: Sender, maker: CopyMaker, on_refused: OnRefused,
                exclude: set[int]) -> list[Delivery]:
    """The next due rows as deliveries, as many as the pace allows now; a row whose shared
    content is gone fails on its own."""
    settings, now = app.settings, app.clock.now()
    limit = sender.pace.room(now, settings.outbox.batch_size)
    if limit == 0:
        return []
    with session_scope(app.engine) as session:  # a short write: the claim
        claimed = outbox.claim(session, now, limit, settings.process_name,
                               timedelta(seconds=settings.outbox.claim_seconds), exclude=exclude)
    with Session(app.engine) as session:
        deliveries, unmakeable = [], []
        for row in claimed:
            try:
                deliveries.append(Delivery(row.id, row.recipient, row.envelope_from, maker.parts(session, row)))
            except MissingContent as error:
                unmakeable.append(Result(row.id, FAILED, str(error)))
    if unmakeable:
        _record(app, sender, unmakeable, on_refused)
    return deliveries


def transmit(connection: smtplib.SMTP, delivery: Delivery) -> None:
    """MAIL, RCPT and DATA as smtplib's sendmail does them, but the text goes out part by part:
    a shared part is the same object, dot-stuffed once, for every copy."""
    connection.ehlo_or_helo_if_needed()
    size = sum(len(p) for p in delivery.parts)
    options = [f"SIZE={size}"] if connection.does_esmtp and connection.has_extn("size") else []
    code, reply = connection.mail(delivery.envelope_from, options)
    if code != 250:
        _rset(connection)
        raise smtplib.SMTPSenderRefused(code, reply, delivery.envelope_from)
    code, reply = connection.rcpt(delivery.recipient)
    if code not in (250, 251):
        _rset(connection)
        raise smtplib.SMTPRecipientsRefused({delivery.recipient: (code, reply)})
    code, reply = connection.docmd("data")
    if code != 354:
        _rset(connection)
        raise smtplib.SMTPDataError(code, reply)
    for chunk in _wire_chunks(delivery.parts):
        connection.send(chunk)
    code, reply = connection.getreply()
    if code != 250:
        _rset(connection)
        raise smtplib.SMTPDataError(code, reply)


def _wire_chunks(parts: tuple) -> list[bytes | memoryview]:
    """The DATA text with its end mark, as few writes as possible: small parts are joined, a large
    shared part goes out as it is (no copy per recipient)."""
    chunks: list[bytes | memoryview] = []
    small: list[bytes] = []
    text_end = b""  # the last two bytes of the text so far, across parts of any size
    for part in parts:
        wire = part.wire if isinstance(part, SharedPart) else dot_stuffed(part)
        text_end = (text_end + bytes(wire[-2:]))[-2:]
        if len(wire) < LARGE_PART:
            small.append(bytes(wire))
            continue
        if small:
            chunks.append(b"".join(small))
            small = []
        chunks.append(wire)
    small.append(b".\r\n" if text_end == b"\r\n" else b"\r\n.\r\n")
    chunks.append(b"".join(small))
    return chunks


def _rset(connection: smtplib.SMTP) -> None:
    try:
        connection.rset()
    except smtplib.SMTPServerDisconnected:
        pass


def _record_leftovers(app: App, sender: Sender, on_refused: OnRefused) -> bool:
    leftovers = getattr(sender, "unrecorded", [])
    if not leftovers:
        return True
    sender.unrecorded = []
    return _record(app, sender, leftovers, on_refused)


def _report_trouble(app: App, sender: Sender) -> None:
    trouble = sender.trouble() if hasattr(sender, "trouble") else None
    if trouble:
        admin_notices.record(app, "smtp-failing", trouble)


def _report_refusal(app: App, sender: Sender) -> None:
    refusal = sender.refused() if hasattr(sender, "refused") else None
    if refusal:
        admin_notices.record(app, "smtp-refused", refusal)
        log_event("smtp_refused", level=30, detail=refusal[:200])


def _record(app: App, sender: Sender, results: list[Result], on_refused: OnRefused) -> bool:
    """Commit a batch's results; on a database error keep them on the sender for the next run."""
    try:
        with session_scope(app.engine) as session:
            bounced = outbox.record(session, results, app.clock.now(),
                                    timedelta(seconds=app.settings.outbox.retry_base_seconds))
            on_refused(session, bounced)
    except SQLAlchemyError as error:
        sender.unrecorded = [*getattr(sender, "unrecorded", []), *results]
        log_event("outbox_record_failed", level=40, results=len(results), error=type(error).__name__)
        return False
    for result in results:
        log_event("sent" if result.status == SENT else "send_" + result.status, outbox=result.id,
                  detail=None if result.status == SENT else result.detail[:120])
    return True
