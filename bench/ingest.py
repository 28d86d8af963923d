"""Inbound figures: the whole pipeline against plain imapclient on the same Dovecot backlog, and IDLE latency.

ingest_msgs_per_s      fetch, store, parse, classify, record and move a 2,000-message backlog
raw_imap_fetch_msgs_per_s   plain imapclient: UID FETCH BODY.PEEK[] 100 per command, one STORE \\Seen per batch
idle_latency_p95_s     APPEND of one message → its outcome committed (shipped config: IDLE on, 60 s poll)
raw_idle_latency_p95_s the same APPENDs → EXISTS seen by a plain imapclient IDLE connection
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlmodel import Session, select

from bench.backlog import build
from bench.common import fresh_app, median, p95, workdir
from bot.actions.pipeline import process_pending
from bot.daemon import imap_reader
from bot.inbound.imap_cursor import ImapAccount, MailboxCursor, connect
from bot.outbound import tokens
from bot.outbound.calendar_invites import calendar_uid
from bot.people.addresses import find_contact
from bot.people.recipients import members
from bot.store.models import InboundMessage, Meeting
from tests.servers.dovecot import DovecotServer
from tests.support.config import imap_env

RAW_BATCH = 100


def imap_app(root: Path, server: DovecotServer):
    return fresh_app(root, bot_toml={"inbound": '"imap"'}, env=imap_env(server))


def issue(app, address: str, kind: str, meeting_id=None) -> str:
    token = tokens.make_token(app.token_secret, "it-netvaerk", address, kind, meeting_id)
    with Session(app.engine) as session:
        contact = find_contact(session, address)
        tokens.record(session, token, network="it-netvaerk", address=address, kind=kind, now=app.clock.now(),
                      contact_id=contact.id, meeting_id=meeting_id)
        session.commit()
    return token


def backlog_for(app, count: int):
    with Session(app.engine) as session:
        people = [c.email for c in members(session, "it-netvaerk")]
        meeting = session.exec(select(Meeting).where(Meeting.series_id.like("it-netvaerk/%"),  # the next one:
                                                     Meeting.ends_at > app.clock.now(),  # answers to it count
                                                     Meeting.status != "cancelled")
                               .order_by(Meeting.starts_at)).first()
    answer_tokens = {p: issue(app, p, "invitation", meeting.id) for p in people}
    itip_tokens = {p: issue(app, p, "invitation", meeting.id) for p in people}
    return build(count, people, answer_tokens, itip_tokens, calendar_uid(meeting.series_id, "lists.example.dk"))


def append_all(server: DovecotServer, mails) -> None:
    """Fill INBOX over a few connections (APPEND is disk-sync bound, one message per command)."""
    def worker(chunk):
        client = server.client()
        for mail in chunk:
            client.append("INBOX", mail.raw)
        client.logout()
    chunks = [mails[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(worker, chunks))


def raw_fetch(server: DovecotServer) -> float:
    """Plain imapclient over the same backlog; messages per second."""
    client = server.client()
    client.select_folder("INBOX")
    uids = sorted(client.search("ALL"))
    started = time.perf_counter()
    fetched = 0
    for start in range(0, len(uids), RAW_BATCH):
        batch = uids[start:start + RAW_BATCH]
        fetched += len(client.fetch(batch, ["BODY.PEEK[]"]))
        client.add_flags(batch, [b"\\Seen"], silent=True)
    elapsed = time.perf_counter() - started
    client.remove_flags(uids, [b"\\Seen"], silent=True)
    client.logout()
    return fetched / elapsed


def pipeline(app, server: DovecotServer, expected) -> float:
    """The bot's cursor over the backlog until INBOX is empty; messages per second. Checks every outcome."""
    cursor = MailboxCursor(app, connect(ImapAccount.from_settings(app.settings)), lambda: process_pending(app))
    started = time.perf_counter()
    while cursor.run_once():
        pass
    elapsed = time.perf_counter() - started
    remaining = len(cursor.client.search("ALL"))
    cursor.client.logout()
    _check(app, expected, remaining)
    return len(expected) / elapsed


def _check(app, expected, remaining: int) -> None:
    with Session(app.engine) as session:
        outcomes = dict(session.exec(select(InboundMessage.message_id, InboundMessage.outcome)).all())
    wrong = [(m.message_id, m.outcome, outcomes.get(m.message_id)) for m in expected
             if outcomes.get(m.message_id) != m.outcome]
    if wrong or remaining:
        raise SystemExit(f"ingest bench: {len(wrong)} wrong outcomes (e.g. {wrong[:3]}), {remaining} left in INBOX")


def ingest(server: DovecotServer, count: int, runs: int) -> dict[str, float]:
    rates, raws = [], []
    for _ in range(runs):
        server.empty_mailbox()
        app = imap_app(workdir(), server)
        logging.getLogger("kkrbot").setLevel(logging.WARNING)
        mails = backlog_for(app, count)
        append_all(server, mails)
        raws.append(raw_fetch(server))
        server.empty_mailbox()  # the pipeline reads a mailbox of its own, as cold as the raw baseline's
        append_all(server, mails)
        rates.append(pipeline(app, server, mails))
        app.engine.dispose()
    return {"ingest_msgs_per_s": median(rates), "raw_imap_fetch_msgs_per_s": median(raws),
            "raw_imap_fetch_batch": RAW_BATCH, "ingest_vs_raw_imap": median(rates) / median(raws)}


class IdleWatcher(threading.Thread):
    """A plain imapclient IDLE connection: records when each EXISTS arrives."""

    def __init__(self, server: DovecotServer):
        super().__init__(daemon=True)
        self.client = server.client()
        self.client.select_folder("INBOX")
        self.seen: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        self.client.idle()
        while not self.stopping.is_set():
            for response in self.client.idle_check(timeout=0.2):
                if len(response) > 1 and response[1] == b"EXISTS":
                    self.seen.append(time.perf_counter())
        self.client.idle_done()


class WokenBy(logging.Handler):
    def __init__(self):
        super().__init__()
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "event=imap_pass" in message:
            self.reasons.append(message.split("woken_by=")[1].split()[0])


def idle_latency(server: DovecotServer, trials: int) -> dict[str, float]:
    server.empty_mailbox()
    app = imap_app(workdir(), server)
    logger = logging.getLogger("kkrbot")
    woken = WokenBy()
    logger.addHandler(woken)
    logger.setLevel(logging.INFO)
    reader = imap_reader(app)
    reader.start()
    watcher = IdleWatcher(server)
    watcher.start()
    time.sleep(1.0)
    ours, raw, overhead = [], [], []
    mails = backlog_for(app, trials * 20)[::20]  # member posts: each is relayed to the members
    appender = server.client()
    for mail in mails[:trials]:
        seen_before = len(watcher.seen)
        started = time.perf_counter()
        appender.append("INBOX", mail.raw)
        done = _wait_done(app, mail.message_id)
        while len(watcher.seen) == seen_before and time.perf_counter() - started < 5:
            time.sleep(0.002)
        ours.append(done - started)
        raw.append(watcher.seen[-1] - started)
        overhead.append(ours[-1] - raw[-1])
        time.sleep(1.0)  # a quiet mailbox again: Dovecot's notify timers idle, so both clients start equal
    appender.logout()
    reader.stop()
    watcher.stopping.set()
    watcher.join(3)
    logger.removeHandler(woken)
    if woken.reasons.count("idle") < trials * 0.9:
        raise SystemExit(f"idle bench: IDLE woke the bot only {woken.reasons.count('idle')} of {trials} times")
    return {"idle_latency_p95_s": p95(ours), "raw_idle_latency_p95_s": p95(raw),
            "idle_overhead_p95_s": p95(overhead), "idle_trials": trials}


def _wait_done(app, message_id: str, timeout: float = 30) -> float:
    deadline = time.perf_counter() + timeout
    with Session(app.engine) as session:
        while time.perf_counter() < deadline:
            state = session.exec(select(InboundMessage.state).where(InboundMessage.message_id == message_id)).first()
            if state == "done":
                return time.perf_counter()
            session.rollback()
            time.sleep(0.002)
    raise SystemExit(f"idle bench: {message_id} not handled within {timeout}s")
