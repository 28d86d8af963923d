"""The one outbound path: compose → outbox → send, against a real aiosmtpd server with faults."""
from __future__ import annotations

import mailbox
from datetime import timedelta

import pytest

from sqlmodel import Session, select

from bot.app import App
from bot.config.settings import load_settings
from bot.outbound.admin_notices import send_admin_notice
from bot.outbound.compose import Letter, Recipient, compose
from bot.outbound.outbox import enqueue
from bot.outbound.send import MaildirSender, SmtpSender
from bot.outbound.tokens import token_in_message_id, token_in_tag
from bot.startup import prepare_database
from bot.store.db import session_scope
from bot.store.models import AdminEvent, Bounce, OutboxMessage
from tests.support.config import make_config
from tests.support.outbound import send_due

PEOPLE = [("Søren Ærø", "soren.aero@aarhus.example.dk"), ("Mette Østergaard", "mette.ostergaard@herning.example.dk"),
          ("Lars Møller", "lars.moeller@odense.example.dk")]


def queue(app, kind: str = "help", people=PEOPLE, key: str = "t", context: dict | None = None) -> int:
    with session_scope(app.engine) as session:
        added = 0
        for name, address in people:
            letter = Letter(kind=kind, network=app.settings.network("it-netvaerk"),
                            recipient=Recipient(address, name), dedupe_key=f"{kind}:{key}:{address}",
                            context=context or {})
            added += enqueue(session, compose(app, session, letter))
        return added


def statuses(app) -> list[tuple[str, str]]:
    with Session(app.engine) as session:
        return [(r.recipient, r.status) for r in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_each_recipient_gets_one_message_once_with_the_right_headers(smtp_app, smtp_sink):
    assert queue(smtp_app) == 3
    assert queue(smtp_app) == 0  # the same mails again: the dedupe keys refuse them
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    assert sorted(r.recipients[0] for r in smtp_sink.received) == sorted(a for _, a in PEOPLE)
    for received in smtp_sink.received:
        message = received.message
        token = token_in_tag(message["Reply-To"].split("@")[0].split("+")[1])
        assert token and token_in_message_id(message["Message-ID"]) == token
        assert received.envelope_from == f"it-netvaerk+bounce-{token}@lists.example.dk"  # VERP
        assert message["To"].addresses[0].addr_spec == received.recipients[0]  # one recipient per message
        assert (message["Auto-Submitted"], message["X-Kkrbot-Kind"]) == ("auto-generated", "help")
        assert message["X-Loop"] == "it-netvaerk@lists.example.dk"
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert {s for _, s in statuses(smtp_app)} == {"sent"}


def test_temporary_failures_are_retried_with_backoff_and_arrive_once(smtp_app, smtp_sink):
    smtp_sink.faults.data_code, smtp_sink.faults.data_code_times = "451 4.3.0 Try again later", 2
    queue(smtp_app, people=PEOPLE[:1])
    sender = SmtpSender(smtp_app.settings)
    send_due(smtp_app, sender)
    assert smtp_sink.received == [] and statuses(smtp_app) == [(PEOPLE[0][1], "queued")]
    send_due(smtp_app, sender)  # not due yet: nothing is attempted
    assert smtp_sink.handler.attempts == 1
    for minutes in (1, 2):
        smtp_app.clock.advance(minutes=minutes)
        send_due(smtp_app, sender)
    assert len(smtp_sink.received) == 1 and statuses(smtp_app) == [(PEOPLE[0][1], "sent")]


def test_the_first_retry_waits_retry_base_seconds(tmp_path, smtp_sink, clock):
    env = f"SMTP_HOST=127.0.0.1\nSMTP_PORT={smtp_sink.port}\nSMTP_TLS=none\n"
    config = make_config(tmp_path, bot_toml={"outbound": '"smtp"', "outbox.retry_base_seconds": "5"}, env=env)
    app = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(app)
    smtp_sink.faults.data_code, smtp_sink.faults.data_code_times = "451 4.3.0 Try again later", 2
    queue(app, people=PEOPLE[:1])
    sender = SmtpSender(app.settings)
    send_due(app, sender)
    with Session(app.engine) as session:
        assert session.exec(select(OutboxMessage.next_attempt_at)).one() == clock.now() + timedelta(seconds=5)
    clock.advance(seconds=5)
    send_due(app, sender)  # the second attempt fails too: the next waits twice as long
    with Session(app.engine) as session:
        assert session.exec(select(OutboxMessage.next_attempt_at)).one() == clock.now() + timedelta(seconds=10)
    app.engine.dispose()


def test_a_421_and_a_dropped_connection_mid_data_are_retried(smtp_app, smtp_sink):
    smtp_sink.faults.drop_times = 1
    queue(smtp_app, people=PEOPLE[:2])
    sender = SmtpSender(smtp_app.settings)
    send_due(smtp_app, sender)
    smtp_app.clock.advance(minutes=2)
    send_due(smtp_app, sender)
    assert sorted(r.recipients[0] for r in smtp_sink.received) == sorted(a for _, a in PEOPLE[:2])
    smtp_sink.faults.data_code, smtp_sink.faults.data_code_times = "421 4.3.2 Shutting down", 1
    queue(smtp_app, people=PEOPLE[2:], key="again")
    send_due(smtp_app, sender)
    smtp_app.clock.advance(minutes=2)
    send_due(smtp_app, sender)
    assert len(smtp_sink.received) == 3 and {s for _, s in statuses(smtp_app)} == {"sent"}


def test_a_550_is_a_bounce_for_that_recipient_only(smtp_app, smtp_sink):
    smtp_sink.faults.refuse = {PEOPLE[1][1]}
    queue(smtp_app)
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    assert dict(statuses(smtp_app))[PEOPLE[1][1]] == "bounced"
    assert len(smtp_sink.received) == 2
    with Session(smtp_app.engine) as session:
        [bounce] = session.exec(select(Bounce)).all()
    assert (bounce.address, bounce.source) == (PEOPLE[1][1], "smtp-5xx") and bounce.contact_id


def test_past_the_deadline_the_row_expires_and_the_administrator_hears_once_an_hour(smtp_app, smtp_sink):
    smtp_sink.faults.data_code, smtp_sink.faults.data_code_times = "451 4.3.0 Busy", 10_000
    queued_at = smtp_app.clock.now()
    queue(smtp_app, people=PEOPLE[:1])
    sender = SmtpSender(smtp_app.settings)
    while statuses(smtp_app)[0][1] == "queued":
        last_try = smtp_app.clock.now()
        send_due(smtp_app, sender)
        smtp_app.clock.advance(hours=2)
    assert statuses(smtp_app)[0][1] == "expired"
    # Retried for deadline_days (5), then given up at the first try whose next retry (2 h apart by now)
    # would fall past the deadline: not sooner, not later.
    deadline = queued_at + timedelta(days=5)
    assert deadline - timedelta(hours=2) < last_try <= deadline
    smtp_sink.faults.data_code_times = 0
    assert send_admin_notice(smtp_app) is True
    send_due(smtp_app, sender)
    [notice] = [r for r in smtp_sink.received if r.message["X-Kkrbot-Kind"] == "admin-notice"]
    assert notice.recipients == [smtp_app.settings.admin_address]
    assert "given up after" in notice.message.get_body(("plain",)).get_content()
    with session_scope(smtp_app.engine) as session:
        session.add(AdminEvent(at=smtp_app.clock.now(), kind="imap-failing", detail="x"))
    assert send_admin_notice(smtp_app) is False  # within the hour: it waits
    smtp_app.clock.advance(minutes=61)
    assert send_admin_notice(smtp_app) is True


def test_maildir_delivery_writes_return_path_and_delivered_to_first(app):
    queue(app, people=PEOPLE[:1])
    send_due(app, MaildirSender(app.settings.sent_dir))
    [message] = list(mailbox.Maildir(app.settings.sent_dir, create=False))
    raw = message.as_bytes()
    first, second = raw.split(b"\n")[:2]
    assert first.startswith(b"Return-Path: <it-netvaerk+bounce-") and second == b"Delivered-To: " + PEOPLE[0][1].encode()


def test_a_cr_or_lf_in_a_subject_or_name_cannot_inject_a_header_and_the_mail_still_goes(smtp_app, smtp_sink):
    evil = ("Søren\r\nBcc: evil@example.org", "soren.aero@aarhus.example.dk")
    context = {"reason": "not-understood", "detail": "", "original_subject": "Hej\r\nBcc: evil@example.org"}
    queue(smtp_app, kind="refusal", people=[evil], context=context)
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    [received] = smtp_sink.received
    assert received.recipients == ["soren.aero@aarhus.example.dk"]
    message = received.message
    assert message["Bcc"] is None and "evil@example.org" not in str(message["To"].addresses[0].addr_spec)
    assert "\n" not in message["Subject"] and "\n" not in str(message["To"])


@pytest.mark.sqlite_only  # another writer's BEGIN IMMEDIATE
def test_results_the_database_cannot_take_are_kept_and_nothing_is_sent_twice(tmp_path, smtp_sink, clock):
    import sqlite3

    from bot.app import App
    from bot.config.settings import load_settings
    from bot.startup import prepare_database
    from tests.support.config import make_config

    env = f"SMTP_HOST=127.0.0.1\nSMTP_PORT={smtp_sink.port}\nSMTP_TLS=none\n"
    config = make_config(tmp_path, bot_toml={"outbound": '"smtp"', "processing.busy_timeout_ms": "200"}, env=env)
    app = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(app)
    queue(app)
    blocker = sqlite3.connect(app.settings.database_url.split("///", 1)[1], isolation_level=None,
                              check_same_thread=False)  # the batch is sent from a thread of its own

    class LockedWhileSending(SmtpSender):
        """Another writer takes the database once the batch is claimed and on the wire."""

        def send(self, deliveries):
            if not blocker.in_transaction:
                blocker.execute("BEGIN IMMEDIATE")
            return super().send(deliveries)

    sender = LockedWhileSending(app.settings)
    try:
        send_due(app, sender)
        assert len(smtp_sink.received) == 3 and len(sender.unrecorded) == 3
        assert {s for _, s in statuses(app)} == {"queued"}
        assert send_due(app, sender) == 0  # still locked: it sends nothing new
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    send_due(app, sender)
    assert len(smtp_sink.received) == 3 and {s for _, s in statuses(app)} == {"sent"}
    app.engine.dispose()


def test_smtp_failing_for_over_15_minutes_is_recorded_once_for_the_administrator(tmp_path, clock):
    from bot.app import App
    from bot.config.settings import load_settings
    from bot.startup import prepare_database
    from tests.support.config import free_port, make_config

    nobody_listens = f"SMTP_HOST=127.0.0.1\nSMTP_PORT={free_port()}\nSMTP_TLS=none\n"
    config = make_config(tmp_path, bot_toml={"outbound": '"smtp"'}, env=nobody_listens)
    app = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(app)
    sender = SmtpSender(app.settings, clock=clock)

    def alarms() -> list[str]:
        with Session(app.engine) as session:
            return [e.detail for e in session.exec(select(AdminEvent).where(AdminEvent.kind == "smtp-failing"))]

    def try_to_send(after_minutes: int) -> None:
        clock.advance(minutes=after_minutes)
        queue(app, people=PEOPLE[:1], key=f"at-{clock.now():%H%M}")  # always something due
        assert send_due(app, sender) >= 1

    for minutes in (0, 7, 7):  # refused for 14 minutes: not yet
        try_to_send(minutes)
    assert alarms() == []
    try_to_send(2)
    [alarm] = alarms()
    assert alarm.startswith(f"SMTP 127.0.0.1:{sender.port}: failing for over 15 minutes: ConnectionRefusedError")
    try_to_send(30)
    assert len(alarms()) == 1  # once per outage
    sender.close()
    app.engine.dispose()
