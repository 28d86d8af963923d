"""Several bot processes on one database share the work (issue 13): leases, claims, jobs once.

Each "process" here is an App of its own (its own engine and process name) on one database, as
`kkrbot@1` and `kkrbot@2` would be; the real multi-process run with SIGKILL is tests/test_scale.py.
"""
from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from sqlmodel import Session, select

from bot.actions.pipeline import process_pending
from bot.app import App
from bot.daemon import once_across, take_back
from bot.inbound.imap_cursor import ImapAccount, ImapReader, MailboxLease
from bot.outbound.compose import Letter, Recipient, compose
from bot.outbound.outbox import claim, enqueue
from bot.store import leases
from bot.store.db import session_scope
from bot.store.models import InboundMessage, OutboxMessage
from tests.support import corpus
from tests.support.process import kkrbot

MEMBER = ("Søren Ærø", "soren.aero@aarhus.example.dk")
HOUR = timedelta(hours=1)


def other_process(app: App, instance: str) -> App:
    """The same config and database, as another process with its own name and engine."""
    settings = dataclasses.replace(app.settings, instance=instance)
    return App(settings=settings, engine=App.create(settings).engine, clock=app.clock, token_secret=app.token_secret)


def test_a_lease_is_held_by_one_process_until_it_expires(app):
    now = app.clock.now()
    assert leases.take(app.engine, "imap:x", "host/1", now, timedelta(seconds=30))
    assert not leases.take(app.engine, "imap:x", "host/2", now + timedelta(seconds=29), timedelta(seconds=30))
    assert leases.take(app.engine, "imap:x", "host/1", now + timedelta(seconds=20), timedelta(seconds=30))  # renewed
    assert not leases.take(app.engine, "imap:x", "host/2", now + timedelta(seconds=49), timedelta(seconds=30))
    assert leases.take(app.engine, "imap:x", "host/2", now + timedelta(seconds=51), timedelta(seconds=30))
    [lease] = leases.current(app.engine, "imap:")
    assert (lease.holder, lease.acquired_at) == ("host/2", now + timedelta(seconds=51))


def test_a_shared_job_runs_once_per_period_across_processes(app):
    second = other_process(app, "2")
    runs: list[str] = []
    jobs = [once_across(one, "meeting-cycle", timedelta(minutes=1), lambda who=who: runs.append(who))
            for one, who in ((app, "1"), (second, "2"))]
    for _ in range(3):  # both processes' schedulers fire every minute, a few seconds apart
        jobs[0]()
        app.clock.advance(seconds=7)
        jobs[1]()
        app.clock.advance(seconds=53)
    assert runs == ["1", "1", "1"]
    app.clock.advance(seconds=7)  # process 1 died: after its period, process 2 runs the job
    jobs[1]()
    assert runs == ["1", "1", "1", "2"]


def test_the_imap_reader_stands_by_while_another_process_reads_the_mailbox(imap_app, mailbox):
    account = ImapAccount.from_settings(imap_app.settings)
    holder = MailboxLease(other_process(imap_app, "1"), account, "INBOX")
    assert holder.hold()
    holder._stop.set()  # this "process" stops renewing, as one killed would
    holder._keeper.join(5)
    standby = other_process(imap_app, "2")
    lease = MailboxLease(standby, account, "INBOX", renew_every=timedelta(seconds=0.2))
    reader = ImapReader(standby, lambda: process_pending(standby), lease=lease)
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    reader.start()
    try:
        time.sleep(1.5)
        assert stored(imap_app) == 0  # the mailbox is the other process's
        imap_app.clock.advance(seconds=31)  # its lease runs out
        deadline = time.monotonic() + 20
        while stored(imap_app) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(imap_app) == 1
        assert [(x.holder) for x in leases.current(imap_app.engine, "imap:")] == [standby.settings.process_name]
        assert not holder.hold()  # the old holder, back from a stall, does not read any more
    finally:
        reader.stop()
    assert leases.current(imap_app.engine, "imap:") == []  # a clean stop gives the lease up at once


def test_kkrbot_status_says_who_holds_the_imap_lease(imap_app):
    holder = other_process(imap_app, "7")
    lease = MailboxLease(holder, ImapAccount.from_settings(imap_app.settings), "INBOX")
    assert lease.hold()
    try:
        result = kkrbot(imap_app.settings.config_dir, "status")
    finally:
        lease.release()  # its keeper thread stops renewing
    assert result.returncode == 0, result.stderr
    account = ImapAccount.from_settings(imap_app.settings)
    assert (f"IMAP lease imap:{account.user}@{account.host}:{account.port}/INBOX: "
            f"{holder.settings.process_name}") in result.stdout.replace("\n", " ")


def test_two_processes_never_claim_the_same_outbox_rows(app):
    second = other_process(app, "2")
    queue_letters(app, 6)
    now = app.clock.now()
    with session_scope(app.engine) as session:
        first = claim(session, now, 4, app.settings.process_name, HOUR)
    with session_scope(second.engine) as session:
        rest = claim(session, now, 4, second.settings.process_name, HOUR)
        assert claim(session, now, 4, second.settings.process_name, HOUR) == []
    assert len(first) == 4 and len(rest) == 2 and not {r.id for r in first} & {r.id for r in rest}


def test_a_restarted_process_takes_back_its_own_claims_and_no_others(app):
    second = other_process(app, "2")
    queue_letters(app, 4)
    now = app.clock.now()
    with session_scope(app.engine) as session:
        claim(session, now, 2, app.settings.process_name, HOUR)
    with session_scope(second.engine) as session:
        claim(session, now, 2, second.settings.process_name, HOUR)
    take_back(app)  # process 1 starts again after a crash
    with Session(app.engine) as session:
        due = session.exec(select(OutboxMessage.claimed_by).where(OutboxMessage.next_attempt_at <= now)).all()
    assert due == ["", ""]  # its own two are due again; process 2's stay claimed until they expire


def test_inbound_mail_is_handled_once_when_two_processes_work_at_once(app):
    """Each batch claims its rows (SKIP LOCKED on PostgreSQL): two workers never take the same mail."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.support.inbound import store

    for n in range(30):
        store(app, corpus.sent_by(corpus.load("command-hjaelp.eml"), MEMBER).replace(
            b"Message-ID: <", f"Message-ID: <n{n}.".encode(), 1))
    second = other_process(app, "2")
    with ThreadPoolExecutor(2) as pool:
        handled = list(pool.map(lambda one: process_pending(one, limit=5), (app, second)))
    assert sum(handled) == 30
    with Session(app.engine) as session:
        assert session.exec(select(InboundMessage.state).distinct()).all() == ["done"]
        helps = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "help")).all()
    assert len(helps) == 10  # one answer each, and at most 10 a day to one person


def stored(app: App) -> int:
    with Session(app.engine) as session:
        return len(session.exec(select(InboundMessage.id)).all())


def queue_letters(app: App, count: int) -> None:
    with session_scope(app.engine) as session:
        for n in range(count):
            letter = Letter(kind="help", network=app.settings.network("it-netvaerk"),
                            recipient=Recipient(f"p{n}@aarhus.example.dk", "Person"), dedupe_key=f"t:{n}")
            enqueue(session, compose(app, session, letter))
