"""Turn a network's meeting series into dated meetings.

A meeting's identity is its network and its original date in the series
(`series_id` = "<slug>/<original date>"), so moving it keeps its identity and,
later, its calendar UID. A network that meets N days before another gets that
network's effective dates minus N days; its own `moved`, `cancelled` and `extra`
entries override single meetings.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from bot.config.networks import MeetingChange, NetworkConfig, Venue

SCHEDULED, MOVED, CANCELLED = "scheduled", "moved", "cancelled"


@dataclass(frozen=True)
class PlannedMeeting:
    network: str
    original_date: date
    starts_at: datetime  # aware, in the network's timezone
    ends_at: datetime
    status: str
    mode: str
    place: str
    video_link: str

    @property
    def series_id(self) -> str:
        return series_id(self.network, self.original_date)


def series_id(network: str, original_date: date) -> str:
    return f"{network}/{original_date.isoformat()}"


def planned_meetings(networks: tuple[NetworkConfig, ...], first: date, last: date) -> list[PlannedMeeting]:
    """Every meeting of every network whose original or effective date lies in [first, last]."""
    by_slug = {n.slug: n for n in networks}
    cache: dict[str, list[PlannedMeeting]] = {}

    def of(network: NetworkConfig) -> list[PlannedMeeting]:
        if network.slug not in cache:
            cache[network.slug] = _network_meetings(network, by_slug, of, first, last)
        return cache[network.slug]

    result = [m for n in networks for m in of(n)]
    return sorted(result, key=lambda m: (m.starts_at, m.network))


def _network_meetings(network, by_slug, of, first: date, last: date) -> list[PlannedMeeting]:
    series = network.meetings
    if network.meets_before and network.meets_before in by_slug:
        days = timedelta(days=network.meets_before_days)
        base = [(m.original_date - days, m.starts_at.date() - days, m.status == CANCELLED)
                for m in of(by_slug[network.meets_before])]
    else:
        base = [(d, d, False) for d in _rrule_dates(series.rrule, series.first, first, last)]
    moved = {change.original: change for change in series.moved}
    meetings = []
    for original, effective, parent_cancelled in base:
        change = moved.get(original)
        cancelled = parent_cancelled or original in series.cancelled
        meetings.append(_meeting(network, original, change or MeetingChange(day=effective),
                                 CANCELLED if cancelled else (MOVED if change else SCHEDULED)))
    meetings += [_meeting(network, extra.day, extra, CANCELLED if extra.day in series.cancelled else SCHEDULED)
                 for extra in series.extra]
    return [m for m in meetings if first <= m.starts_at.date() <= last or first <= m.original_date <= last]


def _rrule_dates(rule: str | None, dtstart: date | None, first: date, last: date) -> list[date]:
    if not rule or not dtstart:
        return []
    start = datetime.combine(dtstart, time(0, 0))
    window = (datetime.combine(first - timedelta(days=366), time(0, 0)), datetime.combine(last, time(23, 59)))
    return [d.date() for d in rrulestr(rule, dtstart=start).between(*window, inc=True)]


def _meeting(network: NetworkConfig, original: date, change: MeetingChange, status: str) -> PlannedMeeting:
    series = network.meetings
    zone = ZoneInfo(network.timezone)
    venue = _merge(series.venue, change.venue)
    return PlannedMeeting(
        network=network.slug,
        original_date=original,
        starts_at=datetime.combine(change.day, change.start or series.start, zone),
        ends_at=datetime.combine(change.day, change.end or series.end, zone),
        status=status,
        mode=venue.mode or "physical",
        place=venue.place or "",
        video_link=venue.video_link or "",
    )


def _merge(base: Venue, override: Venue) -> Venue:
    return Venue(mode=override.mode or base.mode, place=override.place or base.place,
                 video_link=override.video_link or base.video_link)
