"""The hostile-sender campaign: spoofed actions, a day of flooding, and generated mail.

spoof_attempts / spoof_succeeded  every action a reply can take today (opt out by the
        List-Unsubscribe address, confirm an opt-out, answer an invitation or a draft, accept
        a meeting in the calendar, post to the list, approve a held post), tried with a forged From, another
        member's token, a token of another network, of another meeting, a token seen in a
        relayed post, a genuine token whose mail failed DMARC, and forged posts whose trusted
        verdict is faked (an RFC 2047 encoded header, a pass beside the server's own none).
        Success is the action happening: an opt-out, a relayed post, an answer recorded, or a held
        post decided.
flood_answers_max  one day of hostile mail (help and afmeld under a member's forged From and
        alias, and strangers' sub-addresses): the most automatic mails any one mailbox got
        (sub-addresses counted as their mailbox). One SMTP transaction to 100 tagged
        addresses is tested through the real receiver in tests/test_hostile_senders.py.
fuzz_cases / fuzz_unhandled  generated mail (tests/support/fuzz.py) through parse and
        classify; an exception is unhandled.
"""
from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from sqlalchemy import func
from sqlmodel import Session, select

from bot.app import App
from bot.config.settings import load_settings
from bot.core.clock import FixedClock
from bot.startup import prepare_database
from bot.store.models import Attendance, HeldPost, InboundMessage, IssuedToken, Meeting, Membership, OutboxMessage
from tests.support import corpus
from tests.support.config import make_config
from tests.support.fuzz import mails, read_all
from tests.support.inbound import add_meeting, deliver, issue_token

TRUSTED = "mx.example.dk"
SOREN = ("Søren Ærø", "soren.aero@aarhus.example.dk")
METTE = ("Mette Østergaard", "mette.ostergaard@herning.example.dk")
ATTACKER = ("Søren Ærø", "soren.aero@evil.example.org")
SECRETARY = ("Anne Hansen", "anne.hansen@kl.example.dk")
PASS = f"Authentication-Results: {TRUSTED}; dmarc=pass header.from=aarhus.example.dk\r\n".encode()
FAIL = f"Authentication-Results: {TRUSTED}; dmarc=fail header.from=aarhus.example.dk\r\n".encode()


def fresh_app() -> App:
    root = Path(tempfile.mkdtemp(prefix="kkrbot-proof-security-"))
    app = App.create(load_settings(make_config(root, bot_toml={"authserv_id": f'"{TRUSTED}"'}), environ={}),
                     FixedClock(), create_secret=True)
    prepare_database(app)
    return app


def _effects(app) -> tuple:
    """Opt-outs, relayed copies, answers recorded for a meeting, approvals, and answers taken as their
    owner's that wait for a handler to come."""
    with Session(app.engine) as session:
        opted = session.exec(select(func.count()).select_from(Membership).where(Membership.opted_out == True)).one()  # noqa: E712
        posts = session.exec(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "post")).one()
        attendance = session.exec(select(Attendance.contact_id, Attendance.status, Attendance.updated_at)).all()
        approvals = session.exec(select(Meeting.agenda_answer, Meeting.agenda_answered_at)).all()
        taken = session.exec(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.reason.like("no handler yet%"), InboundMessage.kind.like("answer:%"))).one()
        decided = session.exec(select(func.count()).select_from(HeldPost).where(HeldPost.status != "held")).one()
    return opted, posts, sorted(attendance), sorted(approvals, key=str), taken, decided


def _attempt(app, raw: bytes) -> bool:
    """Deliver one hostile mail; True when it made something happen."""
    before = _effects(app)
    deliver(app, raw)
    return _effects(app) != before


def _reply(token: str, sender, body: str, network: str = "it-netvaerk", verdict: bytes = b"") -> bytes:
    text = (f"From: {sender[0]} <{sender[1]}>\r\nTo: {network}+{token}@lists.example.dk\r\n"
            f"Subject: SV: mail fra netværket\r\nMessage-ID: <{token}-{sender[1]}-{body}@x>\r\n\r\n{body}\r\n")
    return verdict + text.encode()


def spoofing() -> dict[str, int]:
    app = fresh_app()
    # The calendar replies in the corpus accept the meeting of 7 October 2027; 2 September is another one.
    other_meeting, meeting = add_meeting(app, "it-netvaerk", "2027-09-02"), add_meeting(app, "it-netvaerk", "2027-10-07")
    attempts = []
    for kind, body in (("list-unsubscribe", "unsubscribe"), ("unsubscribe-confirm", "Ja"),
                       ("invitation", "Tilmeld"), ("draft", "Godkend"), ("agenda", "Afbud")):
        about = meeting if kind in ("invitation", "draft", "agenda") else None  # Søren is the vice-chair
        token = issue_token(app, SOREN[1], kind, meeting_id=about)
        attempts += [_reply(token, ATTACKER, body),  # a forged From, near the real one
                     _reply(token, METTE, body),  # another member's token
                     _reply(issue_token(app, SOREN[1], kind, network="kontaktudvalg", meeting_id=about),
                            SOREN, body),  # a token of another network
                     _reply(token, SOREN, body, verdict=FAIL)]  # the right From, but the trusted server says forged
    relayed = issue_token(app, SOREN[1], "invitation", ref="relayed", meeting_id=meeting)  # as in a relayed References
    attempts.append(f"From: {METTE[1]}\r\nTo: it-netvaerk@lists.example.dk\r\nIn-Reply-To: <{relayed}.abc@lists."
                    f"example.dk>\r\nSubject: SV: invitation\r\nMessage-ID: <relayed@x>\r\n\r\nTilmeld\r\n".encode())
    encoded = b"Authentication-Results: =?us-ascii?q?mx.example.dk=3B_dmarc=3Dpass?=\r\n"
    beside_none = PASS + f"Authentication-Results: {TRUSTED}; dmarc=none header.from=aarhus.example.dk\r\n".encode()
    for verdict, sender in ((b"", ATTACKER), (FAIL, SOREN), (b"", SOREN), (encoded, SOREN), (beside_none, SOREN)):
        attempts.append(verdict + corpus.sent_by(corpus.load("post-utf8.eml"), sender))  # forged posts
    calendar = issue_token(app, SOREN[1], "invitation", meeting_id=other_meeting)
    attempts.append(corpus.load("itip-outlook-accept.eml", calendar, SOREN))  # a token of another meeting
    attempts.append(corpus.load("itip-outlook-accept.eml", issue_token(app, SOREN[1], "invitation",
                                                                        meeting_id=meeting), METTE))
    moderation = _held_post_token(app)
    attempts += [_reply(moderation, ("Anne Hansen", "anne.hansen@evil.example.org"), "Godkend"),  # forged From
                 _reply(moderation, SOREN, "Godkend"),  # the request's token, from another member
                 _reply(issue_token(app, SECRETARY[1], "moderation-request", network="kontaktudvalg"), SECRETARY,
                        "Godkend", network="kontaktudvalg"),  # a token of another network
                 _reply(moderation, SECRETARY, "Godkend", verdict=FAIL),  # the secretary's From, said to be forged
                 f"From: {SECRETARY[1]}\r\nTo: it-netvaerk@lists.example.dk\r\nSubject: SV: Til godkendelse\r\n"
                 f"Message-ID: <no-token@x>\r\n\r\nGodkend\r\n".encode()]  # her From, no token at all
    succeeded = sum(_attempt(app, raw) for raw in attempts)
    genuine = _attempt(app, PASS + _reply(issue_token(app, SOREN[1], "invitation", ref="genuine", meeting_id=meeting),
                                          SOREN, "Tilmeld"))
    genuine = _attempt(app, PASS + _reply(moderation, SECRETARY, "Godkend, tak")) and genuine
    app.engine.dispose()
    if not genuine:
        raise SystemExit("security proof: the genuine answer did not act, so the attempts prove nothing")
    return {"spoof_attempts": len(attempts), "spoof_succeeded": succeeded}


def _held_post_token(app) -> str:
    """A stranger's post is held; the token of the moderation request the secretary got for it."""
    deliver(app, PASS + corpus.sent_by(corpus.load("post-utf8.eml"), ("Peter Holm", "peter.holm@example.com")))
    with Session(app.engine) as session:
        return session.exec(select(IssuedToken.token).where(IssuedToken.kind == "moderation-request",
                                                            IssuedToken.address == SECRETARY[1])).one()


def flooding(count: int = 300) -> dict[str, int]:
    app = fresh_app()
    for n in range(count):
        for sender in (SOREN, ("Søren Ærø", "s.aero@aarhus.example.dk"), ("X", f"stranger{n % 7}+{n}@gmail.example.com")):
            subject = ("hjælp", "afmeld")[n % 2]
            deliver(app, f"From: {sender[1]}\r\nTo: it-netvaerk@lists.example.dk\r\nSubject: {subject}\r\n"
                         f"Message-ID: <flood-{n}-{sender[1]}@x>\r\n\r\n{n}\r\n".encode())
    # The mail above all arrived at one moment of one day (the app's clock): the daily limits apply.
    with Session(app.engine) as session:
        recipients = session.exec(select(OutboxMessage.recipient).where(OutboxMessage.dedupe_key.like("reply:%"))).all()
    app.engine.dispose()
    per_mailbox = Counter(_mailbox(address) for address in recipients)
    return {"flood_mails": count * 3, "flood_answers_max": max(per_mailbox.values(), default=0)}


def _mailbox(address: str) -> str:
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def fuzzing(cases: int = 5000) -> dict[str, int]:
    settings = load_settings(make_config(Path(tempfile.mkdtemp(prefix="kkrbot-proof-fuzz-"))), environ={})
    seen, unhandled = [0], []

    @hypothesis_settings(max_examples=cases, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
    @given(raw=mails())
    def one(raw: bytes) -> None:
        seen[0] += 1
        try:
            read_all(raw, settings)
        except Exception as error:  # noqa: BLE001 - counted, and the first few shown
            unhandled.append(f"{type(error).__name__}: {error}"[:200])
    one()
    for line in unhandled[:5]:
        print(f"fuzz unhandled: {line}", flush=True)
    return {"fuzz_cases": seen[0], "fuzz_unhandled": len(unhandled)}


def campaign(fuzz_cases: int = 5000, flood: int = 300) -> dict[str, int]:
    return {**spoofing(), **flooding(flood), **fuzzing(fuzz_cases)}
