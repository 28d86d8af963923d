"""The attendance report: per meeting and per municipality, who registered, said maybe, sent apologies, attended.

Read-only. The seed's notes count a meeting as "28 påmeldte, 20 deltok": the answers people gave
before the meeting (by mail or calendar) set against the minutes' Deltagere line. A municipality is
the contact's `municipality`, else their organisation (KL and MedCom have no municipality).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.store.models import Attendance, Contact, Meeting, Network

ANSWERS = ("registered", "tentative", "apologies")


@dataclass(frozen=True)
class Counts:
    """How many answered each way, and how many came (None: no minutes have said who came)."""

    registered: int = 0
    tentative: int = 0
    apologies: int = 0
    attended: int | None = None


@dataclass(frozen=True)
class MeetingAttendance:
    network: str
    series_id: str
    starts_at: datetime
    by_municipality: tuple[tuple[str, Counts], ...]  # only municipalities with an answer or a minutes line
    total: Counts


def known_network(session: Session, slug: str) -> bool:
    """A network the database knows, also one no longer in networks.toml (its past meetings count)."""
    return session.exec(select(Network.id).where(Network.slug == slug)).first() is not None


def attendance_report(session: Session, year: int, zone: ZoneInfo, network: str | None = None
                      ) -> list[MeetingAttendance]:
    """Every meeting of `year` (local time in `zone`) that was not cancelled, oldest first."""
    start = datetime(year, 1, 1, tzinfo=zone).astimezone(timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(timezone.utc)
    query = (select(Meeting, Network.slug).join(Network)
             .where(Meeting.starts_at >= start, Meeting.starts_at < end, Meeting.status != "cancelled")
             .order_by(Meeting.starts_at, Network.slug))
    if network:
        query = query.where(Network.slug == network)
    return [_meeting(session, meeting, slug) for meeting, slug in session.exec(query)]


def _meeting(session: Session, meeting: Meeting, slug: str) -> MeetingAttendance:
    rows = session.exec(select(Attendance, Contact).join(Contact).where(Attendance.meeting_id == meeting.id)).all()
    minuted = any(attendance.attended is not None for attendance, _ in rows)
    groups: dict[str, list[Attendance]] = defaultdict(list)
    for attendance, contact in rows:
        groups[contact.municipality or contact.organisation].append(attendance)
    by_municipality = tuple((name, _count(groups[name], minuted)) for name in sorted(groups, key=str.casefold))
    return MeetingAttendance(network=slug, series_id=meeting.series_id, starts_at=meeting.starts_at,
                             by_municipality=by_municipality, total=_count([a for a, _ in rows], minuted))


def _count(rows: list[Attendance], minuted: bool) -> Counts:
    """Answers by kind; attended only once the minutes named anybody (before that it is unknown, not 0)."""
    answers = {status: sum(1 for row in rows if row.status == status) for status in ANSWERS}
    attended = sum(1 for row in rows if row.attended) if minuted else None
    return Counts(**answers, attended=attended)
