"""Who may act: forged senders, replayed tokens and tokens of other mails act on nothing."""
from __future__ import annotations

import re

from bot.config.networks import SLUG_MAX
from bot.outbound import tokens
from tests.support import corpus
from tests.support.inbound import add_meeting, deliver, issue_token, outbox, row

SOREN = ("Søren Ærø", "soren.aero@aarhus.example.dk")
SOREN_ALIAS = ("Søren Ærø", "s.aero@aarhus.example.dk")
METTE = ("Mette Østergaard", "mette.ostergaard@herning.example.dk")
FORGER = ("Søren Ærø", "soren.aero@evil.example.org")


def answer(app, token: str, sender, name: str = "answer-outlook-oprindelig.eml"):
    return row(app, deliver(app, corpus.load(name, token, sender)))


def test_the_genuine_token_from_the_right_address_reaches_the_handler_as_the_right_kind(app):
    meeting = add_meeting(app, "it-netvaerk", "2027-10-07")
    inbound = answer(app, issue_token(app, SOREN[1], "invitation", meeting_id=meeting), SOREN)
    assert (inbound.outcome, inbound.kind) == ("handled", "answer:invitation")
    assert inbound.reason == "registered for it-netvaerk/2027-10-07; confirmed"


def test_an_alias_counts_as_the_person(app):
    meeting = add_meeting(app, "it-netvaerk", "2027-10-07")
    inbound = answer(app, issue_token(app, SOREN[1], "draft", meeting_id=meeting), SOREN_ALIAS,
                     "answer-outlook-fra-sendt.eml")
    assert (inbound.outcome, inbound.kind) == ("handled", "answer:draft")  # Søren is the vice-chair


def test_a_forged_from_is_rejected_and_never_relayed(app):
    inbound = answer(app, issue_token(app, SOREN[1], "invitation"), FORGER)
    assert inbound.outcome == "rejected" and inbound.reason.startswith("wrong-sender:")
    assert [m.kind for m in outbox(app)] == ["refusal"]  # says what to do; nothing to the list


def test_a_token_replayed_by_another_member_is_rejected(app):
    inbound = answer(app, issue_token(app, SOREN[1], "draft"), METTE, "answer-outlook-fra-sendt.eml")
    assert inbound.outcome == "rejected" and inbound.reason.startswith("wrong-sender:")


def test_a_token_of_another_network_is_rejected(app):
    token = issue_token(app, SOREN[1], "invitation", network="kontaktudvalg")
    inbound = answer(app, token, SOREN)  # the mail goes to it-netvaerk+<token>
    assert inbound.outcome == "rejected" and inbound.reason.startswith("token-of-another-network:")


def test_a_token_for_another_meeting_is_rejected(app):
    other = add_meeting(app, "it-netvaerk", "2027-09-02")
    add_meeting(app, "it-netvaerk", "2027-10-07")
    token = issue_token(app, SOREN[1], "invitation", meeting_id=other)
    inbound = row(app, deliver(app, corpus.load("itip-outlook-accept.eml", token, SOREN)))
    assert inbound.outcome == "rejected" and inbound.reason.startswith("token-for-another-meeting:")


def test_a_reply_address_and_in_reply_to_naming_different_mails_is_rejected(app):
    first, second = issue_token(app, SOREN[1], "invitation"), issue_token(app, SOREN[1], "draft", ref="other")
    raw = (f"From: {SOREN[1]}\r\nTo: it-netvaerk+{first}@lists.example.dk\r\n"
           f"In-Reply-To: <{second}.abc@lists.example.dk>\r\nSubject: Re: x\r\n\r\nJa\r\n").encode()
    inbound = row(app, deliver(app, raw))
    assert inbound.outcome == "rejected" and inbound.reason.startswith("token-mismatch:")


def test_an_unknown_token_is_rejected(app):
    inbound = answer(app, "q" * 24, SOREN)
    assert inbound.outcome == "rejected" and inbound.reason.startswith("unknown-token:")


def test_the_token_in_in_reply_to_is_used_when_the_address_has_none(app):
    token = issue_token(app, SOREN[1], "invitation", meeting_id=add_meeting(app, "it-netvaerk", "2027-10-07"))
    raw = (f"From: {SOREN[1]}\r\nTo: it-netvaerk@lists.example.dk\r\n"
           f"In-Reply-To: <{token}.abc@lists.example.dk>\r\nSubject: Re: x\r\n\r\nAfbud\r\n").encode()
    inbound = row(app, deliver(app, raw))
    assert (inbound.outcome, inbound.reason) == ("handled", "apologies for it-netvaerk/2027-10-07; confirmed")


def test_tokens_are_lowercase_base32_with_enough_bits_and_fit_the_local_part_limit(app):
    token = tokens.make_token(app.token_secret, "it-netvaerk", "a@b.dk", "invitation")
    assert re.fullmatch(r"[a-z2-7]{24}", token)  # 24 × 5 = 120 bits ≥ 96
    assert token != tokens.make_token(app.token_secret, "it-netvaerk", "c@b.dk", "invitation")
    assert token != tokens.make_token(b"another secret", "it-netvaerk", "a@b.dk", "invitation")
    longest = "a" * SLUG_MAX + "@lists.example.dk"
    assert len(tokens.bounce_address(longest, token).split("@")[0]) <= 64
    assert tokens.token_in_tag(token.upper()) == token  # servers that upper-case local parts
    assert tokens.token_in_message_id(tokens.message_id(token, "n0nce", "lists.example.dk")) == token
