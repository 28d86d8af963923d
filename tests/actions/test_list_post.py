"""A member's post reaches every member once, threads intact, with their own unsubscribe address."""
from __future__ import annotations

from sqlmodel import Session

from bot.inbound.parse import parse
from bot.outbound.send import SmtpSender
from bot.people.recipients import members
from tests.support import corpus
from tests.support.inbound import deliver, row
from tests.support.outbound import send_due

SOREN = ("Søren Ærø", "soren.aero@aarhus.example.dk")


def test_a_member_post_is_relayed_to_every_member_with_threading_intact(smtp_app, smtp_sink):
    raw = corpus.sent_by(corpus.load("post-windows-1252.eml"), SOREN)
    inbound = row(smtp_app, deliver(smtp_app, raw))
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    with Session(smtp_app.engine) as session:
        everyone = sorted(c.email for c in members(session, "it-netvaerk"))
    assert sorted(r.recipients[0] for r in smtp_sink.received) == everyone and len(everyone) == 13
    unsubscribe = set()
    for received in smtp_sink.received:
        message = received.message
        assert message["Message-ID"] == inbound.message_id  # the author's, no token
        assert message["Subject"] == inbound.subject
        # decoded by our parser: Python's own header parser adds a space where an encoded-word is folded
        assert parse(received.raw).header("From") == \
            "Søren Ærø via Kommunalt it-netværk på sundhedsområdet <it-netvaerk@lists.example.dk>"
        assert message["Reply-To"].addresses[0].addr_spec == SOREN[1]
        assert message["List-Id"] == "Kommunalt it-netværk på sundhedsområdet <it-netvaerk.lists.example.dk>"
        assert message["Precedence"] == "list" and message["X-Kkrbot-Kind"] == "post"
        assert message["Auto-Submitted"] is None and message["List-Unsubscribe-Post"] is None
        assert received.envelope_from.startswith("it-netvaerk+bounce-")
        unsubscribe.add(message["List-Unsubscribe"])
        original, footer = message.iter_parts()
        original_text = original.get_content()  # windows-1252: “ – € … are not latin-1: only the right charset
        assert [s for s in corpus.manifest()["post-windows-1252.eml"]["body_contains"] if s not in original_text] == []
        assert footer.get_content_type() == "multipart/alternative"
        text = footer.get_body(("plain",)).get_content()
        assert message["List-Unsubscribe"][8:].split("?")[0] in text  # the footer names this member's address
    assert len(unsubscribe) == 13  # a token per member
    assert "Delivered-To" not in smtp_sink.received[0].raw.decode("latin-1").split("\r\n\r\n")[0]


def test_the_same_post_delivered_twice_is_relayed_once(smtp_app, smtp_sink):
    raw = corpus.sent_by(corpus.load("post-utf8.eml"), SOREN)
    deliver(smtp_app, raw)
    deliver(smtp_app, raw)
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    assert len(smtp_sink.received) == 13


def test_a_dmarc_failure_or_a_non_member_waits_for_moderation(trusted_app):
    failed = row(trusted_app, deliver(trusted_app, corpus.sent_by(corpus.load("dmarc-fail.eml"), SOREN)))
    assert (failed.outcome, failed.dmarc) == ("held", "fail")
    stranger = row(trusted_app, deliver(trusted_app, corpus.sent_by(corpus.load("post-utf8.eml"), ("X", "x@gmail.example.com"))))
    assert stranger.outcome == "held" and "not a member" in stranger.reason
