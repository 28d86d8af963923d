"""Content once, recipients apart: what many people get is stored once and joined in at send time.

Real parts throughout: the pipeline relays real posts, the sender talks SMTP to the real
aiosmtpd sink, and the assertions read what arrived and what the SQLite file holds.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta
from email.message import EmailMessage

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, func, insert
from sqlmodel import Session, select

from bot.app import App
from bot.config.settings import load_settings
from bot.outbound import tokens
from bot.outbound.compose import Attachment, Letter, Recipient, base_context, compose
from bot.outbound.copies import CopyMaker
from bot.outbound.outbox import claim, enqueue, retry_now
from bot.outbound.send import MaildirSender, SmtpSender
from bot.outbound.templates import render
from bot.startup import prepare_database
from bot.store.db import alembic_config, make_engine, session_scope, upgrade
from bot.store.models import AdminEvent, InboundRaw, OutboxMessage, OutboxPart, SendJob, SharedContent
from tests.support.config import make_config
from tests.support.inbound import deliver
from tests.support.outbound import send_due
from tests.support.postgres import fresh_database_url, on_postgres

SOREN = "Søren Ærø <soren.aero@aarhus.example.dk>"
PEOPLE = [("Søren Ærø", "soren.aero@aarhus.example.dk"), ("Mette Østergaard", "mette.ostergaard@herning.example.dk"),
          ("Lars Møller", "lars.moeller@odense.example.dk")]
APPENDIX = bytes(range(256)) * 4096  # 1 MB that no text encoding leaves alone


def post(body: str = "Hej alle,\nher er bilaget.\n", attachment: bytes | None = APPENDIX) -> bytes:
    message = EmailMessage()
    message["From"] = SOREN
    message["To"] = "it-netvaerk@lists.example.dk"
    message["Subject"] = "Bilag til mødet"
    message["Message-ID"] = "<bilag-1@aarhus.example.dk>"
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="bilag.pdf")
    return message.as_bytes()


def own_bytes(app) -> int:
    with Session(app.engine) as session:
        return session.exec(select(func.sum(func.length(OutboxMessage.raw)))).one() or 0


def test_a_post_with_an_attachment_is_stored_once_and_every_member_gets_it_whole(smtp_app, smtp_sink):
    inbound_id = deliver(smtp_app, post())
    with Session(smtp_app.engine) as session:
        [job] = session.exec(select(SendJob)).all()
        rows = session.exec(select(OutboxMessage)).all()
    assert job.inbound_id == inbound_id and len(rows) == 13
    assert own_bytes(smtp_app) == 0  # the rows hold no copy: the stored inbound mail is the shared content
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    assert len(smtp_sink.received) == 13
    unsubscribe = set()
    for received in smtp_sink.received:
        original, _footer = received.message.iter_parts()
        body, attachment = original.iter_parts()
        assert body.get_content().replace("\r\n", "\n") == "Hej alle,\nher er bilaget.\n"
        assert attachment.get_content() == APPENDIX
        unsubscribe.add(received.message["List-Unsubscribe"])
    assert len(unsubscribe) == 13


def test_the_footer_made_at_send_time_is_the_footer_rendered_for_that_member(smtp_app, smtp_sink):
    deliver(smtp_app, post(attachment=None))
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    network = smtp_app.settings.network("it-netvaerk")
    for received in smtp_sink.received:
        address = received.message["List-Unsubscribe"][len("<mailto:"):].split("?")[0]
        expected = render("post", network.language, base_context(smtp_app, network, Recipient(""), network.address)
                          | {"original_subject": "Bilag til mødet", "unsubscribe_address": address})
        _original, footer = received.message.iter_parts()
        assert footer.get_body(("plain",)).get_content().replace("\r\n", "\n") == expected.text.replace("\r\n", "\n")
        assert footer.get_body(("html",)).get_content().replace("\r\n", "\n") == expected.html.replace("\r\n", "\n")
        token = address.split("+")[1].split("@")[0]
        with Session(smtp_app.engine) as session:
            assert tokens.lookup(session, token).address == received.recipients[0]


def test_lines_starting_with_a_dot_arrive_intact(smtp_app, smtp_sink):
    body = ".\n..two dots\n.hidden\nend\n"
    deliver(smtp_app, post(body=body, attachment=None))
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    assert len(smtp_sink.received) == 13
    for received in smtp_sink.received:
        original, _footer = received.message.iter_parts()
        assert original.get_content().replace("\r\n", "\n") == body


def letters(app, key: str, attachments=(), people=PEOPLE) -> None:
    with session_scope(app.engine) as session:
        for name, address in people:
            letter = Letter(kind="help", network=app.settings.network("it-netvaerk"),
                            recipient=Recipient(address, name), dedupe_key=f"help:{key}:{address}",
                            attachments=tuple(attachments))
            enqueue(session, compose(app, session, letter))


def test_an_appendix_sent_with_two_mails_is_stored_once_and_dropped_when_all_are_sent(smtp_app, smtp_sink):
    appendix = Attachment("bilag 1.pdf", "application/pdf", APPENDIX)
    letters(smtp_app, "agenda", [appendix])
    letters(smtp_app, "reminder", [appendix])
    with Session(smtp_app.engine) as session:
        assert [c.sha256 for c in session.exec(select(SharedContent))] == [hashlib.sha256(APPENDIX).hexdigest()]
        assert len(session.exec(select(OutboxPart)).all()) == 6
    assert own_bytes(smtp_app) < 6 * 20_000  # each row holds its own text only, not the appendix
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    assert len(smtp_sink.received) == 6
    for received in smtp_sink.received:
        [attachment] = list(received.message.iter_attachments())
        assert attachment.get_filename() == "bilag 1.pdf" and attachment.get_content() == APPENDIX
    with Session(smtp_app.engine) as session:
        assert session.exec(select(SharedContent)).all() == []


def test_a_mail_whose_shared_content_is_gone_fails_alone_and_tells_the_administrator(smtp_app, smtp_sink):
    inbound_id = deliver(smtp_app, post(attachment=None))
    letters(smtp_app, "other", people=PEOPLE[:1])
    with session_scope(smtp_app.engine) as session:
        session.get(InboundRaw, inbound_id).raw = b""  # the original was erased (e.g. on request)
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    assert [r.recipients[0] for r in smtp_sink.received] == [PEOPLE[0][1]]  # the letter still went
    with Session(smtp_app.engine) as session:
        statuses = set(session.exec(select(OutboxMessage.status).where(OutboxMessage.kind == "post")))
        events = session.exec(select(AdminEvent.kind)).all()
    assert statuses == {"failed"} and events.count("outbox-failed") == 13


def test_a_bounced_mail_whose_appendix_was_dropped_cannot_be_retried(smtp_app, smtp_sink, clock):
    smtp_sink.faults.refuse = {PEOPLE[0][1]}
    letters(smtp_app, "agenda", [Attachment("bilag.pdf", "application/pdf", APPENDIX)], people=PEOPLE[:1])
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    with session_scope(smtp_app.engine) as session:
        row = session.exec(select(OutboxMessage)).one()
        assert row.status == "bounced" and session.exec(select(SharedContent)).all() == []
        with pytest.raises(ValueError, match="no longer kept"):
            retry_now(session, row.id, clock.now())


def test_only_one_batch_is_ever_sent_and_unrecorded(tmp_path, clock):
    """While a batch is on the wire the next is prepared, but it is sent only after the first is recorded."""
    app = App.create(load_settings(make_config(tmp_path, bot_toml={"outbox.batch_size": "2"}), environ={}), clock,
                     create_secret=True)
    prepare_database(app)
    handed_over: list[int] = []
    seen_unrecorded: list[int] = []

    class Probe(MaildirSender):
        def send(self, deliveries):
            with Session(app.engine) as session:
                queued = set(session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "queued")))
            seen_unrecorded.extend(i for i in handed_over if i in queued)
            handed_over.extend(d.id for d in deliveries)
            return super().send(deliveries)

    letters(app, "a", people=[(f"Person {i}", f"p{i}@aarhus.example.dk") for i in range(9)])
    assert send_due(app, Probe(tmp_path / "sent")) == 9
    assert len(handed_over) == 9 and seen_unrecorded == []
    app.engine.dispose()


def test_rows_queued_before_the_upgrade_are_sent_unchanged(tmp_path, clock):
    engine = make_engine(fresh_database_url(tmp_path))
    command.upgrade(alembic_config(engine), "0002")
    old_text = b"From: it-netvaerk@lists.example.dk\r\nTo: soren.aero@aarhus.example.dk\r\nSubject: Gammel\r\n\r\nHej\r\n"
    now = clock.now() if on_postgres() else clock.now().replace(tzinfo=None)  # SQLite: stored as naive UTC
    old_shape = Table("outboxmessage", MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        connection.execute(insert(old_shape).values(
            dedupe_key="old:1", kind="help", network_slug="it-netvaerk", recipient="soren.aero@aarhus.example.dk",
            envelope_from="it-netvaerk+bounce-x@lists.example.dk", message_id="<old@x>", raw=old_text,
            status="queued", attempts=0, next_attempt_at=now, deadline_at=now + timedelta(days=5), last_error="",
            created_at=now))
    assert upgrade(engine) == ["0003", "0004", "0005", "0006", "0007", "0008c", "0008m", "0008g", "0008p"]
    with Session(engine) as session:
        [row] = claim(session, clock.now() + timedelta(seconds=1), 10, "test", timedelta(minutes=1))
        assert CopyMaker(None).parts(session, row) == (old_text,)
    engine.dispose()


def test_an_appendix_is_kept_while_a_queued_mail_still_needs_it(smtp_app, smtp_sink, clock):
    """From review: dropping shared content on every result went unnoticed; one retried copy needs it."""
    smtp_sink.faults.data_code, smtp_sink.faults.data_code_times = "451 4.3.0 later", 1
    letters(smtp_app, "agenda", [Attachment("bilag.pdf", "application/pdf", APPENDIX)])
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    assert len(smtp_sink.received) == 2
    with Session(smtp_app.engine) as session:
        assert len(session.exec(select(SharedContent)).all()) == 1
    clock.advance(minutes=5)
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    assert len(smtp_sink.received) == 3
    [attachment] = list(smtp_sink.received[-1].message.iter_attachments())
    assert attachment.get_content() == APPENDIX
    with Session(smtp_app.engine) as session:
        assert session.exec(select(SharedContent)).all() == []


def test_the_end_of_data_mark_follows_the_last_bytes_whatever_the_parts():
    """From review: a short last part after a large one decided the end mark from the wrong bytes."""
    from bot.outbound.copies import SharedPart
    from bot.outbound.send import _wire_chunks

    large = SharedPart(b"x" * 100_000 + b"\r")
    assert b"".join(bytes(c) for c in _wire_chunks((large, b"\n"))).endswith(b"x\r\n.\r\n")
    assert b"".join(bytes(c) for c in _wire_chunks((SharedPart(b"y" * 100_000 + b"\r\n"), b"")))[-6:] == b"y\r\n.\r\n"
    assert b"".join(bytes(c) for c in _wire_chunks((b"no newline",))).endswith(b"line\r\n.\r\n")
