"""Who comes to a meeting: registered, apologies or tentative, as people answered (the latest answer wins).

An answer comes as a reply to a meeting mail ("Tilmeld", "Afbud", "Måske") or as a
calendar client's iTIP REPLY (PARTSTAT ACCEPTED, DECLINED, TENTATIVE); both end here.
Who actually came is recorded apart from the answer (`attended`, from the minutes), so
registered can be set against attended afterwards.
"""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.rules.answers import APOLOGIES, REGISTER, TENTATIVE
from bot.store.models import Attendance

REGISTERED = "registered"
NO_ANSWER = "none"  # named in the minutes without having answered before the meeting
STATUS_BY_ANSWER = {REGISTER: REGISTERED, APOLOGIES: "apologies", TENTATIVE: "tentative"}
STATUS_BY_PARTSTAT = {"ACCEPTED": REGISTERED, "DECLINED": "apologies", "TENTATIVE": "tentative"}


def record_answer(session: Session, meeting_id: int, contact_id: int, status: str, now: datetime) -> Attendance:
    """Record (or change) one person's answer for one meeting."""
    row = _row(session, meeting_id, contact_id)
    if row is None:
        row = Attendance(meeting_id=meeting_id, contact_id=contact_id, status=status, updated_at=now)
        session.add(row)
    row.status, row.updated_at = status, now
    session.flush()  # a later answer in the same batch finds this one
    return row


def record_presence(session: Session, meeting_id: int, contact_id: int, attended: bool, now: datetime) -> Attendance:
    """Record whether someone came (from the minutes), keeping what they answered before the meeting.

    Overwriting the answer would make "registered" mean "attended" once the minutes are in, and the
    attendance report could no longer say "28 registered, 20 attended". Someone the minutes list under
    Afbud without an answer of ours sent their apologies another way, so they count as apologies."""
    row = _row(session, meeting_id, contact_id)
    if row is None:
        status = NO_ANSWER if attended else STATUS_BY_ANSWER[APOLOGIES]
        row = Attendance(meeting_id=meeting_id, contact_id=contact_id, status=status, updated_at=now)
        session.add(row)
    row.attended, row.updated_at = attended, now
    session.flush()
    return row


def _row(session: Session, meeting_id: int, contact_id: int) -> Attendance | None:
    return session.exec(select(Attendance).where(Attendance.meeting_id == meeting_id,
                                                 Attendance.contact_id == contact_id)).first()
