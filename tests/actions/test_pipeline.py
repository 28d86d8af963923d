"""Every inbound mail reaches exactly one clear outcome, once: the corpus through the real pipeline."""
from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.people.recipients import members
from bot.store.models import AdminEvent, Bounce, InboundMessage
from tests.support import corpus
from tests.support.inbound import add_meeting, deliver, issue_token, outbox, raw_of, row

MANIFEST = corpus.manifest()
MEMBER = ("Søren Ærø", "soren.aero@aarhus.example.dk")
OUTSIDER = ("Ukendt", "someone@gmail.example.com")
ANSWERED_KIND = {"tilmeld": "invitation", "afbud": "invitation", "ja": "invitation", "nej": "invitation",
                 "måske": "invitation", "maybe": "invitation", "hvornår": "invitation", "godkend": "draft",
                 "afvent": "draft", "hermed": "minutes-request"}
ANSWER_OUTCOME = {  # by the first word: the outcome, words of its reason, and the mail it brings
    "tilmeld": ("handled", "registered for", ["rsvp-ack"]), "ja": ("handled", "registered for", ["rsvp-ack"]),
    "afbud": ("handled", "apologies for", ["rsvp-ack"]), "nej": ("handled", "apologies for", ["rsvp-ack"]),
    "måske": ("handled", "tentative for", ["rsvp-ack"]), "maybe": ("handled", "tentative for", ["rsvp-ack"]),
    "godkend": ("handled", "draft agenda for it-netvaerk/2027-10-07: approve", []),
    "afvent": ("handled", "draft agenda for it-netvaerk/2027-10-07: hold", []),
    "hermed": ("rejected", "only the secretary sends the minutes", ["refusal"]),  # Søren is not the secretary
    "hvornår": ("handled", "answer not understood", ["refusal"]),
}
COMMAND_OUTCOME = {  # by the command word in the corpus: what a member who sends it gets today
    "hjælp": ("handled", "help sent", "command:help"), "help": ("handled", "help sent", "command:help"),
    "afmeld": ("handled", "confirmation requested", "command:unsubscribe"),
    "unsubscribe": ("handled", "confirmation requested", "command:unsubscribe"),
    # everyone on it-netvaerk: 13 members, the five KKR consultants (chair, vice-chair, secretary are members too)
    "kontakter": ("handled", "contact list sent (18 contacts)", "command:contacts"),
    # an item for the next meeting (15 April 2027, moved from the 8th), before its deadline
    "dagsordenspunkt": ("handled", "item #1 for it-netvaerk/2027-04-08", "command:agenda-item"),
    "agenda item": ("handled", "item #1 for it-netvaerk/2027-04-08", "command:agenda-item"),
}
COMMAND_MAIL = {"hjælp": ["help"], "help": ["help"], "afmeld": ["unsubscribe-confirm"],
                "unsubscribe": ["unsubscribe-confirm"], "kontakter": ["contacts"], "dagsordenspunkt": ["item-ack"],
                "agenda item": ["item-ack"]}
OUTCOME = {"loop": "ignored", "bounce": "ignored", "bounce-delayed": "ignored", "auto-reply": "ignored",
           "reject": "rejected"}


def corpus_mail(app, name: str) -> bytes:
    expected = MANIFEST[name]
    if expected["category"] == "answer":
        meeting = add_meeting(app, "it-netvaerk", "2027-10-07")
        kind = ANSWERED_KIND[expected["first_word"]]
        return corpus.load(name, issue_token(app, MEMBER[1], kind, meeting_id=meeting), MEMBER)
    if expected["category"] == "itip-reply":
        meeting = add_meeting(app, "it-netvaerk", "2027-10-07")
        return corpus.load(name, issue_token(app, MEMBER[1], "invitation", meeting_id=meeting), MEMBER)
    return corpus.load(name, sender=MEMBER)


@pytest.mark.parametrize("name", corpus.names())
def test_each_corpus_mail_reaches_its_outcome(app, name):
    expected = MANIFEST[name]
    inbound = row(app, deliver(app, corpus_mail(app, name)))
    assert inbound.state == "done" and inbound.finished_at is not None
    category = expected["category"]
    if category == "answer":
        outcome, reason, mail = ANSWER_OUTCOME[expected["first_word"]]
        assert (inbound.outcome, inbound.kind.startswith("answer:")) == (outcome, True), inbound.reason
        assert reason in inbound.reason and [m.kind for m in outbox(app)] == mail
    elif category == "itip-reply":
        status = {"accepted": "registered", "declined": "apologies", "tentative": "tentative"}[expected["partstat"].lower()]
        assert (inbound.outcome, inbound.kind) == ("handled", "answer:invitation"), inbound.reason
        assert inbound.reason.startswith(f"{status} for it-netvaerk/2027-10-07")
        assert [m.kind for m in outbox(app)] == ["rsvp-ack"]
    elif category == "command":
        assert (inbound.outcome, inbound.reason, inbound.kind) == COMMAND_OUTCOME[expected["command"]]
        assert [m.kind for m in outbox(app)] == COMMAND_MAIL[expected["command"]]
    elif category == "post" and inbound.outcome == "handled":
        with Session(app.engine) as session:
            everyone = len(members(session, inbound.network_slug))
        assert inbound.reason == f"relayed to {everyone} members" and len(outbox(app, "post")) == everyone
    elif category == "post":
        assert inbound.outcome == "held" and inbound.reason.endswith("held for moderation"), inbound.reason
        assert outbox(app, "post") == []
    else:
        assert inbound.outcome == OUTCOME[category], (inbound.outcome, inbound.reason)
    if category in ("loop", "auto-reply", "bounce", "bounce-delayed"):
        assert outbox(app) == [] and inbound.rule  # never answered, never relayed; the rule is recorded
    if expected.get("defects"):
        assert inbound.defects


def test_bounces_count_against_the_address_and_delays_never_do(app):
    deliver(app, corpus.load("bounce-postfix-dsn.eml", issue_token(app, "soren.aero@aarhus.example.dk", "agenda")))
    deliver(app, corpus.load("bounce-delayed.eml"))
    deliver(app, corpus.load("bounce-qmail.eml", issue_token(app, "soren.aero@aarhus.example.dk", "call")))
    deliver(app, corpus.load("bounce-exim.eml"))  # its VERP token was never issued: counts against nobody
    with Session(app.engine) as session:
        addresses = [b.address for b in session.exec(select(Bounce).order_by(Bounce.id))]
    assert addresses == ["soren.aero@aarhus.example.dk", "soren.aero@aarhus.example.dk", ""]


def test_help_is_sent_to_anyone_and_threads_under_the_request(app):
    inbound = row(app, deliver(app, corpus.sent_by(corpus.load("command-hjaelp.eml"), OUTSIDER)))
    assert (inbound.outcome, inbound.kind) == ("handled", "command:help")
    [help_mail] = outbox(app, "help")
    assert help_mail.recipient == "someone@gmail.example.com"
    raw = help_mail.raw.decode()
    assert f"In-Reply-To: {inbound.message_id}" in raw and "Auto-Submitted: auto-replied" in raw


def test_a_non_member_command_is_refused_politely(app):
    inbound = row(app, deliver(app, corpus.sent_by(corpus.load("command-kontakter.eml"), OUTSIDER)))
    assert inbound.outcome == "rejected" and "not a member" in inbound.reason
    [refusal] = outbox(app, "refusal")
    assert refusal.recipient == "someone@gmail.example.com"


def test_x_auto_response_suppress_is_not_a_sign_of_automatic_mail(app):
    inbound = row(app, deliver(app, corpus.sent_by(corpus.load("post-suppress.eml"), MEMBER)))
    assert (inbound.outcome, inbound.kind) == ("handled", "post")


def test_mail_to_no_known_network_is_rejected_with_that_reason(app):
    inbound = row(app, deliver(app, corpus.load("broken-unknown-network.eml")))
    assert (inbound.outcome, inbound.reason) == ("rejected", "addressed to no known network")


def test_a_stage_that_raises_is_retried_then_set_aside_and_the_loop_goes_on(app, monkeypatch):
    import bot.actions.pipeline as pipeline

    calls = []

    def broken(app_, session, inbound_row):
        if b"BOOM" in raw_of(app_, inbound_row.id):
            calls.append(inbound_row.id)
            raise RuntimeError("handler exploded")
        return original(app_, session, inbound_row)

    original = pipeline.decide
    monkeypatch.setattr(pipeline, "decide", broken)
    bad = deliver(app, b"From: a@b.dk\r\nTo: it-netvaerk@lists.example.dk\r\nSubject: BOOM\r\n\r\nx")
    good = deliver(app, corpus.sent_by(corpus.load("post-utf8.eml"), MEMBER))
    assert row(app, good).outcome == "handled"
    for _ in range(app.settings.processing.max_attempts):
        app.clock.advance(hours=2)
        pipeline.process_pending(app)
    failed = row(app, bad)
    assert (failed.state, failed.outcome, failed.attempts) == ("done", "failed", app.settings.processing.max_attempts)
    assert "RuntimeError: handler exploded" in failed.reason  # (decided twice per attempt: in its batch, then alone)
    assert pipeline.retry(app, bad) and row(app, bad).state == "new"


def test_x_auto_response_suppress_stops_acknowledgements_only(app):
    from bot.actions.handlers import Context
    from bot.actions.replies import reply
    from bot.inbound.parse import parse
    from bot.inbound.routing import route
    from bot.rules.classify import Classification, Inbound

    def context_for(raw: bytes, session):
        network = app.settings.network("it-netvaerk")
        mail = parse(raw)
        inbound = Inbound(mail, network, route(network.address, app.settings.networks))
        return Context(app, session, row(app, deliver(app, raw)), mail, network, inbound,
                       Classification("answer", "test"))

    suppressing = corpus.sent_by(corpus.load("post-suppress.eml"), MEMBER)
    with Session(app.engine) as session:
        ctx = context_for(suppressing, session)
        assert reply(ctx, "unsubscribe-done") is False  # an acknowledgement: not sent
        assert reply(ctx, "help") is True  # what was asked for: sent
        session.commit()
    assert [m.kind for m in outbox(app) if m.kind != "post"] == ["help"]


def plain(subject: str, sender: str = MEMBER[1], to: str = "it-netvaerk@lists.example.dk", body: str = "Hej\r\n",
          extra: str = "", message_id: str = "") -> bytes:
    message_id = message_id or f"<{abs(hash((subject, sender, to, body, extra)))}@example.dk>"
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n{extra}\r\n"
            f"{body}").encode()


def test_the_list_unsubscribe_address_opts_out_at_once_and_confirms(app):
    from bot.outbound.compose import Recipient, unsubscribe_token

    with Session(app.engine) as session:
        token = unsubscribe_token(app, session, app.settings.network("it-netvaerk"), Recipient(MEMBER[1], MEMBER[0]),
                                  app.clock.now())
        session.commit()
    inbound = row(app, deliver(app, plain("unsubscribe", to=f"it-netvaerk+{token}@lists.example.dk")))
    assert (inbound.outcome, inbound.reason) == ("handled", "opted out of it-netvaerk")
    with Session(app.engine) as session:
        assert MEMBER[1] not in [c.email for c in members(session, "it-netvaerk")]
        assert session.exec(select(AdminEvent)).one().kind == "role-holder-opted-out"  # he is the vice-chair
    assert [m.kind for m in outbox(app)] == ["unsubscribe-done"]


def test_afmeld_asks_for_confirmation_and_a_confirming_reply_opts_out(app):
    inbound = row(app, deliver(app, plain("afmeld", sender="mette.ostergaard@herning.example.dk")))
    assert inbound.outcome == "handled"
    [confirm] = outbox(app, "unsubscribe-confirm")
    token = confirm.raw.decode().split("Reply-To: it-netvaerk+")[1][:24]
    answer = plain("SV: Bekræft afmelding", sender="mette.ostergaard@herning.example.dk",
                   to=f"it-netvaerk+{token}@lists.example.dk", body="Ja tak\r\n")
    assert row(app, deliver(app, answer)).reason == "opted out of it-netvaerk"
    with Session(app.engine) as session:
        assert "mette.ostergaard@herning.example.dk" not in [c.email for c in members(session, "it-netvaerk")]


def test_a_reply_to_our_automatic_mail_is_not_answered_again(app):
    token = issue_token(app, "robot@tickets.example.com", "refusal")
    inbound = row(app, deliver(app, plain("Re: Vi forstod ikke dit svar", sender="robot@tickets.example.com",
                                          to=f"it-netvaerk+{token}@lists.example.dk", body="Ticket #1 created\r\n")))
    assert inbound.outcome == "ignored" and outbox(app) == []


def store_only(app, raw: bytes) -> None:
    """Stored like the receiver does, not yet processed: many of these are processed as one batch."""
    from bot.inbound.arrivals import store_inbound
    from bot.inbound.routing import route

    address = route("it-netvaerk@lists.example.dk", app.settings.networks)
    store_inbound(app.engine, raw, source="smtp", envelope_from="x@example.dk", envelope_to=[address.address],
                  deliveries=[address], now=app.clock.now())


def test_automatic_answers_to_one_person_are_capped_per_day_in_one_batch_and_across_aliases(app):
    from bot.actions.pipeline import process_pending

    for n in range(8):  # from the member's own address and from the alias, all in one batch
        store_only(app, plain("hjælp", sender=MEMBER[1], body=f"{n}\r\n"))
        store_only(app, plain("afmeld", sender="s.aero@aarhus.example.dk", body=f"{n}\r\n"))
    assert process_pending(app) == 16
    answered = [m for m in outbox(app) if m.recipient == MEMBER[1]]
    assert len(answered) == 10 and {m.kind for m in answered} == {"help", "unsubscribe-confirm"}
    stopped = [r for r in rows(app) if "not sent" in r.reason]
    assert len(stopped) == 6 and all(r.outcome == "handled" for r in stopped)


def test_an_address_the_bot_does_not_know_gets_one_answer_a_day(app):
    for n in range(5):
        deliver(app, plain("hjælp", sender="someone@gmail.example.com", body=f"{n}\r\n"))
    assert len(outbox(app, "help")) == 1
    app.clock.advance(days=1, minutes=1)
    deliver(app, plain("hjælp", sender="someone@gmail.example.com", body="next day\r\n"))
    assert len(outbox(app, "help")) == 2


def rows(app) -> list[InboundMessage]:
    with Session(app.engine) as session:
        return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))


def test_a_null_sender_is_never_answered_or_relayed(app):
    inbound = row(app, deliver(app, plain("hjælp"), envelope_from="<>"))
    assert (inbound.outcome, inbound.rule) == ("ignored", "null-sender") and outbox(app) == []


def test_a_subject_that_only_starts_with_an_auto_reply_word_is_a_post(app):
    inbound = row(app, deliver(app, plain("Fravær på netværksmødet 4. oktober")))
    assert (inbound.outcome, inbound.kind) == ("handled", "post")


def test_two_copies_of_one_answer_act_once_and_the_token_copy_is_the_one(app):
    from bot.actions.pipeline import process_pending
    from bot.inbound.arrivals import store_inbound
    from bot.inbound.routing import route

    token = issue_token(app, MEMBER[1], "invitation", meeting_id=add_meeting(app, "it-netvaerk", "2027-10-07"))
    raw = plain("SV: Invitation", to=f"it-netvaerk+{token}@lists.example.dk",
                extra="Cc: it-netvaerk@lists.example.dk\r\n", body="Tilmeld\r\n")
    addresses = ["it-netvaerk@lists.example.dk", f"it-netvaerk+{token}@lists.example.dk"]
    stored = store_inbound(app.engine, raw, source="smtp", envelope_from=MEMBER[1], envelope_to=addresses,
                           deliveries=[route(a, app.settings.networks) for a in addresses], now=app.clock.now())
    process_pending(app)
    plain_copy, token_copy = (row(app, s.id) for s in stored)
    assert plain_copy.outcome == "ignored" and f"another copy of #{token_copy.id}" in plain_copy.reason
    assert (token_copy.outcome, token_copy.kind) == ("handled", "answer:invitation")
    assert [m.kind for m in outbox(app)] == ["rsvp-ack"]  # one confirmation, not two


def two_copies_of_a_reply(app) -> tuple[bytes, list]:
    """A member's reply to an invitation the bot cannot read ("Hvornår"), sent to the `+token` address
    with the list itself in Cc: the same bytes reach the network twice, as the token copy and the plain
    one. Alone, the token copy gets a refusal and the plain one is relayed as a post."""
    from bot.inbound.routing import route

    token = issue_token(app, MEMBER[1], "invitation")
    raw = plain("SV: Invitation", to=f"it-netvaerk+{token}@lists.example.dk",
                extra="Cc: it-netvaerk@lists.example.dk\r\n", body="Hvornår er mødet?\r\n",
                message_id="<twice@aarhus.example.dk>")
    addresses = {"token": f"it-netvaerk+{token}@lists.example.dk", "plain": "it-netvaerk@lists.example.dk"}
    return raw, {name: route(address, app.settings.networks) for name, address in addresses.items()}


def store_copy(app, raw: bytes, address) -> int:
    from bot.inbound.arrivals import store_inbound

    [stored] = store_inbound(app.engine, raw, source="smtp", envelope_from=MEMBER[1], envelope_to=[address.address],
                             deliveries=[address], now=app.clock.now())
    return stored.id


def acted(app, ids: list[int]) -> list[str]:
    """Which copies acted: all but one must be set aside as duplicates."""
    return [name for name, inbound in ((n, row(app, i)) for n, i in ids) if inbound.rule != "duplicate"]


@pytest.mark.parametrize("first", ["token", "plain"])
def test_two_copies_arriving_in_separate_batches_act_once(app, first):
    from bot.actions.pipeline import process_pending

    raw, copies = two_copies_of_a_reply(app)
    second = "plain" if first == "token" else "token"
    ids = []
    for name in (first, second):  # each copy stored and processed in its own batch
        ids.append((name, store_copy(app, raw, copies[name])))
        process_pending(app)
    assert acted(app, ids) == [first]  # the copy that came first has acted: the later one must not act again
    with Session(app.engine) as session:
        everyone = len(members(session, "it-netvaerk"))
    kinds = [m.kind for m in outbox(app)]
    assert kinds == (["refusal"] if first == "token" else ["post"] * everyone)


def test_two_copies_stored_together_but_processed_in_separate_batches_act_once(app):
    from bot.actions.pipeline import process_pending

    raw, copies = two_copies_of_a_reply(app)
    ids = [(name, store_copy(app, raw, copies[name])) for name in ("plain", "token")]
    process_pending(app, limit=1)  # one row per batch, plain copy first: the token copy is the one
    assert acted(app, ids) == ["token"]
    assert [m.kind for m in outbox(app)] == ["refusal"]


def test_one_post_to_a_network_and_its_subgroup_is_relayed_in_each(app):
    raw = plain("Nyt om FMK", sender="lars.moeller@odense.example.dk", extra="Cc: it-teknik@lists.example.dk\r\n",
                message_id="<both@odense.example.dk>")  # Lars is a member of both
    first = row(app, deliver(app, raw, to="it-netvaerk@lists.example.dk"))
    second = row(app, deliver(app, raw, to="it-teknik@lists.example.dk"))  # a later batch
    assert (first.outcome, second.outcome) == ("handled", "handled"), second.reason
    with Session(app.engine) as session:
        expected = sorted([*(c.email for c in members(session, "it-netvaerk")),
                           *(c.email for c in members(session, "it-teknik"))])
    assert sorted(m.recipient for m in outbox(app, "post")) == expected


def test_the_same_post_through_a_backup_mx_is_relayed_once(app):
    first = plain("Nyt om FMK", message_id="<once@aarhus.example.dk>")
    again = b"Received: from backup-mx.example.dk\r\n" + first
    deliver(app, first)
    second = row(app, deliver(app, again))
    assert second.outcome == "ignored" and second.message_id_reused
    with Session(app.engine) as session:
        assert len(outbox(app, "post")) == len(members(session, "it-netvaerk"))


def test_the_worker_hands_the_write_lock_to_arrivals_between_messages(app):
    """While mail waits to be stored, a batch ends after the message at hand and the next waits."""
    from bot.actions.pipeline import process_pending
    from bot.inbound.arrivals import store_inbound
    from bot.inbound.routing import route

    class ArrivalsWaiting:
        def __init__(self):
            self.waits, self.asked = 0, 0

        def pending(self) -> bool:
            self.asked += 1
            return self.asked <= 2  # arrivals wait during the first two messages only

        def wait_idle(self, timeout: float) -> None:
            self.waits += 1

    address = route("it-netvaerk@lists.example.dk", app.settings.networks)
    for index in range(5):
        store_inbound(app.engine, corpus.load("command-help.eml").replace(b"Message-ID: <", f"Message-ID: <{index}".encode()),
                      source="smtp", envelope_from=MEMBER[1], envelope_to=[address.address], deliveries=[address],
                      now=app.clock.now())
    gate = ArrivalsWaiting()
    assert process_pending(app, gate=gate) == 5
    assert gate.waits == 3  # three batches: one message, one message, then the other three
    with Session(app.engine) as session:
        assert [r.outcome for r in session.exec(select(InboundMessage))] == ["handled"] * 5


def test_sub_addresses_of_one_stranger_share_their_one_answer_a_day(app):
    """Found in review: victim+1@, victim+2@ … each got an answer, so one mailbox could be flooded."""
    for n in range(20):
        deliver(app, plain("hjælp", sender=f"victim+{n}@mail.example.org", body=f"{n}\r\n"))
    assert len(outbox(app, "help")) == 1
