"""The demo network's year with the real `kkrbot run` SIGKILLed at random moments and started again:
still every mail once, to the right people, and the same records as a year nobody interrupted.

The bot runs as a subprocess on a file clock (KKRBOT_CLOCK_FILE, bot/core/clock.py) that the test
moves from moment to moment; it reads the list mailbox in Dovecot and sends to aiosmtpd. It is
killed either a fraction of a second after the clock moved or milliseconds after its first mail of
that moment arrived, i.e. while it queues, takes in or sends. The judge is what the sink received
and what the database holds, against the same months run without a kill (tests/support/year.py).

The one exception the README's delivery guarantees allow: a crash after the SMTP server's 250 and
before the result was committed sends that batch again on restart. A second copy is accepted only
at a moment the bot was killed, and at most one batch of them per kill.

`make test` runs four months with four kills; `make proof` the whole year with twelve
(KKRBOT_KILLED_YEAR=full).
"""
from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlmodel import Session, select

from bot.demo.year import Period, calendar_year
from bot.store.models import AgendaItem, Attendance, Contact, InboundMessage, Meeting, Minutes, OutboxMessage
from tests.support.year import SEED, imap_year, killed_year, meeting_of, three_region_config

FULL = os.environ.get("KKRBOT_KILLED_YEAR") == "full"
KILLS = 12 if FULL else 4
BATCH = 200  # [outbox] batch_size in the shipped bot.toml


def period() -> Period:
    year = calendar_year(2027, "Europe/Copenhagen")
    return year if FULL else Period(year.start, datetime(2027, 5, 1, tzinfo=timezone.utc))


@pytest.fixture(scope="module")
def runs(dovecot, tmp_path_factory):
    """(the months without a kill, the months killed, the kills, the second copies)."""
    networks, contacts = three_region_config()
    dovecot.empty_mailbox()
    calm = imap_year(tmp_path_factory.mktemp("calm"), dovecot, period(), networks, contacts)
    dovecot.empty_mailbox()
    killed, kills, again = killed_year(tmp_path_factory.mktemp("killed"), dovecot, period(), KILLS, SEED,
                                       networks, contacts)
    yield calm, killed, kills, again
    calm.app.engine.dispose()
    killed.app.engine.dispose()


def seen(run) -> Counter:
    """Every mail as its recipient sees it: when, what, about which meeting, to whom, the subject."""
    return Counter((d.at, d.kind, meeting_of(d), d.recipient, " ".join(str(d.message["Subject"]).split()))
                   for d in run.year.delivered)


def test_the_bot_was_killed_and_restarted_as_planned(runs):
    _, _, kills, _ = runs
    assert len(kills.moments) == KILLS


def test_every_mail_arrives_once_exactly_as_in_the_year_nobody_interrupted(runs):
    calm, killed, _, _ = runs
    assert sum(seen(calm).values()) > 50
    assert set(seen(killed).values()) == {1}
    assert seen(killed) == seen(calm)


def test_a_mail_sent_twice_is_only_the_batch_on_the_wire_when_the_bot_was_killed(runs):
    _, killed, kills, again = runs
    first = {(str(d.message["Message-ID"]), d.recipient): d for d in killed.year.delivered}
    for copy in again:
        original = first[(str(copy.message["Message-ID"]), copy.recipient)]
        assert original.at == copy.at and copy.at in kills.moments, (copy.kind, copy.recipient, copy.at)
    per_kill = Counter(copy.at for copy in again)
    assert all(n <= BATCH for n in per_kill.values()), per_kill


def test_the_records_are_those_of_the_year_nobody_interrupted(runs):
    calm, killed, _, _ = runs
    assert records(killed) == records(calm)
    with Session(killed.app.engine) as session:
        assert set(session.exec(select(InboundMessage.outcome))) == {"handled"}
        assert set(session.exec(select(InboundMessage.imap_folder))) == {"kkrbot.processed"}
        assert set(session.exec(select(OutboxMessage.status))) == {"sent"}


def records(run) -> dict:
    """What the secretary and the chair find: items, answers and attendance per meeting, approvals, minutes."""
    with Session(run.app.engine) as session:
        day = {m.id: m.original_date.isoformat() for m in session.exec(select(Meeting))}
        return {
            "items": sorted((day[i.meeting_id], i.title, i.status, i.position)
                            for i in session.exec(select(AgendaItem))),
            "attendance": sorted((day[a.meeting_id], c.email, a.status, a.attended)
                                 for a, c in session.exec(select(Attendance, Contact).join(Contact))),
            "approvals": sorted((day[m.id], m.agenda_answer) for m in session.exec(select(Meeting))),
            "minutes": sorted(day[m.meeting_id] for m in session.exec(select(Minutes))),
            "outbox": Counter(session.exec(select(OutboxMessage.kind))),
        }
