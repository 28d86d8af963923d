"""The meeting cycle on a controlled clock: each step once, to the right people, at the right time.

The demo network's meeting of 15 April 2027 (moved there from 8 April, 10.00-13.00
Copenhagen time): members, the chair and vice-chair, and the secretary get what
SPEC.md says, when it says; ticks repeat, the bot is down across deadlines, config
moves and cancels meetings, and two processes tick at once.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy

import pytest
from sqlmodel import Session, select

from bot.app import App
from bot.config.settings import load_settings
from bot.meetings.cycle import tick
from bot.people.recipients import members
from bot.startup import prepare_database
from bot.store.db import session_scope
from bot.store.models import Attendance, Contact, CycleStep, Meeting, OutboxMessage
from tests.support.config import make_config, shipped_networks

SERIES = "it-netvaerk/2027-04-08"
START = datetime(2027, 4, 15, 8, 0, tzinfo=timezone.utc)  # 10.00 in Copenhagen (summer time)
END = START + timedelta(hours=3)
CHAIR, VICE_CHAIR = "birgitte.holm@kl.example.dk", "soren.aero@aarhus.example.dk"
SECRETARY = "anne.hansen@kl.example.dk"


def meeting_id(app) -> int:
    with Session(app.engine) as session:
        return session.exec(select(Meeting.id).where(Meeting.series_id == SERIES)).one()


def mails(app, kind: str | None = None) -> list[OutboxMessage]:
    """This meeting's mail in the outbox (the other demo meetings tick too)."""
    with Session(app.engine) as session:
        query = select(OutboxMessage).where(OutboxMessage.dedupe_key.contains(SERIES))
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.exec(query.order_by(OutboxMessage.id)))


def steps(app) -> dict[str, CycleStep]:
    with Session(app.engine) as session:
        return {s.step: s for s in session.exec(select(CycleStep).where(CycleStep.meeting_id == meeting_id(app)))}


def member_addresses(app) -> list[str]:
    with Session(app.engine) as session:
        return sorted(c.email for c in members(session, "it-netvaerk"))


def calendar(mail: OutboxMessage) -> str:
    """The iCalendar text of a meeting mail (its text/calendar part)."""
    message = message_from_bytes(mail.raw, policy=policy.default)
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part.get_content()


def at(app, moment: datetime) -> None:
    app.clock.set(moment)
    tick(app)


def test_every_step_goes_once_to_the_right_people_at_its_time(app):
    at(app, START - timedelta(days=61))
    assert mails(app) == []  # not yet: the invitation goes 60 days before
    at(app, START - timedelta(days=60))
    invitations = mails(app, "invitation")
    assert sorted(m.recipient for m in invitations) == member_addresses(app) and len(invitations) == 13
    at(app, START - timedelta(days=60, minutes=-1))  # the next tick: nothing again
    assert len(mails(app)) == 13
    for days, kind in ((21, "call"), (10, "draft"), (7, "agenda"), (1, "reminder")):
        at(app, START - timedelta(days=days))
        expected = sorted([CHAIR, VICE_CHAIR]) if kind == "draft" else member_addresses(app)
        assert sorted(m.recipient for m in mails(app, kind)) == expected, kind
    at(app, END)
    assert [m.recipient for m in mails(app, "minutes-request")] == [SECRETARY]
    at(app, END + timedelta(days=7))
    at(app, END + timedelta(days=14))
    assert [m.recipient for m in mails(app, "minutes-reminder")] == [SECRETARY, SECRETARY]
    kinds = sorted({m.kind for m in mails(app)})
    assert kinds == ["agenda", "call", "draft", "invitation", "minutes-reminder", "minutes-request", "reminder"]


def test_the_steps_come_in_order_even_when_ticks_come_late(app):
    """Ticks at odd moments: each step goes at the first tick after its moment, and only once."""
    moment = START - timedelta(days=60, hours=-5)
    while moment < END + timedelta(days=1):
        at(app, moment)
        moment += timedelta(hours=17)
    counts = {kind: len(mails(app, kind)) for kind in ("invitation", "call", "draft", "agenda", "reminder")}
    assert counts == {"invitation": 13, "call": 13, "draft": 2, "agenda": 13, "reminder": 13}
    assert len(mails(app, "minutes-request")) == 1


def test_a_bot_down_across_deadlines_skips_what_would_confuse_and_says_so(app):
    at(app, START - timedelta(days=60))
    at(app, START - timedelta(days=5))  # down from the invitation until after the agenda's moment
    assert mails(app, "call") == [] and mails(app, "draft") == []
    assert len(mails(app, "agenda")) == 13  # the agenda still goes: the meeting is five days away
    done = steps(app)
    assert (done["call"].state, done["call"].reason) == ("skipped", "the agenda was due")
    assert done["draft"].state == "skipped" and done["agenda"].state == "sent"


def test_no_call_for_items_once_their_deadline_has_passed(app):
    """Found by `kkrbot demo` started on 30 November at 13.00: the call for the meeting of 10 December
    asked for items "inden mandag den 30. november 2026 kl. 10.00", three hours gone."""
    at(app, START - timedelta(days=10, hours=-3))
    assert mails(app, "call") == [] and len(mails(app, "draft")) == 2
    done = steps(app)
    assert (done["call"].state, done["call"].reason) == ("skipped", "the deadline for items had passed")


def test_a_call_a_day_late_still_goes_while_items_can_come(app):
    at(app, START - timedelta(days=20))
    assert len(mails(app, "call")) == 13


def test_a_bot_started_weeks_after_a_meeting_asks_for_its_minutes_once_then_reminds_a_week_later(app):
    """Found by `kkrbot demo --year 2027`: its first tick, three weeks after December's meeting,
    sent the minutes request and a reminder of it in the same minute."""
    at(app, END + timedelta(days=22))
    assert [m.recipient for m in mails(app, "minutes-request")] == [SECRETARY]
    assert mails(app, "minutes-reminder") == []
    at(app, END + timedelta(days=28))
    assert mails(app, "minutes-reminder") == []
    at(app, END + timedelta(days=29))
    assert [m.recipient for m in mails(app, "minutes-reminder")] == [SECRETARY]


def test_a_moved_meeting_gets_an_update_and_a_cancelled_one_a_cancellation(app):
    at(app, START - timedelta(days=60))
    with session_scope(app.engine) as session:
        meeting = session.get(Meeting, meeting_id(app))
        meeting.starts_at, meeting.ends_at = START + timedelta(hours=2), END + timedelta(hours=2)
        meeting.sequence += 1
    at(app, START - timedelta(days=59))
    updates = mails(app, "meeting-update")
    assert len(updates) == 13 and all("SEQUENCE:1" in calendar(m) for m in updates)
    with session_scope(app.engine) as session:
        meeting = session.get(Meeting, meeting_id(app))
        meeting.status, meeting.sequence = "cancelled", meeting.sequence + 1
    at(app, START - timedelta(days=30))
    cancels = mails(app, "cancel")
    assert len(cancels) == 13 and all("METHOD:CANCEL" in calendar(m) for m in cancels)
    at(app, START - timedelta(days=7))
    assert mails(app, "call") == [] and mails(app, "agenda") == []  # nothing more for a cancelled meeting


@pytest.fixture
def approval_required(tmp_path, clock):
    networks = shipped_networks().replace('secretary = "anne.hansen@kl.example.dk"\n',
                                          'secretary = "anne.hansen@kl.example.dk"\nagenda_approval = "required"\n', 1)
    bot = App.create(load_settings(make_config(tmp_path, networks_toml=networks), environ={}), clock,
                     create_secret=True)
    prepare_database(bot)
    yield bot
    bot.engine.dispose()


def test_required_approval_holds_the_agenda_and_reminds_the_chair_daily(approval_required):
    app = approval_required
    assert app.settings.network("it-netvaerk").agenda_approval == "required"
    at(app, START - timedelta(days=10))
    at(app, START - timedelta(days=7))
    assert mails(app, "agenda") == []
    assert [m.recipient for m in mails(app, "draft-reminder")] == [CHAIR]
    at(app, START - timedelta(days=6))
    assert [m.recipient for m in mails(app, "draft-reminder")] == [CHAIR, CHAIR]  # one more, a day later
    with session_scope(app.engine) as session:
        session.get(Meeting, meeting_id(app)).agenda_answer = "approve"
    at(app, START - timedelta(days=6, minutes=-1))
    assert len(mails(app, "agenda")) == 13


def test_a_held_agenda_waits_under_silent_consent(app):
    at(app, START - timedelta(days=10))
    with session_scope(app.engine) as session:
        session.get(Meeting, meeting_id(app)).agenda_answer = "hold"
    at(app, START - timedelta(days=7))
    assert mails(app, "agenda") == []
    with session_scope(app.engine) as session:
        session.get(Meeting, meeting_id(app)).agenda_answer = "approve"
    at(app, START - timedelta(days=6))
    assert len(mails(app, "agenda")) == 13


def test_two_processes_ticking_at_once_send_each_step_once(app):
    app.clock.set(START - timedelta(days=7))
    threads = [threading.Thread(target=tick, args=(app,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(mails(app, "agenda")) == 13 and len(mails(app, "invitation")) == 13


def test_a_meeting_with_no_items_still_gets_its_agenda_saying_so(app):
    at(app, START - timedelta(days=60))
    at(app, START - timedelta(days=7))
    agenda = mails(app, "agenda")
    assert len(agenda) == 13
    body = message_from_bytes(agenda[0].raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "Der er ikke stillet forslag til punkter på dagsordenen." in body
    assert "1. Meddelelser" in body and "2. Eventuelt" in body and "Bilagene" not in body
    assert "SEQUENCE:0" in calendar(agenda[0]) and "METHOD:REQUEST" in calendar(agenda[0])



def test_the_day_before_reminder_lists_the_answers_by_region(app):
    answers = {"soren.aero@aarhus.example.dk": "registered", "mette.ostergaard@herning.example.dk": "registered",
               "lars.moeller@odense.example.dk": "registered", "aase.brondum@vejle.example.dk": "apologies",
               "birgitte.holm@kl.example.dk": "tentative"}
    with session_scope(app.engine) as session:
        for address, status in answers.items():
            contact = session.exec(select(Contact).where(Contact.email == address)).one()
            session.add(Attendance(meeting_id=meeting_id(app), contact_id=contact.id, status=status,
                                   updated_at=app.clock.now()))
    at(app, START - timedelta(days=60))
    at(app, START - timedelta(days=1))
    [reminder, *_] = mails(app, "reminder")
    body = message_from_bytes(reminder.raw, policy=policy.default).get_body(("plain",)).get_content()
    body = body.replace("\r\n", "\n")
    assert "Tilmeldt (3):\n- Midtjylland: Mette Østergaard, Søren Ærø\n- Syddanmark: Lars Møller\n" in body
    assert "Afbud (1):\n- Syddanmark: Åse Brøndum\n" in body and "Måske (1):\n- KL: Birgitte Holm\n" in body
