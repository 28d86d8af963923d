"""The attendance report's numbers: answers set against the minutes, per municipality, by network and year."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from bot.meetings.attendance import record_answer
from bot.meetings.attendance_report import Counts, attendance_report, known_network
from bot.store.models import Contact, Meeting, Network
from tests.support.attendance import APRIL, DECEMBER, JUNE, TEKNIK, report_app

ZONE = ZoneInfo("Europe/Copenhagen")


@pytest.fixture
def app(tmp_path, clock):
    bot = report_app(tmp_path, clock)
    yield bot
    bot.engine.dispose()


def report(app, year: int, network: str | None = None):
    with Session(app.engine) as session:
        return attendance_report(session, year, ZONE, network)


def test_answers_are_set_against_the_minutes_per_municipality(app):
    [april] = [m for m in report(app, 2027) if m.series_id == APRIL]
    assert dict(april.by_municipality) == {
        "Aarhus": Counts(registered=1, apologies=1, attended=1),  # Søren came, Bo sent apologies
        "Herning": Counts(registered=1, attended=0),  # registered, and the minutes say Afbud
        "KL": Counts(attended=1),  # the chair never answered, and came
        "København": Counts(registered=1, attended=1),
        "MedCom": Counts(registered=1, attended=1),
        "Odense": Counts(tentative=1, attended=1),
        "Vejle": Counts(apologies=1, attended=0)}
    assert [name for name, _ in april.by_municipality] == ["Aarhus", "Herning", "KL", "København", "MedCom",
                                                         "Odense", "Vejle"]
    assert april.total == Counts(registered=4, tentative=1, apologies=2, attended=5)


def test_a_meeting_nobody_answered_is_there_with_nothing_counted_and_attendance_unknown(app):
    [june] = [m for m in report(app, 2027) if m.series_id == JUNE]
    assert (june.by_municipality, june.total) == ((), Counts())
    assert june.total.attended is None  # no minutes yet: unknown, not zero


def test_network_and_year_filter_oldest_first_without_cancelled_meetings(app):
    all_2027 = [m.series_id for m in report(app, 2027)]
    assert TEKNIK in all_2027 and APRIL in all_2027 and DECEMBER not in all_2027
    assert "it-netvaerk/2027-08-12" not in all_2027  # cancelled in networks.toml
    netvaerk = report(app, 2027, "it-netvaerk")
    assert {m.network for m in netvaerk} == {"it-netvaerk"} and TEKNIK not in [m.series_id for m in netvaerk]
    [december] = report(app, 2026, "it-netvaerk")
    assert (december.series_id, december.total) == (DECEMBER, Counts(registered=1))
    starts = [m.starts_at for m in report(app, 2027)]
    assert starts == sorted(starts)


def test_the_year_is_the_local_one(app):
    """A meeting at 00.30 on New Year's Day in Copenhagen is still 31 December in UTC."""
    with Session(app.engine) as session:
        network_id = session.exec(select(Network.id).where(Network.slug == "it-teknik")).one()
        start = datetime(2027, 12, 31, 23, 30, tzinfo=timezone.utc)
        meeting = Meeting(network_id=network_id, series_id="it-teknik/2028-01-01", original_date=start.date(),
                          starts_at=start, ends_at=start.replace(hour=23, minute=59), updated_at=start)
        session.add(meeting)
        session.flush()
        lars = session.exec(select(Contact.id).where(Contact.name == "Lars Møller")).one()
        record_answer(session, meeting.id, lars, "registered", start)
        session.commit()
        assert known_network(session, "it-teknik") and not known_network(session, "nope")
    assert "it-teknik/2028-01-01" in [m.series_id for m in report(app, 2028)]
    assert "it-teknik/2028-01-01" not in [m.series_id for m in report(app, 2027)]
