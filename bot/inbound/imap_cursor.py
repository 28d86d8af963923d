"""Read the list's mailbox over IMAP: a cursor that survives restarts, and IDLE to wake up.

Per mailbox we keep UIDVALIDITY and the last UID stored. New mail is fetched with
BODY.PEEK[] (never marking it \\Seen) in batches, and stored raw (deduped, like the
SMTP receiver does) in the same transaction that advances the cursor; a message whose
FETCH brings no body is fetched again on the next pass, or recorded as gone if it has
left the mailbox meanwhile, never skipped. Only after a message's outcome is committed
is it moved, in batches, into `<folder>/processed` (handled and ignored), `rejected`,
`held` or `failed` (retries used up); folder names use the hierarchy delimiter the
server reports. A message finished again after `kkrbot inbox retry` is moved on from the
folder it was in to its new outcome's. A new UIDVALIDITY rescans the mailbox; the
stored rows make sure nothing is handled twice or skipped.
"""
from __future__ import annotations

import hashlib
import logging
import ssl
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy import Row, and_, case, or_, update
from sqlmodel import Session, select

from bot.app import App
from bot.core.logs import log_event
from bot.core.pause import pause_point
from bot.inbound.arrivals import Arrival, ImapOrigin, record_gone, store_all
from bot.inbound.imap_routing import route_message
from bot.mailauth.oauth2 import TokenSource, log_in_with_token, shared_source
from bot.store import leases
from bot.store.db import session_scope
from bot.store.models import STATE_DONE, AdminEvent, ImapCursor, InboundMessage

FOLDER_BY_OUTCOME = {"handled": "processed", "ignored": "processed", "rejected": "rejected", "held": "held",
                     "failed": "failed"}
IDLE_RENEW_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE before the server's 29-minute timeout
BACKOFF_CAP_SECONDS = 60
LOGIN_ALARM = timedelta(minutes=15)
FETCH_BYTES = 20 * 1024 * 1024
MAX_EMPTY_FETCHES = 5  # passes a UID may come back without a body before it is given up
# One process reads a mailbox (several processes on one database): it renews its lease every
# LEASE_RENEW; the others try every LEASE_RENEW to take it, which they can once LEASE_TTL has passed
# without renewal. A holder that dies is replaced within LEASE_TTL + LEASE_RENEW (40 s).
LEASE_TTL = timedelta(seconds=30)
LEASE_RENEW = timedelta(seconds=10)


class MailboxLease:
    """The right to read one mailbox, among several bot processes on one database (bot/store/leases.py).

    Once taken, a thread of its own renews it every `renew_every`, so a long pass (thousands of mails
    handled at once) does not let it lapse while the reader is busy; the reader asks `hold()` between
    passes and every second while it waits, and stops reading as soon as it says no."""

    def __init__(self, app: App, account: "ImapAccount", mailbox: str, ttl: timedelta = LEASE_TTL,
                 renew_every: timedelta = LEASE_RENEW):
        self.app, self.ttl, self.renew_every = app, ttl, renew_every
        self.name = f"imap:{account.user}@{account.host}:{account.port}/{mailbox}"
        self.holder = app.settings.process_name
        self.renewed: datetime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def hold(self) -> bool:
        """Take the lease, or renew it when due; False when another process holds it (or the
        database cannot say: then nobody may assume they read the mailbox)."""
        with self._lock:
            now = self.app.clock.now()
            if self.renewed is not None and now - self.renewed < self.renew_every:
                return True
            held = self._take(now)
        if held and self._keeper is None:
            self._keeper = threading.Thread(target=self._keep, name="imap-lease", daemon=True)
            self._keeper.start()
        return held

    def _take(self, now: datetime) -> bool:
        try:
            held = leases.take(self.app.engine, self.name, self.holder, now, self.ttl)
        except Exception as error:  # noqa: BLE001 - the database is away: stop reading until it is back
            log_event("imap_lease_unknown", level=logging.WARNING, error=type(error).__name__)
            held = False
        if held and self.renewed is None:
            log_event("imap_lease_taken", mailbox=self.name, holder=self.holder)
        if not held and self.renewed is not None:
            log_event("imap_lease_lost", level=logging.WARNING, mailbox=self.name, holder=self.holder)
        self.renewed = now if held else None
        return held

    def _keep(self) -> None:
        while not self._stop.wait(self.renew_every.total_seconds() / 2):
            with self._lock:
                if self.renewed is not None:
                    self._take(self.app.clock.now())

    def release(self) -> None:
        """A clean stop: give the lease up so another process takes over at once."""
        self._stop.set()
        with self._lock:
            if self.renewed is None:
                return
            self.renewed = None
            try:
                leases.release(self.app.engine, self.name, self.holder)
            except Exception:  # noqa: BLE001 - it expires by itself
                pass


class LeaseLost(Exception):
    """Another process took over the mailbox (this one stalled past the lease): stop reading."""


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    tls: str  # implicit, starttls, none
    tokens: TokenSource | None = field(default=None, repr=False)  # IMAP_AUTH = xoauth2

    @classmethod
    def from_settings(cls, settings) -> "ImapAccount":
        secrets = settings.secrets
        tls = secrets.get("IMAP_TLS", "implicit")
        port = int(secrets.get("IMAP_PORT") or (993 if tls == "implicit" else 143))
        tokens = shared_source(secrets) if secrets.get("IMAP_AUTH") == "xoauth2" else None
        return cls(secrets.get("IMAP_HOST", ""), port, secrets.get("IMAP_USER", ""),
                   secrets.get("IMAP_PASSWORD", ""), tls, tokens)


def connect(account: ImapAccount, context: ssl.SSLContext | None = None) -> IMAPClient:
    context = context or ssl.create_default_context()
    client = IMAPClient(account.host, port=account.port, ssl=account.tls == "implicit",
                        ssl_context=context, timeout=60)
    try:
        if account.tls == "starttls":
            client.starttls(context)
        log_in(client, account)
    except BaseException:
        client.shutdown()
        raise
    return client


def log_in(client: IMAPClient, account: ImapAccount) -> None:
    """A password (LOGIN, or SASL PLAIN where LOGIN is switched off), or XOAUTH2 with a token that
    is renewed once when the server refuses it."""
    if account.tokens is not None:
        log_in_with_token(account.tokens, lambda token: client.oauth2_login(account.user, token), (LoginError,),
                          f"IMAP {account.host} (XOAUTH2 as {account.user})")
    elif b"LOGINDISABLED" in client.capabilities() and b"AUTH=PLAIN" in client.capabilities():
        client.plain_login(account.user, account.password)
    else:
        client.login(account.user, account.password)


Process = Callable[[], int]  # handles every stored mail that is due; returns how many


class MailboxCursor:
    """One connected pass over the mailbox: sync new mail, process it, move what is finished.

    What "process" means is handed in by the caller (the daemon passes the pipeline), so
    reading the mailbox does not depend on what is done with the mail.
    """

    def __init__(self, app: App, client: IMAPClient, process: Process):
        self.app = app
        self.client = client
        self.process = process
        self.settings = app.settings.imap
        self.mailbox = self.settings.mailbox
        self.folders = self._ensure_folders()
        self.uidvalidity = 0
        self.limit = app.settings.limits.max_message_bytes
        self.can_move = b"MOVE" in client.capabilities()
        self.can_uid_expunge = b"UIDPLUS" in client.capabilities()
        self.empty_fetches: dict[int, int] = {}  # UID -> passes whose FETCH brought no body

    # -- folders ---------------------------------------------------------------------------
    def _ensure_folders(self) -> dict[str, str]:
        delimiter = self._delimiter()
        prefix = self._personal_prefix()
        parent = f"{prefix}{self.settings.folder}"
        names = {kind: f"{parent}{delimiter}{kind}" for kind in sorted(set(FOLDER_BY_OUTCOME.values()))}
        existing = {name for _, _, name in self.client.list_folders()}
        for name in [parent, *names.values()]:
            if name not in existing:
                self.client.create_folder(name)
        return names

    def _delimiter(self) -> str:
        folders = self.client.list_folders(directory="", pattern=self.mailbox)
        delimiter = folders[0][1] if folders else b"/"
        return delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "/")

    def _personal_prefix(self) -> str:
        try:
            personal = self.client.namespace().personal
        except Exception:  # noqa: BLE001 - servers without NAMESPACE: no prefix
            return ""
        return personal[0][0] if personal else ""

    # -- one pass ----------------------------------------------------------------------------
    def run_once(self) -> int:
        """Fetch and store new mail, process everything due, move what is finished."""
        stored = self.sync()
        processed = self.process()
        self.move_finished()
        return stored + processed

    def sync(self) -> int:
        status = self.client.select_folder(self.mailbox, readonly=False)
        self.uidvalidity = int(status[b"UIDVALIDITY"])
        last_uid = self._cursor_position()
        uids = sorted(uid for uid in self.client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
        stored = 0
        for start in range(0, len(uids), self.settings.batch_size):
            chunk = uids[start:start + self.settings.batch_size]
            sizes = {uid: data.get(b"RFC822.SIZE", 0) for uid, data in self.client.fetch(chunk, ["RFC822.SIZE"]).items()}
            for batch in self._by_bytes(chunk, sizes):
                count, complete = self._store_batch(batch, self._fetch(batch, sizes), sizes)
                stored += count
                if not complete:  # the cursor stopped before a message that came without its body
                    return stored
        return stored

    def _by_bytes(self, uids: list[int], sizes: dict[int, int]):
        """Batches of at most FETCH_BYTES (at least one message): a backlog of big mail stays small in memory."""
        batch, total = [], 0
        for uid in uids:
            if batch and total + sizes.get(uid, 0) > FETCH_BYTES:
                yield batch
                batch, total = [], 0
            batch.append(uid)
            total += min(sizes.get(uid, 0), self.limit)
        if batch:
            yield batch

    def _fetch(self, batch: list[int], sizes: dict[int, int]) -> dict[int, bytes]:
        """The raw messages; of one over the size limit only its header (it stays in the mailbox)."""
        normal = [uid for uid in batch if sizes.get(uid, 0) <= self.limit]
        large = [uid for uid in batch if uid not in normal]
        raws = {uid: data.get(b"BODY[]") for uid, data in self.client.fetch(normal, ["BODY.PEEK[]"]).items()} \
            if normal else {}
        if large:
            for uid, data in self.client.fetch(large, ["BODY.PEEK[HEADER]"]).items():
                raws[uid] = data.get(b"BODY[HEADER]")
        return raws

    def _cursor_position(self) -> int:
        with session_scope(self.app.engine) as session:
            cursor = session.get(ImapCursor, self.mailbox)
            if cursor is None or cursor.uidvalidity != self.uidvalidity:
                if cursor is not None:
                    log_event("imap_uidvalidity_changed", mailbox=self.mailbox, old=cursor.uidvalidity,
                              new=self.uidvalidity)
                cursor = cursor or ImapCursor(mailbox=self.mailbox, uidvalidity=self.uidvalidity,
                                              updated_at=self.app.clock.now())
                cursor.uidvalidity, cursor.last_uid = self.uidvalidity, 0
                session.add(cursor)
            return cursor.last_uid

    def _store_batch(self, batch: list[int], fetched: dict[int, bytes], sizes: dict[int, int]) -> tuple[int, bool]:
        """Store the batch raw and advance the cursor, in one transaction; move extra copies away.

        A UID whose FETCH brought no body is never skipped: if it has left the mailbox meanwhile it
        is recorded as gone; if it is still there the cursor stops before it, so the next pass
        fetches it (and what follows it) again. Returns how many were stored and whether the
        cursor got past the whole batch."""
        now = self.app.clock.now()
        missing = [uid for uid in batch if fetched.get(uid) is None]
        still_there = self._still_in_mailbox(missing)
        gone = [uid for uid in missing if uid not in still_there]
        unreadable = self._given_up(still_there)
        still_there -= set(unreadable)
        stop_at = min(still_there, default=max(batch) + 1)
        arrivals = [self._arrival(uid, fetched[uid], sizes) for uid in batch if uid < stop_at and uid not in missing]
        with session_scope(self.app.engine) as session:
            stored = store_all(session, arrivals, now)
            for uid in gone:
                record_gone(session, ImapOrigin(self.mailbox, self.uidvalidity, uid), now)
            for uid in unreadable:
                self._record_unreadable(session, uid, now)
            cursor = session.get(ImapCursor, self.mailbox)
            cursor.last_uid, cursor.updated_at = stop_at - 1, now
        self._log_batch(arrivals, stored, gone, still_there)
        pause_point("after-imap-store")
        copies = [arrival.imap.uid for arrival, item in zip(arrivals, stored) if item.copy]
        if copies:
            self._move(copies, self.folders["processed"])
        return len(arrivals) - len(copies), not still_there

    def _given_up(self, still_there: set[int]) -> list[int]:
        """UIDs the server has answered without a body on MAX_EMPTY_FETCHES passes: they would block
        the mailbox for ever, so they are recorded as unreadable (and left where they are)."""
        for uid in still_there:
            self.empty_fetches[uid] = self.empty_fetches.get(uid, 0) + 1
        return sorted(uid for uid in still_there if self.empty_fetches[uid] >= MAX_EMPTY_FETCHES)

    def _record_unreadable(self, session: Session, uid: int, now) -> None:
        reason = (f"{self.mailbox} (UID {uid}) came back without a body {MAX_EMPTY_FETCHES} times: recorded as "
                  f"unreadable and left in the mailbox; look at it with a mail client")
        record_gone(session, ImapOrigin(self.mailbox, self.uidvalidity, uid), now, reason, rule="imap-unreadable")
        session.add(AdminEvent(at=now, kind="imap-unreadable", detail=reason))
        log_event("imap_unreadable", level=logging.WARNING, uid=uid, mailbox=self.mailbox)

    def _arrival(self, uid: int, raw: bytes, sizes: dict[int, int]) -> Arrival:
        address, delivered_to = route_message(raw, self.app.settings.networks)
        oversize = sizes.get(uid, 0) if sizes.get(uid, 0) > self.limit else 0
        return Arrival(raw, "imap", address, delivered_to, oversize=oversize,
                       imap=ImapOrigin(self.mailbox, self.uidvalidity, uid))

    def _still_in_mailbox(self, uids: list[int]) -> set[int]:
        return set(self.client.search(["UID", ",".join(map(str, uids))])) & set(uids) if uids else set()

    def _log_batch(self, arrivals: list[Arrival], stored: list, gone: list[int], still_there: set[int]) -> None:
        for arrival, item in zip(arrivals, stored):
            log_event("stored", id=item.id, source="imap", uid=arrival.imap.uid, network=item.network,
                      duplicate=item.duplicate or None)
        for uid in gone:
            log_event("imap_message_gone", level=logging.WARNING, mailbox=self.mailbox, uid=uid,
                      detail="left the mailbox before it could be read; recorded, nothing stored")
        for uid in sorted(still_there):
            log_event("imap_fetch_empty", level=logging.WARNING, mailbox=self.mailbox, uid=uid,
                      detail="the server sent no body; fetched again on the next pass")

    # -- moving --------------------------------------------------------------------------------
    def move_finished(self) -> int:
        """Move every finished message of this mailbox (and UIDVALIDITY) to its outcome's folder, and
        one finished again after `kkrbot inbox retry` from the folder it was in to its new outcome's."""
        fresh, refiled = self._finished_rows()
        by_folder: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for row_id, uid, outcome in fresh:
            by_folder[self._folder_for(outcome)].append((row_id, uid))
        for folder, items in by_folder.items():
            for start in range(0, len(items), 500):
                chunk = items[start:start + 500]
                self._move([uid for _, uid in chunk], folder)
                self._mark_moved([row_id for row_id, _ in chunk], folder)
        if refiled:
            self._refile(refiled)
        return len(fresh) + len(refiled)

    def _finished_rows(self) -> tuple[list[tuple[int, int, str]], list[int]]:
        """(id, uid, outcome) of finished rows still in the mailbox, and the ids of rows whose copy sits
        in one of our folders other than their outcome's: one query, since both scan the finished rows."""
        outcome_folder = case({outcome: self.folders[kind] for outcome, kind in FOLDER_BY_OUTCOME.items()},
                              value=InboundMessage.outcome, else_=self.folders["held"])
        in_mailbox = and_(InboundMessage.imap_uidvalidity == self.uidvalidity,
                          InboundMessage.imap_folder == None)  # noqa: E711
        misfiled = and_(InboundMessage.imap_folder.in_(list(self.folders.values())),
                        InboundMessage.imap_folder != outcome_folder)
        with Session(self.app.engine) as session:
            rows = session.exec(select(InboundMessage.id, InboundMessage.imap_uid, InboundMessage.outcome,
                                       InboundMessage.imap_folder).where(
                InboundMessage.imap_mailbox == self.mailbox, InboundMessage.state == STATE_DONE,
                or_(in_mailbox, misfiled))).all()
        fresh = [(row_id, uid, outcome) for row_id, uid, outcome, folder in rows if folder is None]
        return fresh, [row_id for row_id, _, _, folder in rows if folder is not None]

    def _folder_for(self, outcome: str | None) -> str:
        return self.folders[FOLDER_BY_OUTCOME.get(outcome, "held")]

    def _refile(self, row_ids: list[int]) -> None:
        """Move each retried message's copy from the folder it was in; then back to the mailbox (IDLE watches it)."""
        with Session(self.app.engine) as session:
            rows = session.exec(select(InboundMessage.id, InboundMessage.imap_folder, InboundMessage.outcome,
                                       InboundMessage.message_id, InboundMessage.message_id_synthetic,
                                       InboundMessage.size, InboundMessage.content_hash)
                                .where(InboundMessage.id.in_(row_ids))).all()
        try:
            for row in rows:
                self._refile_one(row)
        finally:
            self.client.select_folder(self.mailbox, readonly=False)

    def _refile_one(self, row: Row) -> None:
        target = self._folder_for(row.outcome)
        self.client.select_folder(row.imap_folder, readonly=False)
        uid = self._uid_in_selected_folder(row)
        if uid is None:  # removed by hand meanwhile: say so once, and stop looking for it
            log_event("imap_copy_missing", level=logging.WARNING, id=row.id, folder=row.imap_folder, target=target)
            self._mark_moved([row.id], "")
            return
        self._move([uid], target)
        self._mark_moved([row.id], target)
        log_event("imap_refiled", id=row.id, source=row.imap_folder, folder=target)

    def _uid_in_selected_folder(self, row: Row) -> int | None:
        """A stored message's UID here: searched by Message-ID and size, confirmed by the hash of what we stored
        (the whole message, or only the header of one over the size limit)."""
        criteria: list = ["LARGER", max(row.size - 1, 0), "SMALLER", row.size + 1]
        if not row.message_id_synthetic:
            criteria = ["HEADER", "Message-ID", row.message_id, *criteria]
        part = b"BODY[]" if row.size <= self.limit else b"BODY[HEADER]"
        for uid in sorted(self.client.search(criteria)):
            stored = self.client.fetch([uid], [part.decode().replace("BODY", "BODY.PEEK")]).get(uid, {}).get(part)
            if stored is not None and hashlib.sha256(stored).hexdigest() == row.content_hash:
                return uid
        return None

    def _move(self, uids: list[int], folder: str) -> None:
        if self.can_move:
            self.client.move(uids, folder)
            return
        self.client.copy(uids, folder)
        self.client.add_flags(uids, [b"\\Deleted"], silent=True)
        if self.can_uid_expunge:
            self.client.uid_expunge(uids)
        else:
            self.client.expunge()

    def _mark_moved(self, row_ids: list[int], folder: str) -> None:
        with session_scope(self.app.engine) as session:
            session.execute(update(InboundMessage).where(InboundMessage.id.in_(row_ids)).values(imap_folder=folder))

    # -- waiting ---------------------------------------------------------------------------------
    def wait_for_mail(self, wake: threading.Event, stop: threading.Event,
                      keep: Callable[[], bool] = lambda: True) -> str:
        """Block until new mail (IDLE), a wake-up (the poll job) or stop; say which. `keep` is asked
        every second or so whether this process still reads the mailbox (its lease); LeaseLost if not."""
        if not (self.settings.idle and b"IDLE" in self.client.capabilities()):
            return self._poll_wait(wake, stop, keep)
        self.client.idle()
        started = time.monotonic()
        reason = "renew"
        try:
            while time.monotonic() - started < IDLE_RENEW_SECONDS:
                if not keep():
                    reason = "lost"
                    break
                if stop.is_set() or wake.is_set():
                    reason = "stop" if stop.is_set() else "poll"
                    break
                responses = self.client.idle_check(timeout=1)
                if any(r and r[0] == b"BYE" for r in responses):
                    raise ConnectionAbortedError("the IMAP server said BYE (shutting down)")
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    reason = "idle"
                    break
        finally:
            wake.clear()
        self.client.idle_done()  # skipped when the connection broke: it is dropped anyway
        if reason == "lost":
            raise LeaseLost(self.mailbox)
        return reason

    def _poll_wait(self, wake: threading.Event, stop: threading.Event, keep: Callable[[], bool]) -> str:
        """Without IDLE: wait for the poll, a second at a time, so the lease is kept meanwhile."""
        deadline = time.monotonic() + self.settings.poll_seconds
        while time.monotonic() < deadline and not (wake.is_set() or stop.is_set()):
            if not keep():
                raise LeaseLost(self.mailbox)
            wake.wait(1)
        wake.clear()
        return "poll"


@dataclass
class Backoff:
    """How long to wait before the next reconnect: doubling from `first` up to `cap`."""

    first: float = 1.0
    cap: float = BACKOFF_CAP_SECONDS
    current: float = 0.0

    def next(self) -> float:
        self.current = min(self.current * 2, self.cap) if self.current else self.first
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class ImapReader(threading.Thread):
    """The long-running reader: connect, sync, wait; reconnect with capped exponential backoff, which
    starts again from the short delay once a session has completed a pass."""

    def __init__(self, app: App, process: Process, ssl_context: ssl.SSLContext | None = None, after=None,
                 backoff: Backoff | None = None, lease: MailboxLease | None = None):
        super().__init__(name="imap-reader", daemon=True)
        self.lease = lease  # with several processes: read only while holding it
        self.backoff = backoff or Backoff()
        self.app = app
        self.process = process
        self.after = after  # called after a pass that processed mail (wakes the outbox sender)
        self.account = ImapAccount.from_settings(app.settings)
        self.ssl_context = ssl_context
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.failing_since: datetime | None = None
        self.alarm_raised = False

    def stop(self, timeout: float = 15) -> None:
        self.stopping.set()
        self.wake.set()
        self.join(timeout)

    def run(self) -> None:
        while not self.stopping.is_set():
            if not self._holding():  # another process reads the mailbox: stand by, ready to take over
                self.stopping.wait(self.lease.renew_every.total_seconds())
                continue
            delay = self.connect_once()
            if delay is None:
                break
            self.stopping.wait(delay)
        if self.lease is not None:
            self.lease.release()  # a clean stop: another process takes over at once

    def _holding(self) -> bool:
        return self.lease is None or self.lease.hold()

    def connect_once(self) -> float | None:
        """One session: None once stopped, else (it failed or the lease went) how long to wait."""
        try:
            self._session()
            return None if self.stopping.is_set() else 0
        except LeaseLost:
            return 0
        except Exception as error:  # noqa: BLE001 - any failure: back off and reconnect
            delay = self.backoff.next()
            self._failed(error, delay)
            return delay

    def _session(self) -> None:
        client = connect(self.account, self.ssl_context)
        try:
            cursor = MailboxCursor(self.app, client, self.process)
            self._recovered()
            woken_by = "start"
            while not self.stopping.is_set():
                if not self._holding():
                    raise LeaseLost(self.account.user)
                count = cursor.run_once()
                self.backoff.reset()  # this session works: a later outage starts again from the short delay
                if count:
                    log_event("imap_pass", woken_by=woken_by, messages=count)
                    if self.after:
                        self.after()
                woken_by = cursor.wait_for_mail(self.wake, self.stopping, self._holding)
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass

    def _failed(self, error: Exception, retry_in: float) -> None:
        """Log the first failure of an outage; tell the administrator once it has lasted 15 minutes
        (by the app's clock, so the alarm can be tested and agrees with every other time the bot keeps)."""
        now = self.app.clock.now()
        if self.failing_since is None:
            self.failing_since = now
            log_event("imap_unavailable", level=logging.WARNING, error=type(error).__name__,
                      detail=str(error)[:200], host=self.account.host, retry_in_s=retry_in)
        elif now - self.failing_since > LOGIN_ALARM and not self.alarm_raised:
            try:
                with session_scope(self.app.engine) as session:
                    session.add(AdminEvent(at=now, kind="imap-failing",
                                           detail=f"IMAP {self.account.host}: failing for over 15 minutes: "
                                                  f"{type(error).__name__}: {str(error)[:200]}"))
                self.alarm_raised = True
            except Exception:  # noqa: BLE001 - the database too: try again on the next failure
                pass

    def _recovered(self) -> None:
        if self.failing_since is not None:
            log_event("imap_reconnected", host=self.account.host,
                      after_s=round((self.app.clock.now() - self.failing_since).total_seconds(), 1))
        self.failing_since, self.alarm_raised = None, False
