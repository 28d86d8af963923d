"""Bounce scoring: three within fourteen days disable member mail; role holders keep role mail."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from bot.actions.bounces import record_bounce
from bot.people.recipients import members
from bot.store.db import session_scope
from bot.store.models import AdminEvent, Bounce, Contact, OutboxMessage
from tests.support import corpus
from tests.support.inbound import deliver, issue_token, row
from tests.support.process import kkrbot

METTE = "mette.ostergaard@herning.example.dk"  # a member
SOREN = "soren.aero@aarhus.example.dk"  # a member and the vice-chair


def bounce(app, address: str) -> None:
    with session_scope(app.engine) as session:
        record_bounce(app, session, address, source="dsn")


def contact(app, address: str) -> Contact:
    with Session(app.engine) as session:
        return session.exec(select(Contact).where(Contact.email == address)).one()


def outbox_kinds(app) -> list[tuple[str, str]]:
    with Session(app.engine) as session:
        return [(r.kind, r.recipient) for r in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_three_bounces_within_the_window_disable_delivery_and_tell_the_secretary(app):
    for _ in range(2):
        bounce(app, METTE)
        app.clock.advance(days=6)
    assert not contact(app, METTE).delivery_disabled
    bounce(app, METTE)
    assert contact(app, METTE).delivery_disabled
    assert outbox_kinds(app) == [("delivery-disabled", "anne.hansen@kl.example.dk")]
    with Session(app.engine) as session:
        assert METTE not in [c.email for c in members(session, "it-netvaerk")]
        assert session.exec(select(AdminEvent)).all() == []  # an ordinary member: the secretary is enough


def test_many_bounces_on_one_day_count_once(app):
    for _ in range(5):
        bounce(app, METTE)
    assert not contact(app, METTE).delivery_disabled


def test_a_forged_dsn_to_the_plain_list_address_counts_against_nobody(app):
    for n in range(3):
        raw = re.sub(rb"(?im)^message-id: <", f"Message-ID: <forged{n}.".encode(), corpus.load("bounce-exim.eml"),
                     count=1).replace(b"soren.aero@aarhus.example.dk", METTE.encode())
        inbound = row(app, deliver(app, raw, to="it-netvaerk@lists.example.dk", envelope_from=""))
        assert inbound.outcome == "ignored" and "counted against nobody" in inbound.reason
        app.clock.advance(days=1)
    assert not contact(app, METTE).delivery_disabled


def test_bounces_older_than_the_window_do_not_count(app):
    for _ in range(3):
        bounce(app, METTE)
        app.clock.advance(days=8)
    assert not contact(app, METTE).delivery_disabled


def test_a_role_holder_keeps_role_mail_and_the_administrator_is_told(app):
    for _ in range(3):
        bounce(app, SOREN)
        app.clock.advance(days=1)
    assert contact(app, SOREN).delivery_disabled
    with Session(app.engine) as session:
        [event] = session.exec(select(AdminEvent)).all()
    assert event.kind == "role-holder-bouncing" and SOREN in event.detail


def test_dsns_count_by_their_verp_token_and_delays_never_do(app):
    for n in range(3):
        token = issue_token(app, METTE, "agenda", ref=f"r{n}")
        for name in ("bounce-postfix-dsn.eml", "bounce-delayed.eml"):  # each its own DSN: its own Message-ID
            raw = re.sub(rb"(?im)^message-id: <", f"Message-ID: <{n}.".encode(), corpus.load(name, token), count=1)
            deliver(app, raw, envelope_from="")
        app.clock.advance(days=1)
    assert contact(app, METTE).delivery_disabled


def test_clear_bounce_enables_delivery_again_and_old_bounces_stop_counting(app):
    app.clock.set(datetime.now(timezone.utc) - timedelta(days=3))  # the CLI runs on the real clock
    for _ in range(3):
        bounce(app, METTE)
        app.clock.advance(days=1)
    result = kkrbot(app.settings.config_dir, "contacts", "clear-bounce", METTE.upper())
    assert result.returncode == 0, result.stderr
    assert not contact(app, METTE).delivery_disabled
    app.clock.set(datetime.now(timezone.utc) + timedelta(minutes=1))
    bounce(app, METTE)
    assert not contact(app, METTE).delivery_disabled
    unknown = kkrbot(app.settings.config_dir, "contacts", "clear-bounce", "nobody@example.dk")
    assert unknown.returncode == 1 and "not a contact" in unknown.stderr


def test_a_bounce_whose_address_cannot_be_found_counts_against_nobody(app):
    # A real NDR naming Mette, to a VERP token never issued: enough of them, on different days within the
    # window, to disable her delivery if they counted against the address they name.
    for n in range(3):
        raw = re.sub(rb"(?im)^message-id: <", f"Message-ID: <lost{n}.".encode(),
                     corpus.load("bounce-exchange-ndr.eml", "z" * 24), count=1)
        inbound = row(app, deliver(app, raw, envelope_from=""))
        assert inbound.reason == f"bounce for no mail of ours (names {METTE}; counted against nobody)"
        app.clock.advance(days=1)
    with Session(app.engine) as session:
        assert [(b.address, b.contact_id) for b in session.exec(select(Bounce))] == [("", None)] * 3
    assert not contact(app, METTE).delivery_disabled
