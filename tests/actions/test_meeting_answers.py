"""Answers that move a meeting forward: RSVPs by mail and calendar, and the draft's Godkend/Afvent."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.meetings.cycle import tick
from bot.store.models import Attendance, Meeting
from tests.support.inbound import add_meeting, deliver, issue_token, outbox, row

SOREN = "soren.aero@aarhus.example.dk"  # a member, and the vice-chair
METTE = "mette.ostergaard@herning.example.dk"  # a member


def answer(app, token: str, sender: str, word: str) -> str:
    raw = (f"From: {sender}\r\nTo: it-netvaerk+{token}@lists.example.dk\r\nSubject: SV: Møde\r\n"
           f"Message-ID: <{token}-{word}@x>\r\n\r\n{word}\r\n\r\nMed venlig hilsen\r\n").encode()
    return row(app, deliver(app, raw)).reason


def test_the_latest_answer_wins_and_each_is_confirmed(app):
    meeting = add_meeting(app, "it-netvaerk", "2027-10-07")
    token = issue_token(app, METTE, "invitation", meeting_id=meeting)
    assert answer(app, token, METTE, "Tilmeld").startswith("registered for")
    assert answer(app, token, METTE, "Afbud").startswith("apologies for")
    with Session(app.engine) as session:
        [attendance] = session.exec(select(Attendance).where(Attendance.meeting_id == meeting)).all()
    assert attendance.status == "apologies"
    assert [m.kind for m in outbox(app)] == ["rsvp-ack", "rsvp-ack"]


def test_an_answer_to_a_meeting_that_is_over_records_nothing(app):
    meeting = add_meeting(app, "it-netvaerk", "2026-12-01")  # before the test clock's 4 January 2027
    reason = answer(app, issue_token(app, METTE, "invitation", meeting_id=meeting), METTE, "Tilmeld")
    assert "nothing recorded" in reason
    with Session(app.engine) as session:
        assert session.exec(select(Attendance)).all() == []


def test_only_the_chair_or_vice_chair_answer_the_draft(app):
    meeting = add_meeting(app, "it-netvaerk", "2027-10-07")
    reason = answer(app, issue_token(app, METTE, "draft", meeting_id=meeting), METTE, "Godkend")
    assert reason == "only the chair and vice-chair answer the draft agenda"
    reason = answer(app, issue_token(app, SOREN, "draft", meeting_id=meeting), SOREN, "Afvent")
    assert reason == "draft agenda for it-netvaerk/2027-10-07: hold"
    with Session(app.engine) as session:
        assert session.get(Meeting, meeting).agenda_answer == "hold"


def test_afvent_keeps_the_agenda_back_until_godkend(app):
    with Session(app.engine) as session:
        meeting = session.exec(select(Meeting).where(Meeting.series_id == "it-netvaerk/2027-04-08")).one()
    app.clock.set(meeting.starts_at - timedelta(days=10))
    tick(app)
    token = issue_token(app, SOREN, "draft", meeting_id=meeting.id)
    answer(app, token, SOREN, "Afvent")
    app.clock.set(meeting.starts_at - timedelta(days=7))
    tick(app)
    assert agendas(app, meeting) == []
    answer(app, token, SOREN, "Godkend")
    tick(app)
    assert len(agendas(app, meeting)) == 13


def agendas(app, meeting: Meeting) -> list:
    return [m for m in outbox(app, "agenda") if meeting.series_id in m.dedupe_key]
