"""Meeting series: RRULE dates, moved/cancelled/extra, sub-groups, and networks that meet before others."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.config.networks import MeetingSeries
from bot.config.settings import load_settings
from bot.meetings.dates import planned_meetings
from bot.meetings.sync import sync_config
from bot.store.db import session_scope
from bot.store.models import Meeting
from tests.support.config import make_config, shipped_networks

CPH = ZoneInfo("Europe/Copenhagen")


def plan(settings, slug: str):
    return [m for m in planned_meetings(settings.networks, date(2026, 11, 1), date(2027, 12, 31)) if m.network == slug]


def test_the_series_moved_cancelled_and_extra_dates(tmp_path):
    settings = load_settings(make_config(tmp_path), environ={})
    meetings = {m.original_date: m for m in plan(settings, "it-netvaerk")}
    assert sorted(meetings) == [date(2026, 12, 10), date(2027, 4, 8), date(2027, 6, 3), date(2027, 8, 12),
                                date(2027, 12, 9)]
    first = meetings[date(2026, 12, 10)]
    assert (first.starts_at, first.ends_at) == (datetime(2026, 12, 10, 10, 0, tzinfo=CPH),
                                                datetime(2026, 12, 10, 13, 0, tzinfo=CPH))
    assert (first.status, first.mode, first.place) == ("scheduled", "physical", "KL, Weidekampsgade 10, 2300 København S")
    moved = meetings[date(2027, 4, 8)]
    assert (moved.status, moved.starts_at.date(), moved.mode, moved.series_id) == (
        "moved", date(2027, 4, 15), "virtual", "it-netvaerk/2027-04-08")
    assert moved.video_link == "https://meet.example.dk/it-netvaerk"
    assert meetings[date(2027, 8, 12)].status == "cancelled"
    extra = meetings[date(2027, 6, 3)]
    assert (extra.status, extra.starts_at.time(), extra.ends_at.time()) == ("scheduled", time(13, 0), time(15, 0))


def test_a_network_that_meets_14_days_before_follows_the_effective_dates(tmp_path):
    settings = load_settings(make_config(tmp_path), environ={})
    meetings = {m.original_date: m for m in plan(settings, "kontaktudvalg")}
    assert meetings[date(2026, 11, 26)].starts_at == datetime(2026, 11, 26, 14, 0, tzinfo=CPH)
    moved_parent = meetings[date(2027, 3, 25)]  # the parent's April meeting moved a week: so does this one
    assert moved_parent.starts_at.date() == date(2027, 4, 1) and moved_parent.status == "scheduled"
    assert meetings[date(2027, 7, 29)].status == "cancelled"  # the parent's meeting is cancelled


def test_a_derived_network_can_override_one_meeting(tmp_path):
    networks = shipped_networks().replace('video_link = "https://meet.example.dk/kontaktudvalg"',
                                          'video_link = "https://meet.example.dk/kontaktudvalg"\n'
                                          'cancelled = [2026-11-26]\n'
                                          '[[network.meetings.moved]]\noriginal = 2027-11-25\ndate = 2027-11-18')
    settings = load_settings(make_config(tmp_path, networks_toml=networks), environ={})
    meetings = {m.original_date: m for m in plan(settings, "kontaktudvalg")}
    assert meetings[date(2026, 11, 26)].status == "cancelled"
    assert meetings[date(2027, 11, 25)].starts_at.date() == date(2027, 11, 18)


def test_a_subgroup_inherits_from_its_parent_and_keeps_its_own_series(tmp_path):
    settings = load_settings(make_config(tmp_path), environ={})
    teknik = settings.network("it-teknik")
    parent = settings.network("it-netvaerk")
    assert (teknik.regions, teknik.language, teknik.secretary, teknik.lead_times) == (
        parent.regions, parent.language, parent.secretary, parent.lead_times)
    assert teknik.chair == "lars.moeller@odense.example.dk"
    assert [m.starts_at.date() for m in plan(settings, "it-teknik")][:2] == [date(2027, 1, 5), date(2027, 4, 6)]


def _move_first_meeting(app) -> object:
    networks = shipped_networks().replace("cancelled = [2027-08-12]",
                                          "cancelled = [2027-08-12]\n[[network.meetings.moved]]\n"
                                          "original = 2026-12-10\ndate = 2026-12-17")
    (app.settings.config_dir / "networks.toml").write_text(networks, encoding="utf-8")
    return load_settings(app.settings.config_dir, environ={})


def test_moving_a_meeting_in_config_keeps_its_identity_and_raises_its_sequence(app, clock, tmp_path):
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=CPH))
    with Session(app.engine) as session:
        before = session.exec(select(Meeting).where(Meeting.series_id == "it-netvaerk/2026-12-10")).one()
    moved_settings = _move_first_meeting(app)
    with session_scope(app.engine) as session:
        report = sync_config(session, moved_settings, app.clock.now())
    assert sorted(report.meetings_changed) == ["it-netvaerk/2026-12-10", "kontaktudvalg/2026-11-26"]
    with Session(app.engine) as session:
        after = session.exec(select(Meeting).where(Meeting.series_id == "it-netvaerk/2026-12-10")).one()
    assert after.id == before.id and after.sequence == before.sequence + 1
    assert (after.status, after.starts_at.astimezone(CPH).date()) == ("moved", date(2026, 12, 17))
    with session_scope(app.engine) as session:
        assert sync_config(session, moved_settings, app.clock.now()).meetings_changed == []


def test_a_meeting_that_has_begun_is_history_and_the_config_does_not_change_it(app):
    moved_settings = _move_first_meeting(app)  # the app's clock is 2027-01-04: 2026-12-10 is past
    with session_scope(app.engine) as session:
        report = sync_config(session, moved_settings, app.clock.now())
    assert report.meetings_changed == [] and "it-netvaerk/2026-12-10" in report.meetings_left_alone
    with Session(app.engine) as session:
        meeting = session.exec(select(Meeting).where(Meeting.series_id == "it-netvaerk/2026-12-10")).one()
    assert (meeting.status, meeting.sequence, meeting.starts_at.astimezone(CPH).date()) == (
        "scheduled", 0, date(2026, 12, 10))


def test_a_coming_meeting_deleted_from_the_config_is_cancelled_once(app):
    with Session(app.engine) as session:
        coming = session.exec(select(Meeting).where(Meeting.starts_at > app.clock.now())
                              .order_by(Meeting.starts_at)).first()
    settings = load_settings(app.settings.config_dir, environ={})
    without = _without_network_meetings(settings, coming.series_id.split("/")[0])
    with session_scope(app.engine) as session:
        report = sync_config(session, without, app.clock.now())
    assert coming.series_id in report.meetings_cancelled
    with Session(app.engine) as session:
        after = session.get(Meeting, coming.id)
    assert (after.status, after.sequence) == ("cancelled", coming.sequence + 1)
    with session_scope(app.engine) as session:
        assert sync_config(session, without, app.clock.now()).meetings_cancelled == []


def _without_network_meetings(settings, slug: str):
    """The same config with one network's meetings all deleted (its series, extras and moves)."""
    networks = tuple(dataclasses.replace(n, meetings=MeetingSeries()) if n.slug == slug else n
                     for n in settings.networks)
    return dataclasses.replace(settings, networks=networks)
