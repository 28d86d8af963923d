"""Moderation, as the people involved see it: mail through the real receiver (aiosmtpd) or the
Dovecot mailbox, the pipeline, the outbox and a real SMTP server (aiosmtpd) that receives what
the bot sends. The 14 days and the daily digest run on the controlled clock."""
from __future__ import annotations

import smtplib
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlmodel import Session, select

from bot.actions import moderation
from bot.actions.pipeline import process_pending
from bot.app import App
from bot.config.settings import load_settings
from bot.inbound.imap_cursor import ImapAccount, MailboxCursor, connect
from bot.inbound.receiver import ListReceiver, start_receiver
from bot.outbound.send import SmtpSender
from bot.startup import prepare_database
from bot.store.models import HeldPost, InboundMessage
from tests.support.config import free_port, make_config
from tests.support.outbound import send_due

LIST = "it-netvaerk@lists.example.dk"
SECRETARY = ("Anne Hansen", "anne.hansen@kl.example.dk")
SOREN = ("Søren Ærø", "soren.aero@aarhus.example.dk")
STRANGER = ("Peter Holm", "peter.holm@example.com")
TRUSTED = "mx.example.dk"
PASS = f"{TRUSTED}; dmarc=pass header.from=example.com"
MEMBERS = 13


def start_app(tmp_path, clock, smtp_sink, networks_toml: str | None = None, **bot_toml) -> App:
    env = f"SMTP_HOST=127.0.0.1\nSMTP_PORT={smtp_sink.port}\nSMTP_TLS=none\n"
    config = make_config(tmp_path, bot_toml={"outbound": '"smtp"', "authserv_id": f'"{TRUSTED}"', **bot_toml},
                         env=env, networks_toml=networks_toml)
    bot = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(bot)
    return bot


@pytest.fixture
def bot(tmp_path, clock, smtp_sink):
    """A bot behind a trusted mail server, sending over SMTP to the sink."""
    app = start_app(tmp_path, clock, smtp_sink)
    yield app
    app.engine.dispose()


class Door:
    """The bot's front door (the built-in receiver) and its way out (the SMTP sink)."""

    def __init__(self, app: App, sink):
        self.app, self.sink, self.seen = app, sink, 0
        self.controller = start_receiver(app.settings, ListReceiver(app.settings, app.engine, app.clock,
                                                                    lambda: None), port=free_port())

    def send(self, raw: bytes, to: str = LIST, sender: str = "bounces@example.com") -> None:
        """Mail in over SMTP, handled, and whatever it caused sent out over SMTP."""
        with smtplib.SMTP("127.0.0.1", self.controller.port) as client:
            client.sendmail(sender, [to], raw)
        process_pending(self.app)
        send_due(self.app, SmtpSender(self.app.settings))

    def tick(self) -> None:
        """The daemon's moderation job, then the outbox."""
        moderation.tick(self.app)
        send_due(self.app, SmtpSender(self.app.settings))

    def new(self, kind: str | None = None) -> list[EmailMessage]:
        """What arrived at the sink since the last look (of one kind)."""
        fresh, self.seen = self.sink.received[self.seen:], len(self.sink.received)
        return [r.message for r in fresh if kind is None or r.message["X-Kkrbot-Kind"] == kind]


@pytest.fixture
def door(bot, smtp_sink):
    opened = Door(bot, smtp_sink)
    yield opened
    opened.controller.stop()


def mail(subject: str = "Workshop om velfærdsteknologi", sender=STRANGER, body: str = "Kære netværk\n\nVi "
         "afholder en workshop den 12. november.\n", results: tuple[str, ...] = (PASS,), to: str = LIST,
         in_reply_to: str = "", message_id: str = "", attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    for value in results:
        message["Authentication-Results"] = value
    message["From"] = f"{sender[0]} <{sender[1]}>"
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="program.pdf")
    return message.as_bytes()


def answer(request: EmailMessage, word: str, sender=SECRETARY, results=(f"{TRUSTED}; dmarc=pass",)) -> tuple[bytes, str]:
    """The secretary's reply to a request, as a mail client writes it: to its Reply-To, quoting it."""
    reply_to = request["Reply-To"].addresses[0].addr_spec
    quoted = "\n".join("> " + line for line in request.get_body(("plain",)).get_content().splitlines())
    return mail(f"SV: {request['Subject']}", sender=sender, body=f"Hej\n\n{word}\n\nMvh Anne\n\n{quoted}\n",
                results=results, to=reply_to, in_reply_to=request["Message-ID"]), reply_to


def held_posts(app) -> list[HeldPost]:
    with Session(app.engine) as session:
        return list(session.exec(select(HeldPost).order_by(HeldPost.id)))


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def test_a_strangers_post_is_held_and_the_secretary_gets_it_quoted_with_its_files_named(bot, door):
    door.send(mail(attachment=b"%PDF-1.4 " + b"x" * 3000, message_id="<w1@example.com>"))
    [request] = door.new()
    assert request["X-Kkrbot-Kind"] == "moderation-request"
    assert request["To"].addresses[0].addr_spec == SECRETARY[1]
    assert request["Subject"] == "Til godkendelse: Workshop om velfærdsteknologi"
    text = text_of(request)
    assert "> Vi afholder en workshop den 12. november." in text and "Peter Holm <peter.holm@example.com>" in text
    assert "ikke medlem" in text and "program.pdf" in text
    assert [p.get_content_type() for p in request.walk()] == ["multipart/alternative", "text/plain", "text/html"]
    assert "+" in request["Reply-To"].addresses[0].addr_spec  # the token that lets her answer
    [held] = held_posts(bot)
    assert (held.status, held.reason, held.sender) == ("held", "non-member", STRANGER[1])
    assert held.expires_at == bot.clock.now() + timedelta(days=14)


def test_godkend_relays_the_post_as_a_members_would_go_and_a_second_answer_changes_nothing(bot, door):
    door.send(mail(message_id="<w1@example.com>"))
    [request] = door.new()
    reply, reply_to = answer(request, "Godkend")
    door.send(reply, to=reply_to)
    posts = door.new("post")
    assert len(posts) == MEMBERS
    first = posts[0]
    assert first["From"].addresses[0].addr_spec == LIST and str(first["From"]).startswith("Peter Holm via Kommunalt")
    assert first["Reply-To"] == "Peter Holm <peter.holm@example.com>" and first["Message-ID"] == "<w1@example.com>"
    [result] = [r for r in door.sink.received if r.message["X-Kkrbot-Kind"] == "moderation-result"]
    assert result.recipients == [STRANGER[1]] and result.message["Subject"].startswith("Sendt til listen")
    assert held_posts(bot)[0].status == "approved" and held_posts(bot)[0].decided_by == SECRETARY[1]

    again, _ = answer(request, "Afvis")
    door.send(again, to=reply_to)
    [told] = door.new()  # only the secretary hears of it: nothing relayed, nothing to the sender
    assert (told["X-Kkrbot-Kind"], told["To"].addresses[0].addr_spec) == ("refusal", SECRETARY[1])
    assert "allerede afgjort" in text_of(told)
    assert held_posts(bot)[0].status == "approved"


def test_afvis_tells_the_sender_politely_with_the_reason_and_relays_nothing(bot, door):
    door.send(mail(message_id="<w1@example.com>"))
    [request] = door.new()
    reply, reply_to = answer(request, "Afvis: reklame hører ikke hjemme på listen")
    door.send(reply, to=reply_to)
    [result] = door.new()
    assert result["X-Kkrbot-Kind"] == "moderation-result" and result["To"].addresses[0].addr_spec == STRANGER[1]
    assert result["Subject"] == "Ikke sendt til listen: Workshop om velfærdsteknologi"
    assert result["In-Reply-To"] == "<w1@example.com>" and result["Auto-Submitted"] == "auto-replied"
    assert "Begrundelse: reklame hører ikke hjemme på listen" in text_of(result)
    [held] = held_posts(bot)
    assert (held.status, held.decision_reason) == ("rejected", "reklame hører ikke hjemme på listen")


def test_a_forged_godkend_from_the_secretary_without_the_token_does_nothing(bot, door):
    door.send(mail(message_id="<w1@example.com>"))
    [request] = door.new()
    subject = f"SV: {request['Subject']}"
    forged = [  # the secretary's From, but no token: to the list itself, with In-Reply-To made up or missing
        mail(subject, sender=SECRETARY, body="Godkend\n", results=(f"{TRUSTED}; dmarc=fail",)),
        mail(subject, sender=SECRETARY, body="Godkend\n", results=()),
        mail(subject, sender=SECRETARY, body="Godkend\n", results=(),
             in_reply_to="<aaaaaaaaaaaaaaaaaaaaaaaa.0123456789@lists.example.dk>"),
    ]
    for raw in forged:
        door.send(raw)
    assert door.new("post") == []
    assert held_posts(bot)[0].status == "held"
    # the real token, but from another address (a member who saw the request forwarded): nothing, and
    # the secretary is told at her own address
    stolen, reply_to = answer(request, "Godkend", sender=SOREN)
    door.send(stolen, to=reply_to)
    assert door.new("post") == [] and held_posts(bot)[0].status == "held"
    with Session(bot.engine) as session:
        last = session.exec(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
    assert last.outcome == "rejected" and "wrong-sender" in last.reason
    # and the real token from her address with a failed DMARC verdict: a forgery too
    failed, _ = answer(request, "Godkend", results=(f"{TRUSTED}; dmarc=fail",))
    door.send(failed, to=reply_to)
    assert door.new("post") == [] and held_posts(bot)[0].status == "held"


def test_each_held_post_gets_its_own_request_and_an_answer_decides_only_its_own(bot, door):
    door.send(mail("Første", message_id="<a@example.com>"))
    door.send(mail("Anden", sender=("Eva", "eva@example.org"), message_id="<b@example.com>"))
    first, second = door.new("moderation-request")
    assert first["Reply-To"] != second["Reply-To"]
    reply, reply_to = answer(second, "Approve")
    door.send(reply, to=reply_to)
    assert [h.status for h in held_posts(bot)] == ["held", "approved"]
    assert {p["Subject"] for p in door.new("post")} == {"Anden"}


def test_a_held_post_expires_after_14_days_and_the_sender_is_told_once(bot, door):
    door.send(mail(message_id="<w1@example.com>"))
    [request] = door.new()
    bot.clock.advance(days=13, hours=23)
    door.tick()
    assert door.new() == [] and held_posts(bot)[0].status == "held"
    bot.clock.advance(hours=1)
    door.tick()
    [told] = door.new()
    assert (told["X-Kkrbot-Kind"], told["To"].addresses[0].addr_spec) == ("moderation-result", STRANGER[1])
    assert "ventet på godkendelse i for lang tid" in " ".join(text_of(told).split())
    bot.clock.advance(days=2)
    door.tick()
    assert door.new() == [] and held_posts(bot)[0].status == "expired"
    late, reply_to = answer(request, "Godkend")  # the secretary, too late: nothing relayed, she is told
    door.send(late, to=reply_to)
    assert [m["X-Kkrbot-Kind"] for m in door.new()] == ["refusal"]


def test_after_a_dmarc_failure_the_sender_is_never_told(bot, door):
    door.send(mail(sender=SOREN, results=(f"{TRUSTED}; dmarc=fail header.from=aarhus.example.dk",)))
    [request] = door.new()
    assert "DMARC" in text_of(request)
    reply, reply_to = answer(request, "Afvis")
    door.send(reply, to=reply_to)
    assert door.new() == [] and held_posts(bot)[0].status == "rejected"


def test_a_stranger_gets_at_most_one_mail_a_day(bot, door):
    for n in range(3):
        door.send(mail(f"Tilbud {n}", message_id=f"<t{n}@example.com>"))
    requests = door.new("moderation-request")
    for request in requests:
        reply, reply_to = answer(request, "Afvis")
        door.send(reply, to=reply_to)
    assert len([m for m in door.new() if m["To"].addresses[0].addr_spec == STRANGER[1]]) == 1
    assert [h.status for h in held_posts(bot)] == ["rejected"] * 3


def test_ten_requests_a_day_then_one_digest_for_the_rest_of_that_day(bot, door):
    bot.clock.set(bot.clock.now().replace(hour=8))  # 09:00 in Copenhagen
    for n in range(12):
        door.send(mail(f"Tilbud {n}", sender=(f"Afsender {n}", f"a{n}@example.com"), message_id=f"<t{n}@x.dk>"))
    assert len(door.new("moderation-request")) == 10
    door.tick()
    assert door.new() == []  # the day is not over yet
    bot.clock.advance(hours=15, minutes=5)  # 00:05 the next day
    door.tick()
    [digest] = door.new()
    assert (digest["X-Kkrbot-Kind"], digest["To"].addresses[0].addr_spec) == ("moderation-digest", SECRETARY[1])
    text = text_of(digest)
    assert "Tilbud 10" in text and "Tilbud 11" in text and "Tilbud 9" not in text and "kkrbot held" in text
    door.tick()
    assert door.new() == []  # one digest for that day
    door.send(mail("Ny dag", sender=("Ny", "ny@example.com"), message_id="<new@x.dk>"))
    assert len(door.new("moderation-request")) == 1  # a new day, new requests


def test_a_post_larger_than_max_post_bytes_is_held_even_from_a_member(tmp_path, clock, smtp_sink):
    from tests.support.config import shipped_networks

    networks = shipped_networks().replace('secretary = "anne.hansen@kl.example.dk"\n',
                                          'secretary = "anne.hansen@kl.example.dk"\nmax_post_bytes = 4096\n', 1)
    app = start_app(tmp_path, clock, smtp_sink, networks_toml=networks)
    opened = Door(app, smtp_sink)
    try:
        opened.send(mail("Lille", sender=SOREN, message_id="<small@x.dk>"))
        assert len(opened.new("post")) == MEMBERS
        opened.send(mail("Stor", sender=SOREN, body="bla " * 2000, message_id="<big@x.dk>"))
        [request] = opened.new()
        assert request["X-Kkrbot-Kind"] == "moderation-request" and "4 KB" in text_of(request)
        assert held_posts(app)[0].reason == "too-large"
    finally:
        opened.controller.stop()
        app.engine.dispose()


@pytest.fixture
def trusted_imap_app(tmp_path, mailbox, clock):
    """A bot reading the Dovecot mailbox behind a trusted mail server (authserv_id set)."""
    from tests.support.config import imap_env

    config = make_config(tmp_path, bot_toml={"inbound": '"imap"', "authserv_id": f'"{TRUSTED}"'},
                         env=imap_env(mailbox))
    app = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(app)
    yield app
    app.engine.dispose()


def test_through_dovecot_held_asked_approved_rejected_expired_and_a_forgery_does_nothing(trusted_imap_app,
                                                                                         mailbox):
    from email import message_from_bytes, policy

    from tests.support.inbound import outbox

    imap_app = trusted_imap_app
    cursor = MailboxCursor(imap_app, connect(ImapAccount.from_settings(imap_app.settings)),
                           lambda: process_pending(imap_app))
    for n, who in enumerate((STRANGER, ("Eva", "eva@example.org"), ("Ole", "ole@example.net"))):
        mailbox.append(mail(f"Indlæg {n}", sender=who, message_id=f"<imap{n}@example.com>", results=()))
    cursor.run_once()
    requests = [message_from_bytes(r.raw, policy=policy.default) for r in outbox(imap_app, "moderation-request")]
    assert len(requests) == 3 and outbox(imap_app, "post") == []
    mailbox.append(mail(f"SV: {requests[0]['Subject']}", sender=SECRETARY, body="Godkend\n", results=(),
                        message_id="<forged@x.dk>"))  # her From, no token
    cursor.run_once()
    assert outbox(imap_app, "post") == [] and [h.status for h in held_posts(imap_app)] == ["held"] * 4
    assert held_posts(imap_app)[3].reason == "unverified"  # the forgery itself waits, as any unverified post
    for request, word in zip(requests, ("Godkend", "Afvis: ikke relevant")):
        mailbox.append(answer(request, word, results=())[0])
    cursor.run_once()
    assert len(outbox(imap_app, "post")) == MEMBERS
    assert [h.status for h in held_posts(imap_app)] == ["approved", "rejected", "held", "held"]
    imap_app.clock.advance(days=14)
    moderation.tick(imap_app)
    moderation.tick(imap_app)
    results = sorted(r.recipient for r in outbox(imap_app, "moderation-result"))
    assert results == sorted([STRANGER[1], "eva@example.org", "ole@example.net", SECRETARY[1]])  # each told once
    assert [h.status for h in held_posts(imap_app)] == ["approved", "rejected", "expired", "expired"]



def test_the_same_post_twice_is_held_and_asked_about_once(bot, door):
    raw = mail(message_id="<twice@example.com>")
    door.send(raw)
    door.send(raw)
    assert len(door.new("moderation-request")) == 1 and len(held_posts(bot)) == 1


def test_a_burst_of_strangers_asks_ten_times_and_the_digest_counts_the_rest(app):
    from email import message_from_bytes, policy

    from tests.support.inbound import deliver, outbox

    app.clock.set(app.clock.now().replace(hour=8))
    for n in range(115):
        deliver(app, mail(f"Spam {n}", sender=("Spam", f"spam{n}@example.com"), message_id=f"<s{n}@x.dk>",
                          results=()), to=LIST)
    assert len(outbox(app, "moderation-request")) == 10 and outbox(app, "moderation-result") == []
    app.clock.advance(days=1)
    moderation.tick(app)
    [digest] = outbox(app, "moderation-digest")
    message = message_from_bytes(digest.raw, policy=policy.default)
    assert message["Subject"].startswith("105 mails mere venter på godkendelse")
    assert "og 5 mere" in text_of(message) and "Spam 109" in text_of(message) and "Spam 110" not in text_of(message)


def test_godkend_to_a_post_whose_mail_is_gone_is_refused_at_once_and_changes_nothing(app):
    """Retention may delete a stored mail: the answer gets an outcome, not retries and a failure."""
    from email import message_from_bytes, policy

    from sqlalchemy import delete

    from bot.store.models import InboundRaw
    from tests.support.inbound import deliver, outbox, row

    post = deliver(app, mail(message_id="<gone@example.com>", results=()), to=LIST)
    [request_row] = outbox(app, "moderation-request")
    with Session(app.engine) as session:
        session.exec(delete(InboundRaw).where(InboundRaw.inbound_id == post))
        session.commit()
    reply, reply_to = answer(message_from_bytes(request_row.raw, policy=policy.default), "Godkend", results=())
    answered = row(app, deliver(app, reply, to=reply_to))
    assert (answered.outcome, answered.attempts) == ("rejected", 1) and "stored mail is gone" in answered.reason
    assert held_posts(app)[0].status == "held" and outbox(app, "post") == []
