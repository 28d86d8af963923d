"""The minutes: stored, who attended read from them, and who they go to.

The secretary answers the minutes request with the minutes as text, as a .docx or
.pdf, or both. They are stored once per meeting, and go to every member and to the
KKR consultants of the regions the network covers, and to nobody else, with the
original files attached. Lines `Deltagere: …` and `Afbud: …` in the minutes say who
attended: names (or addresses) are matched to the network's contacts.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, select

from bot.config.networks import NetworkConfig
from bot.meetings.attendance import record_presence
from bot.outbound.templates import person_name
from bot.people.recipients import members, role_holders
from bot.store.models import Appendix, Attendance, Contact, Meeting, Minutes

PRESENT = re.compile(r"^\s*(deltagere|til stede|participants|present)\s*:\s*(.+)$", re.I | re.M)
ABSENT = re.compile(r"^\s*(afbud|apologies|absent)\s*:\s*(.+)$", re.I | re.M)


def store_minutes(session: Session, meeting: Meeting, text: str, inbound_id: int, files, now: datetime) -> Minutes:
    """Record the minutes and their files. A later reply is a corrected version: it replaces the text and
    the files, so the minutes sent again carry the new files only, not the old ones beside them (the copies
    already queued carry their own attachments)."""
    minutes = session.exec(select(Minutes).where(Minutes.meeting_id == meeting.id)).first()
    if minutes is None:
        minutes = Minutes(meeting_id=meeting.id, received_at=now)
        session.add(minutes)
    else:
        for old in session.exec(select(Appendix).where(Appendix.minutes_id == minutes.id)):
            session.delete(old)
    minutes.text, minutes.inbound_id, minutes.received_at = text, inbound_id, now
    session.flush()
    for file in files:
        if file.data is not None:
            session.add(Appendix(minutes_id=minutes.id, filename=file.filename, content_type=file.content_type,
                                 size=file.size, data=file.data))
    session.flush()  # the pipeline's session does not autoflush: the files must be there when they are sent
    return minutes


def record_attendance(session: Session, network: NetworkConfig, meeting: Meeting, text: str, now: datetime) -> int:
    """Mark who attended (Deltagere:) and who did not (Afbud:); return how many people were matched.

    What people answered before the meeting stays as it was: registered is set against attended."""
    people = {c.name.lower(): c for c in members(session, network.slug)}
    people |= {c.email: c for c in people.values()}
    matched = 0
    for pattern, attended in ((PRESENT, True), (ABSENT, False)):
        for line in pattern.finditer(text):
            for name in re.split(r"[,;]| og | and ", line.group(2)):
                contact = people.get(name.strip().rstrip(".").lower())
                if contact is None:
                    continue
                record_presence(session, meeting.id, contact.id, attended, now)
                matched += 1
    return matched


def readers(session: Session, network: NetworkConfig) -> tuple[list[Contact], list[Contact]]:
    """The members, and the KKR consultants of the network's regions (by their region's membership)."""
    consultants = role_holders(session, network.slug, "kkr-consultant")
    member_ids = {c.id for c in consultants}
    return [c for c in members(session, network.slug) if c.id not in member_ids], consultants


def attendance_lists(session: Session, meeting: Meeting, lang: str = "da") -> dict[str, list[str]]:
    rows = session.exec(select(Attendance, Contact).join(Contact).where(Attendance.meeting_id == meeting.id)
                        .order_by(Contact.name)).all()
    present = [person_name(c.name, lang) for a, c in rows
               if a.attended or (a.attended is None and a.status == "registered")]
    absent = [person_name(c.name, lang) for a, c in rows
              if a.attended is False or (a.attended is None and a.status == "apologies")]
    return {"registered": present, "apologies": absent}


def minutes_files(session: Session, minutes: Minutes) -> list[Appendix]:
    return list(session.exec(select(Appendix).where(Appendix.minutes_id == minutes.id).order_by(Appendix.id)))
