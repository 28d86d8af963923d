"""Classification: each rule alone, and the whole table on the corpus."""
from __future__ import annotations

import pytest

from bot.config.settings import load_settings
from bot.inbound.imap_routing import route_message
from bot.inbound.parse import parse
from bot.inbound.routing import route
from bot.rules.classify import (
    RULES,
    Inbound,
    answer,
    auto_submitted,
    bounce,
    classify,
    command,
    command_subject,
    itip_reply,
    own_message_id,
    precedence,
    x_loop,
)
from tests.support import corpus
from tests.support.config import make_config

MANIFEST = corpus.manifest()


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return load_settings(make_config(tmp_path_factory.mktemp("classify")), environ={})


def inbound_of(settings, raw: bytes, delivered_to: str | None = None, null_sender: bool = False) -> Inbound:
    address = route(delivered_to, settings.networks) if delivered_to else route_message(raw, settings.networks)[0]
    return Inbound(mail=parse(raw), network=settings.network(address.network), address=address,
                   null_sender=null_sender)


@pytest.mark.parametrize("name", [n for n in corpus.names() if MANIFEST[n]["category"] != "reject"])
def test_every_corpus_mail_gets_its_kind(settings, name):
    expected = MANIFEST[name]
    result = classify(inbound_of(settings, corpus.load(name)))
    assert result.kind == expected["category"], result
    if result.kind == "command":
        assert result.detail["command"] == {"hjælp": "help", "help": "help", "kontakter": "contacts",
                                            "afmeld": "unsubscribe", "unsubscribe": "unsubscribe",
                                            "dagsordenspunkt": "agenda-item", "agenda item": "agenda-item",
                                            }[expected["command"]]
        if "command_arg" in expected:
            assert result.detail["title"] == expected["command_arg"]
    if result.kind == "bounce" and "bounce_address" in expected:
        # Both ways to the recipient: the VERP token in our bounce address, and the address the DSN names.
        assert result.detail["token"] == corpus.DEFAULT_TOKEN
        assert result.detail["addresses"] == [expected["bounce_address"]]


def test_the_rules_are_in_the_documented_order():
    names = [rule.__name__ for rule in RULES]
    assert names.index("bounce") < names.index("auto_submitted")  # DSNs say auto-replied too
    assert names.index("answer") < names.index("command") and names[-1] == "post"


def test_each_rule_alone(settings):
    looped = inbound_of(settings, b"X-Loop: it-netvaerk@lists.example.dk\r\nTo: it-netvaerk@lists.example.dk\r\n\r\nx")
    assert x_loop(looped).rule == "x-loop" and own_message_id(looped) is None
    ours = inbound_of(settings, b"Message-ID: <abcdefghijklmnopqrstuvwx.1234@lists.example.dk>\r\n"
                                b"To: it-netvaerk@lists.example.dk\r\n\r\nx")
    assert own_message_id(ours).kind == "loop"
    plain = inbound_of(settings, b"From: a@b.dk\r\nTo: it-netvaerk@lists.example.dk\r\nSubject: Hej\r\n\r\nx")
    for rule in (x_loop, own_message_id, bounce, itip_reply, auto_submitted, precedence, answer, command):
        assert rule(plain) is None, rule.__name__
    no = inbound_of(settings, b"Auto-Submitted: no\r\nTo: it-netvaerk@lists.example.dk\r\n\r\nx")
    assert auto_submitted(no) is None


def test_a_token_in_the_address_beats_in_reply_to(settings):
    raw = (b"From: a@b.dk\r\nTo: it-netvaerk+bbbbbbbbbbbbbbbbbbbbbbbb@lists.example.dk\r\n"
           b"In-Reply-To: <cccccccccccccccccccccccc.1@lists.example.dk>\r\n"
           b"References: <dddddddddddddddddddddddd.1@lists.example.dk>\r\n\r\nJa")
    result = answer(inbound_of(settings, raw))
    assert result.detail == {"token": "b" * 24, "reply_token": "c" * 24}
    only_references = (b"From: a@b.dk\r\nTo: it-netvaerk@lists.example.dk\r\n"
                       b"References: <dddddddddddddddddddddddd.1@lists.example.dk>\r\n\r\nJa")
    assert answer(inbound_of(settings, only_references)) is None  # tokens deeper in References are ignored


@pytest.mark.parametrize("subject, expected", [
    ("hjælp", "help"), ("SV: Hjælp!", "help"), ("Re: RE: [kontakter]", "contacts"), ("Fwd: afmeld.", "unsubscribe"),
    ("Hjælp til FMK-opsætning", None), ("help me", None), ("AW: Unsubscribe", "unsubscribe"),
    ("Ingen kopi", "no-copy"), ("ingen   KOPI.", "no-copy"), ("SV: ingen kopi", None), ("Re: Pause", None), ("No copy", "no-copy"), ("kopi", "copy"),
    ("Copy", "copy"), ("Pause!", "pause"), ("genoptag", "resume"), ("Resume", "resume"), ("gjenoppta", "resume"),
    ("Pause i projektet", None), ("Kopi af referat", None), ("ingen kopi tak", None),
])
def test_the_subject_rule(settings, subject, expected):
    raw = f"From: a@b.dk\r\nTo: it-netvaerk@lists.example.dk\r\nSubject: {subject}\r\n\r\nx".encode()
    result = command(inbound_of(settings, raw))
    assert (result.detail["command"] if result else None) == expected


def test_command_subject_strips_prefixes_and_punctuation():
    assert command_subject("SV: VS: Fwd:  «hjælp»?!") == "hjælp"
    assert command_subject("Re[2]: kontakter.") == "kontakter"


def test_a_null_sender_or_verp_address_makes_a_bounce(settings):
    raw = (b"From: MAILER-DAEMON@mx.example.dk\r\nTo: it-netvaerk+bounce-eeeeeeeeeeeeeeeeeeeeeeee@lists.example.dk\r\n"
           b"Subject: Undelivered Mail\r\n\r\nSorry.")
    result = bounce(inbound_of(settings, raw, null_sender=True))
    assert result.kind == "bounce" and result.detail["token"] == "e" * 24
