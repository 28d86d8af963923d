"""Who comes to a meeting: registered, apologies or tentative, as people answered (the latest answer wins).

An answer comes as a reply to a meeting mail ("Tilmeld", "Afbud", "Måske") or as a
calendar client's iTIP REPLY (PARTSTAT ACCEPTED, DECLINED, TENTATIVE); both end here.
"""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.rules.answers import APOLOGIES, REGISTER, TENTATIVE
from bot.store.models import Attendance

REGISTERED = "registered"
STATUS_BY_ANSWER = {REGISTER: REGISTERED, APOLOGIES: "apologies", TENTATIVE: "tentative"}
STATUS_BY_PARTSTAT = {"ACCEPTED": REGISTERED, "DECLINED": "apologies", "TENTATIVE": "tentative"}


def record_answer(session: Session, meeting_id: int, contact_id: int, status: str, now: datetime) -> Attendance:
    """Record (or change) one person's answer for one meeting."""
    row = session.exec(select(Attendance).where(Attendance.meeting_id == meeting_id,
                                                Attendance.contact_id == contact_id)).first()
    if row is None:
        row = Attendance(meeting_id=meeting_id, contact_id=contact_id, status=status, updated_at=now)
        session.add(row)
    row.status, row.updated_at = status, now
    session.flush()  # a later answer in the same batch finds this one
    return row
