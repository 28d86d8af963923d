"""iTIP meeting requests, updates and cancellations, and the parser for replies.

Why this module exists: a meeting only lands in people's calendars when the mail
carries an iCalendar part that Outlook, Thunderbird and Google accept as a real
meeting request (RFC 5545 for the format, RFC 5546 "iTIP" for the methods).
Everything calendar-shaped goes through here, so all three messages of a meeting
(invitation, agenda update / change, cancellation) share one UID and one layout:

- METHOD:REQUEST with STATUS:CONFIRMED for the invitation, the agenda update and
  any change; METHOD:CANCEL with STATUS:CANCELLED when the meeting is cancelled.
  The caller raises SEQUENCE when time, place or status changes; clients replace
  the entry with the same UID when the SEQUENCE is higher.
- ORGANIZER is the recipient's own ``<slug>+<token>@…`` address, a mailbox the
  bot reads, so Outlook's Accept/Decline comes back to it carrying the token.
  Each copy names its one recipient as the only ATTENDEE.
- DTSTART/DTEND carry TZID=<the network's zone> and the calendar holds a
  VTIMEZONE defining it. Outlook (classic, desktop) only understands a VTIMEZONE
  with one STANDARD and one DAYLIGHT observance, each with a yearly RRULE of the
  "n-th/last weekday of a month" kind; it misreads RDATE-based ones (what
  icalendar's ``Timezone.from_tzid`` / ``add_missing_timezones`` write) and
  shifts events by an hour. So we derive those two RRULE observances from
  zoneinfo and verify them against zoneinfo around the meeting; only a zone
  whose changes fit no such rule (Africa/Casablanca) gets a list of RDATEs.
- X-MICROSOFT-CDO-BUSYSTATUS / -INTENDEDSTATUS ([MS-OXCICAL]) set the free/busy
  state Outlook gives the entry: BUSY for a meeting, FREE once it is cancelled;
  cancellations carry PRIORITY:1 as Outlook's own do. No VALARM: Outlook and
  the other clients apply the user's default reminder.

``parse_reply`` reads the METHOD:REPLY a client sends back (Accept, Decline,
Tentative) and never raises on garbage: mail from outside is untrusted input.
"""
from __future__ import annotations

import calendar as _calendar
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vCalAddress

__all__ = ["CalendarMeeting", "ItipReply", "PRODID", "cancellation", "invitation", "method_of", "parse_reply",
           "vtimezone"]

PRODID = "-//kkrbot//kkrbot//DA"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # C0 controls except TAB and LF, and DEL
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class CalendarMeeting:
    uid: str  # stable per meeting, e.g. "it-netvaerk-2026-12-10@lists.example.dk"
    sequence: int  # raised by the caller when time, place or status changes
    summary: str
    starts_at: datetime  # aware
    ends_at: datetime  # aware
    timezone: str  # e.g. "Europe/Copenhagen": DTSTART/DTEND are written with this TZID
    location: str  # place, or the video link for a virtual meeting
    video_link: str  # "" if none; when set, also as URL and in the description
    description: str  # plain text (the agenda for the agenda update)


@dataclass(frozen=True)
class ItipReply:
    uid: str
    attendee: str  # lowercase address without "mailto:"
    partstat: str  # "ACCEPTED" | "DECLINED" | "TENTATIVE" | other as given, uppercase
    organizer: str  # lowercase address without "mailto:", "" if absent
    sequence: int


# --- building ---------------------------------------------------------------


def calendar_uid(series: str, domain: str) -> str:
    """The iCalendar UID of a meeting: from its identity, so editing config never changes it."""
    return f"{series.replace('/', '-')}@{domain}"


def invitation(meeting: CalendarMeeting, *, organizer: str, organizer_name: str, attendee: str,
               attendee_name: str, now: datetime) -> bytes:
    """METHOD:REQUEST for the invitation, the agenda update and any change."""
    person = _address(attendee, attendee_name, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp=True)
    event = _event(meeting, organizer=_address(organizer, organizer_name), attendee=person, now=now)
    event.add("STATUS", "CONFIRMED")
    event.add("X-MICROSOFT-CDO-BUSYSTATUS", "BUSY")
    event.add("X-MICROSOFT-CDO-INTENDEDSTATUS", "BUSY")
    return _calendar_bytes("REQUEST", event, meeting)


def cancellation(meeting: CalendarMeeting, *, organizer: str, organizer_name: str, attendee: str,
                 attendee_name: str, now: datetime) -> bytes:
    """METHOD:CANCEL: same UID, the SEQUENCE the caller passes (higher than the last REQUEST)."""
    person = _address(attendee, attendee_name, role="REQ-PARTICIPANT")
    event = _event(meeting, organizer=_address(organizer, organizer_name), attendee=person, now=now)
    event.add("STATUS", "CANCELLED")
    event.add("PRIORITY", 1)
    event.add("X-MICROSOFT-CDO-BUSYSTATUS", "FREE")
    event.add("X-MICROSOFT-CDO-INTENDEDSTATUS", "FREE")
    return _calendar_bytes("CANCEL", event, meeting)


def method_of(ics: bytes) -> str:
    """The METHOD of a calendar, uppercase, for the MIME part's ``method=`` parameter."""
    method = Calendar.from_ical(ics).get("METHOD")
    if not method:
        raise ValueError("calendar has no METHOD")
    return str(method).strip().upper()


def _event(meeting: CalendarMeeting, *, organizer: vCalAddress, attendee: vCalAddress, now: datetime) -> Event:
    _check(meeting, now)
    zone = ZoneInfo(meeting.timezone)
    event = Event()
    event.add("UID", meeting.uid)
    event.add("SEQUENCE", meeting.sequence)
    event.add("DTSTAMP", now.astimezone(timezone.utc))
    event.add("DTSTART", meeting.starts_at.astimezone(zone))
    event.add("DTEND", meeting.ends_at.astimezone(zone))
    event.add("SUMMARY", _text(meeting.summary))
    event.add("LOCATION", _text(meeting.location))
    event.add("DESCRIPTION", _text(_description(meeting)))
    if meeting.video_link:
        event.add("URL", meeting.video_link)
    event.add("TRANSP", "OPAQUE")
    event.add("ORGANIZER", organizer)
    event.add("ATTENDEE", attendee)
    return event


def _check(meeting: CalendarMeeting, now: datetime) -> None:
    try:
        ZoneInfo(meeting.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"meeting {meeting.uid}: unknown timezone {meeting.timezone!r}") from error
    for name, value in (("starts_at", meeting.starts_at), ("ends_at", meeting.ends_at), ("now", now)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware: {value!r}")
    if meeting.ends_at <= meeting.starts_at:
        raise ValueError(f"meeting {meeting.uid} ends before it starts")
    if meeting.sequence < 0:
        raise ValueError(f"meeting {meeting.uid}: SEQUENCE must not be negative")


def _description(meeting: CalendarMeeting) -> str:
    """The description, with the video link first when it is not already in the text."""
    if meeting.video_link and meeting.video_link not in meeting.description:
        return f"{meeting.video_link}\n\n{meeting.description}" if meeting.description else meeting.video_link
    return meeting.description


def _text(value: str) -> str:
    """A TEXT value: line breaks as LF (written as \\n), no control characters RFC 5545 forbids."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", value)


def _address(email: str, name: str, **params: object) -> vCalAddress:
    """mailto: address with CN; quotes and line breaks in names are flattened.

    icalendar would write a quote in CN as RFC 6868 ``^'``, which Outlook does
    not decode; a name never needs a line break.
    """
    clean = " ".join(name.replace('"', "'").split())
    return vCalAddress.new(email.strip(), cn=clean or None, **params)


def _calendar_bytes(method: str, event: Event, meeting: CalendarMeeting) -> bytes:
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", method)
    for tzid in sorted(_used_tzids(event)):
        cal.add_component(vtimezone(tzid, meeting.starts_at.astimezone(ZoneInfo(tzid)).year))
    cal.add_component(event)
    if cal.get_missing_tzids():  # cannot happen; a calendar with an undefined TZID must never go out
        raise AssertionError(f"undefined TZID in {meeting.uid}: {cal.get_missing_tzids()}")
    return cal.to_ical()


def _used_tzids(event: Event) -> set[str]:
    """TZIDs of DTSTART/DTEND (UTC is written with "Z" and needs none)."""
    tzids = {event[name].params.get("TZID") for name in ("DTSTART", "DTEND")}
    return {tzid for tzid in tzids if tzid and tzid.upper() != "UTC"}


# --- VTIMEZONE ----------------------------------------------------------------


@dataclass(frozen=True)
class _Observance:
    """One yearly change of UTC offset: "on the nth (or last, -1) weekday of month at time"."""

    daylight: bool
    name: str
    offset_from: timedelta
    offset_to: timedelta
    month: int
    weekday: int  # 0 = Monday
    nth: int  # 1..4, or -1 for the last one in the month
    at: time  # local wall-clock time, in offset_from, as RFC 5545 wants for DTSTART

    def onset(self, year: int) -> datetime:
        """Local (naive) onset in `year`."""
        days = _calendar.monthrange(year, self.month)[1]
        if self.nth > 0:
            first = date(year, self.month, 1).weekday()
            day = 1 + (self.weekday - first) % 7 + 7 * (self.nth - 1)
        else:
            day = days - (date(year, self.month, days).weekday() - self.weekday) % 7
        return datetime.combine(date(year, self.month, day), self.at)

    def instant(self, year: int) -> datetime:
        return (self.onset(year) - self.offset_from).replace(tzinfo=timezone.utc)


def vtimezone(tzid: str, year: int) -> Timezone:
    """VTIMEZONE for `tzid`, valid from the start of `year` - 1 through `year` + 1.

    The RRULE form Outlook understands when zoneinfo's changes in those years
    follow one yearly weekday rule (or there are none); else every change of
    those years listed as RDATEs (e.g. Africa/Casablanca's Ramadan changes).
    """
    observances = _observances(tzid, year)
    if observances is not None:  # anchored in year - 2 so that all of year - 1 follows an onset
        return _rule_timezone(tzid, ZoneInfo(tzid), observances, year - 2)
    return _rdate_timezone(tzid, ZoneInfo(tzid), year - 1, year + 1)


@functools.lru_cache(maxsize=64)
def _observances(tzid: str, year: int) -> tuple[_Observance, ...] | None:
    """The yearly rules behind `year`'s offset changes, if they also explain the years around it."""
    zone = ZoneInfo(tzid)
    changes = _transitions(zone, year)
    observances = tuple(_observance(zone, instant) for instant in changes)
    if len(observances) not in (0, 2) or sum(o.daylight for o in observances) != len(observances) // 2:
        return None
    years = range(year - 2, year + 2)
    predicted = sorted(o.instant(y) for o in observances for y in years)
    actual = [instant for y in years for instant in _transitions(zone, y)]
    return observances if predicted == actual else None


def _transitions(zone: ZoneInfo, year: int) -> list[datetime]:
    """The UTC instants in `year` at which the zone's UTC offset changes (scan by day, then bisect)."""
    start = int(datetime(year, 1, 1, tzinfo=timezone.utc).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=timezone.utc).timestamp())
    day = 86_400
    found = []
    for lo in range(start, end, day):
        hi = min(lo + day, end)
        if _offset(zone, lo) != _offset(zone, hi):
            found.append(_bisect(zone, lo, hi))
    return found


def _offset(zone: ZoneInfo, timestamp: int) -> timedelta:
    return datetime.fromtimestamp(timestamp, zone).utcoffset()


def _bisect(zone: ZoneInfo, lo: int, hi: int) -> datetime:
    """The first second with hi's offset, given offset(lo) != offset(hi) and one change between."""
    low_offset = _offset(zone, lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(zone, mid) == low_offset:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, timezone.utc)


def _observance(zone: ZoneInfo, instant: datetime) -> _Observance:
    before = (instant - timedelta(seconds=1)).astimezone(zone)
    after = instant.astimezone(zone)
    onset = (instant + before.utcoffset()).replace(tzinfo=None)
    days = _calendar.monthrange(onset.year, onset.month)[1]
    nth = -1 if onset.day + 7 > days else (onset.day - 1) // 7 + 1
    return _Observance(
        daylight=bool(after.dst()), name=after.tzname() or "", offset_from=before.utcoffset(),
        offset_to=after.utcoffset(), month=onset.month, weekday=onset.weekday(), nth=nth, at=onset.time(),
    )


def _rule_timezone(tzid: str, zone: ZoneInfo, observances: tuple[_Observance, ...], first_year: int) -> Timezone:
    tz = Timezone()
    tz.add("TZID", tzid)
    if not observances:  # no changes: one STANDARD without RRULE (Outlook wants BYDAY in any RRULE)
        moment = datetime(first_year, 1, 1, tzinfo=zone)
        tz.add_component(_sub(TimezoneStandard(), datetime(first_year, 1, 1), moment.utcoffset(),
                              moment.utcoffset(), moment.tzname() or tzid))
        return tz
    for obs in sorted(observances, key=lambda o: o.daylight):  # STANDARD first, as Outlook writes it
        sub = _sub(TimezoneDaylight() if obs.daylight else TimezoneStandard(), obs.onset(first_year),
                   obs.offset_from, obs.offset_to, obs.name)
        sub.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": obs.month, "BYDAY": f"{obs.nth}{_WEEKDAYS[obs.weekday]}"})
        tz.add_component(sub)
    return tz


def _rdate_timezone(tzid: str, zone: ZoneInfo, first_year: int, last_year: int) -> Timezone:
    """Observances with DTSTART + RDATE for each change in the years; like icalendar's
    ``Timezone.from_tzid``, but with onsets in TZOFFSETFROM time as RFC 5545 says, and
    without its 64-day search steps that skip short periods (Casablanca, Ramadan 2027).
    """
    start = datetime(first_year, 1, 1, tzinfo=zone)
    initial = TimezoneDaylight() if start.dst() else TimezoneStandard()
    tz = Timezone()
    tz.add("TZID", tzid)
    tz.add_component(_sub(initial, start.replace(tzinfo=None), start.utcoffset(), start.utcoffset(),
                          start.tzname() or tzid))
    groups: dict[tuple[bool, str, timedelta, timedelta], list[datetime]] = {}
    for year in range(first_year, last_year + 1):
        for instant in _transitions(zone, year):
            obs = _observance(zone, instant)
            key = (obs.daylight, obs.name, obs.offset_from, obs.offset_to)
            groups.setdefault(key, []).append((instant + obs.offset_from).replace(tzinfo=None))
    for (daylight, name, offset_from, offset_to), onsets in groups.items():
        sub = _sub(TimezoneDaylight() if daylight else TimezoneStandard(), onsets[0], offset_from, offset_to, name)
        if onsets[1:]:
            sub.add("RDATE", onsets[1:])
        tz.add_component(sub)
    return tz


def _sub(sub: TimezoneStandard | TimezoneDaylight, onset: datetime, offset_from: timedelta,
         offset_to: timedelta, name: str) -> TimezoneStandard | TimezoneDaylight:
    sub.add("DTSTART", onset)
    sub.add("TZOFFSETFROM", offset_from)
    sub.add("TZOFFSETTO", offset_to)
    sub.add("TZNAME", name)
    return sub


# --- parsing replies ------------------------------------------------------------


def parse_reply(data: bytes) -> ItipReply | None:
    """The reply in a METHOD:REPLY calendar with a VEVENT; None for anything else, never raises."""
    try:
        return _parse_reply(data)
    except Exception:  # untrusted input: any parser failure means "not a reply we can use"
        return None


def _parse_reply(data: bytes) -> ItipReply | None:
    cal = Calendar.from_ical(_decoded(data))
    if str(cal.get("METHOD", "")).strip().upper() != "REPLY":
        return None
    for event in cal.walk("VEVENT"):
        reply = _event_reply(event)
        if reply is not None:
            return reply
    return None


def _decoded(data: bytes) -> str:
    """UTF-8 as RFC 5545 requires; Windows-1252 from the odd older client."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _event_reply(event: Event) -> ItipReply | None:
    uid = str(event.get("UID", "")).strip()
    attendees = event.get("ATTENDEE")
    if isinstance(attendees, list):  # RFC 5546: a REPLY has one; take the first that answers
        attendees = next((a for a in attendees if "PARTSTAT" in a.params), attendees[0] if attendees else None)
    if not uid or attendees is None or not _bare(attendees):
        return None
    return ItipReply(
        uid=uid,
        attendee=_bare(attendees),
        partstat=str(attendees.params.get("PARTSTAT", "NEEDS-ACTION")).strip().upper(),
        organizer=_bare(event.get("ORGANIZER")),
        sequence=_int(event.get("SEQUENCE")),
    )


def _bare(address: object) -> str:
    """'MAILTO:Soren.Aero@Aarhus.example.dk' -> 'soren.aero@aarhus.example.dk'; '' for nothing."""
    if address is None or isinstance(address, list):
        return ""
    text = str(address).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:"):]
    return text.strip().lower()


def _int(value: object) -> int:
    try:
        return int(str(value).strip()) if value is not None else 0
    except ValueError:
        return 0
