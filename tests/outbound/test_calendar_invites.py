"""The iTIP builder and reply parser, checked by parsing for real.

Our own output is read back with icalendar and imported into a real calendar
client (Debian's `khal`, in a throwaway config); the replies are what Outlook,
Google and Thunderbird send (tests/data/ics/). Nothing is mocked.
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from bot.outbound.calendar_invites import (
    PRODID,
    CalendarMeeting,
    ItipReply,
    cancellation,
    invitation,
    method_of,
    parse_reply,
    vtimezone,
)
from tests.support.khal import khal, khal_events, khal_import  # noqa: F401  (the khal fixture)

DATA = Path(__file__).resolve().parents[1] / "data" / "ics"
CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc)
PLACE = "KL, Weidekampsgade 10; 2300 København S"
ORGANIZER = "it-netvaerk+k7q2x9m4@lists.example.dk"
ORGANIZER_NAME = "Kommunalt it-netværk, KL"
ATTENDEE = "soren.aero@aarhus.example.dk"
ATTENDEE_NAME = "Søren Ærø"

AGENDA = (
    "Dagsorden for mødet i Kommunalt it-netværk på sundhedsområdet\n"
    "\n"
    "1. Godkendelse af dagsorden; referat fra sidste møde\n"
    "Resumé: Netværket godkender dagsordenen, og referatet fra mødet den 4. oktober "
    "tages til efterretning.\n"
    "\n"
    "2. Status på FMK-opsætning i regionerne (Hovedstaden, Sjælland, Syddanmark, "
    "Midtjylland, Nordjylland)\n"
    "Sagsfremstilling: Kommunerne har meldt tilbage; særligt Ærø, Fanø og Læsø "
    "ønsker fælles løsninger – se bilag 2a\\2b.\n"
    "Indstilling: Det indstilles, at netværket drøfter næste skridt.\n"
    "\tBeslutning: ÆØÅ æøå é ü – «citat» “anførselstegn” 100 € · ½\n"
    "\n"
    "3. Eventuelt\n"
) * 4

KW = dict(organizer=ORGANIZER, organizer_name=ORGANIZER_NAME, attendee=ATTENDEE,
          attendee_name=ATTENDEE_NAME, now=NOW)


def meeting(**changes) -> CalendarMeeting:
    base = CalendarMeeting(
        uid="it-netvaerk-2026-12-10@lists.example.dk",
        sequence=0,
        summary="Kommunalt it-netværk på sundhedsområdet – møde",
        starts_at=datetime(2026, 12, 10, 10, 0, tzinfo=CPH),
        ends_at=datetime(2026, 12, 10, 13, 0, tzinfo=CPH),
        timezone="Europe/Copenhagen",
        location=PLACE,
        video_link="",
        description=AGENDA,
    )
    return replace(base, **changes)


def parse(ics: bytes) -> tuple[Calendar, Event]:
    cal = Calendar.from_ical(ics)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


# --- what we build, parsed back ---------------------------------------------------


def test_invitation_is_an_itip_request_for_one_attendee():
    ics = invitation(meeting(), **KW)
    cal, event = parse(ics)

    assert (str(cal["PRODID"]), str(cal["VERSION"]), str(cal["CALSCALE"])) == (PRODID, "2.0", "GREGORIAN")
    assert str(cal["METHOD"]) == "REQUEST" == method_of(ics)
    assert str(event["UID"]) == "it-netvaerk-2026-12-10@lists.example.dk"
    assert event["SEQUENCE"] == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "OPAQUE"
    assert str(event["X-MICROSOFT-CDO-BUSYSTATUS"]) == "BUSY"
    assert event["DTSTAMP"].dt == NOW
    assert not cal.walk("VALARM")

    organizer = event["ORGANIZER"]
    assert str(organizer) == f"mailto:{ORGANIZER}"
    assert organizer.params["CN"] == ORGANIZER_NAME

    attendee = event["ATTENDEE"]
    assert not isinstance(attendee, list), "exactly one ATTENDEE per copy"
    assert str(attendee) == f"mailto:{ATTENDEE}"
    assert dict(attendee.params) == {"CN": ATTENDEE_NAME, "ROLE": "REQ-PARTICIPANT",
                                     "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"}


@pytest.mark.parametrize("local", [datetime(2026, 12, 10, 10, 0), datetime(2027, 6, 17, 9, 30)],
                         ids=["winter-CET", "summer-CEST"])
def test_start_and_end_keep_the_copenhagen_wall_clock(local):
    start = local.replace(tzinfo=CPH)
    # The caller may hand us any aware datetime, e.g. UTC from the database.
    ics = invitation(meeting(starts_at=start.astimezone(timezone.utc), ends_at=start + timedelta(hours=3)), **KW)
    raw = ics.decode()
    stamp = local.strftime("%Y%m%dT%H%M%S")
    assert f"DTSTART;TZID=Europe/Copenhagen:{stamp}\r\n" in raw

    _, event = parse(ics)
    dtstart, dtend = event["DTSTART"].dt, event["DTEND"].dt
    assert event["DTSTART"].params["TZID"] == event["DTEND"].params["TZID"] == "Europe/Copenhagen"
    assert dtstart.replace(tzinfo=None) == local
    assert dtstart == start and dtend - dtstart == timedelta(hours=3)


def test_every_tzid_is_defined_by_one_outlook_style_vtimezone():
    cal, _ = parse(invitation(meeting(), **KW))
    assert cal.get_used_tzids() == {"Europe/Copenhagen"}
    assert cal.get_missing_tzids() == set()
    [tz] = cal.timezones
    assert str(tz["TZID"]) == "Europe/Copenhagen"
    # Outlook reads exactly one STANDARD and one DAYLIGHT, each with a weekday RRULE.
    assert len(tz.standard) == 1 and len(tz.daylight) == 1
    for sub, month in ((tz.standard[0], 10), (tz.daylight[0], 3)):
        assert sub["RRULE"]["FREQ"] == ["YEARLY"] and sub["RRULE"]["BYMONTH"] == [month]
        assert sub["RRULE"]["BYDAY"] == ["-1SU"]
        assert "RDATE" not in sub
    # Onsets in local time before the change, anchored two years back so all of 2025 is covered.
    assert tz.daylight[0]["DTSTART"].dt == datetime(2024, 3, 31, 2, 0)
    assert tz.standard[0]["DTSTART"].dt == datetime(2024, 10, 27, 3, 0)


@pytest.mark.parametrize("tzid", ["Europe/Copenhagen", "America/New_York", "Australia/Sydney", "Asia/Tokyo"])
def test_vtimezone_agrees_with_zoneinfo_around_the_meeting(tzid):
    """Read our VTIMEZONE as a timezone of its own (icalendar's to_tz) and compare it with zoneinfo:
    every hour around each change (an onset an hour off shows), at noon on the other days."""
    zone = ZoneInfo(tzid)
    ours = vtimezone(tzid, 2026).to_tz(lookup_tzid=False)
    for instant in instants_to_check(zone):
        assert instant.astimezone(ours).utcoffset() == instant.astimezone(zone).utcoffset(), (tzid, instant)


def test_vtimezone_lists_rdates_for_zones_without_a_weekday_rule():
    """Casablanca's Ramadan changes fit no yearly RRULE: every change of 2025-2027 is listed."""
    zone = ZoneInfo("Africa/Casablanca")
    tz = vtimezone("Africa/Casablanca", 2026)
    subs = tz.walk("STANDARD") + tz.walk("DAYLIGHT")
    assert all("RRULE" not in sub for sub in subs)
    onsets = sorted(  # RFC 5545: an onset is local time in the TZOFFSETFROM offset
        (local - sub["TZOFFSETFROM"].td).replace(tzinfo=timezone.utc)
        for sub in subs if sub["TZOFFSETFROM"].td != sub["TZOFFSETTO"].td
        for local in [sub["DTSTART"].dt] + [p.dt for rdate in as_list(sub.get("RDATE")) for p in rdate.dts])
    assert onsets == changes(zone) and len(onsets) == 6
    # dateutil (behind to_tz) misreads the repeated hour of a backward change into a
    # DAYLIGHT observance, so compare the periods themselves, at noon.
    ours = tz.to_tz(lookup_tzid=False)
    for instant in instants_to_check(zone):
        if instant.hour == 12:
            assert instant.astimezone(ours).utcoffset() == instant.astimezone(zone).utcoffset(), instant


def changes(zone: ZoneInfo) -> list[datetime]:
    """The whole UTC hours in 2025-2027 at which zoneinfo's offset changes."""
    hour, found = datetime(2025, 1, 1, tzinfo=timezone.utc), []
    while hour < datetime(2028, 1, 1, tzinfo=timezone.utc):
        if hour.astimezone(zone).utcoffset() != (hour - timedelta(hours=1)).astimezone(zone).utcoffset():
            found.append(hour)
        hour += timedelta(hours=1)
    return found


def instants_to_check(zone: ZoneInfo) -> list[datetime]:
    """Noon every day of 2025-2027, and every hour from a day before to a day after each change."""
    noons = [datetime(2025, 1, 1, 12, tzinfo=timezone.utc) + timedelta(days=d) for d in range(3 * 365)]
    near = [change + timedelta(hours=h) for change in changes(zone) for h in range(-24, 25)]
    return sorted(set(noons + near))


def as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def test_text_with_commas_semicolons_and_newlines_is_escaped_and_round_trips():
    desc = "Linje 1, med komma; og semikolon\nLinje 2: C:\\sti\\til\\bilag"
    ics = invitation(meeting(location=PLACE, description=desc), **KW)
    assert b"LOCATION:KL\\, Weidekampsgade 10\\; 2300 K\xc3\xb8benhavn S\r\n" in ics
    _, event = parse(ics)
    assert str(event["LOCATION"]) == PLACE
    assert str(event["DESCRIPTION"]) == desc
    assert event["ORGANIZER"].params["CN"] == ORGANIZER_NAME  # the comma forces a quoted parameter


def test_long_danish_description_round_trips_exactly_in_folded_utf8_lines():
    ics = invitation(meeting(description=AGENDA), **KW)
    _, event = parse(ics)
    assert str(event["DESCRIPTION"]) == AGENDA
    assert str(event["SUMMARY"]) == "Kommunalt it-netværk på sundhedsområdet – møde"

    ics.decode("utf-8")  # strict: all UTF-8
    assert ics.endswith(b"\r\n") and b"\n" not in ics.replace(b"\r\n", b"")
    lines = ics.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines), "the long description must be folded"
    for line in lines:  # folding never splits a UTF-8 sequence
        line.decode("utf-8")


def test_video_link_goes_into_url_and_description():
    link = "https://meet.example.dk/kkr/it-netvaerk?id=42&pwd=xyz"
    _, event = parse(invitation(meeting(location=link, video_link=link, description="Dagsorden"), **KW))
    assert str(event["URL"]) == link
    assert str(event["LOCATION"]) == link
    assert str(event["DESCRIPTION"]) == f"{link}\n\nDagsorden"


def test_update_keeps_the_uid_and_raises_the_sequence():
    first = invitation(meeting(), **KW)
    moved = invitation(meeting(sequence=1, starts_at=datetime(2026, 12, 10, 11, 0, tzinfo=CPH),
                               ends_at=datetime(2026, 12, 10, 14, 0, tzinfo=CPH)), **KW)
    (_, a), (_, b) = parse(first), parse(moved)
    assert method_of(moved) == "REQUEST"
    assert str(a["UID"]) == str(b["UID"])
    assert b["SEQUENCE"] > a["SEQUENCE"]
    assert b["DTSTART"].dt.hour == 11


def test_cancellation_is_method_cancel_with_status_cancelled_and_the_same_uid():
    ics = cancellation(meeting(sequence=3), **KW)
    cal, event = parse(ics)
    assert str(cal["METHOD"]) == "CANCEL" == method_of(ics)
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == "it-netvaerk-2026-12-10@lists.example.dk"
    assert event["SEQUENCE"] == 3
    assert str(event["X-MICROSOFT-CDO-BUSYSTATUS"]) == "FREE"
    assert event["PRIORITY"] == 1
    attendee = event["ATTENDEE"]
    assert not isinstance(attendee, list) and str(attendee) == f"mailto:{ATTENDEE}"
    assert "RSVP" not in attendee.params
    assert str(event["ORGANIZER"]) == f"mailto:{ORGANIZER}"
    assert cal.get_missing_tzids() == set()


def test_utc_meeting_needs_no_vtimezone():
    cal, event = parse(invitation(meeting(timezone="UTC"), **KW))
    assert event["DTSTART"].dt == datetime(2026, 12, 10, 9, 0, tzinfo=timezone.utc)
    assert cal.timezones == [] and cal.get_missing_tzids() == set()


@pytest.mark.parametrize("bad", [
    dict(starts_at=datetime(2026, 12, 10, 10, 0)),
    dict(ends_at=datetime(2026, 12, 10, 9, 0, tzinfo=CPH)),
    dict(timezone="Europe/Atlantis"),
])
def test_naive_or_backwards_times_and_unknown_zones_are_refused(bad):
    with pytest.raises(ValueError):
        invitation(meeting(**bad), **KW)


# --- a real calendar client: khal ---------------------------------------------------


def test_khal_imports_the_invitation_and_the_update_replaces_it(khal, tmp_path):
    khal_import(khal, tmp_path, "invitation.ics", invitation(meeting(), **KW))
    assert khal_events(khal) == [
        f"2026-12-10 10:00|2026-12-10 13:00|Kommunalt it-netværk på sundhedsområdet – møde|{PLACE}"]
    [stored] = list(khal.vdir.iterdir())
    assert "TZID:Europe/Copenhagen" in stored.read_text()  # khal kept our VTIMEZONE

    moved = meeting(sequence=1, summary="Kommunalt it-netværk – flyttet møde",
                    starts_at=datetime(2026, 12, 10, 11, 0, tzinfo=CPH),
                    ends_at=datetime(2026, 12, 10, 14, 0, tzinfo=CPH))
    khal_import(khal, tmp_path, "update.ics", invitation(moved, **KW))
    assert khal_events(khal) == [f"2026-12-10 11:00|2026-12-10 14:00|Kommunalt it-netværk – flyttet møde|{PLACE}"]
    assert len(list(khal.vdir.iterdir())) == 1
    assert "SEQUENCE:1" in next(khal.vdir.iterdir()).read_text()

    khal_import(khal, tmp_path, "cancel.ics", cancellation(replace(moved, sequence=2), **KW))
    [line] = khal_events(khal)
    assert line.startswith("CANCELLED") and "2026-12-10 11:00" in line


# --- replies from real clients ---------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("outlook-accept.ics", ItipReply(uid="it-netvaerk-2026-12-10@lists.example.dk",
                                     attendee="soren.aero@aarhus.example.dk", partstat="ACCEPTED",
                                     organizer="it-netvaerk+k7q2x9m4@lists.example.dk", sequence=1)),
    ("google-declined.ics", ItipReply(uid="it-netvaerk-2026-12-10@lists.example.dk",
                                      attendee="mette.hansen.kbh@gmail.com", partstat="DECLINED",
                                      organizer="it-netvaerk+r3w8p1zt@lists.example.dk", sequence=0)),
    ("thunderbird-tentative.ics", ItipReply(uid="it-netvaerk-2026-12-10@lists.example.dk",
                                            attendee="lars.bogh@rksk.example.dk", partstat="TENTATIVE",
                                            organizer="it-netvaerk+5hd0c2va@lists.example.dk", sequence=2)),
])
def test_parse_reply_reads_client_replies(name, expected):
    data = (DATA / name).read_bytes()
    assert method_of(data) == "REPLY"
    assert parse_reply(data) == expected


@pytest.mark.parametrize("name", ["outlook-request.ics", "reply-without-event.ics"])
def test_parse_reply_ignores_calendars_that_are_not_replies(name):
    assert parse_reply((DATA / name).read_bytes()) is None


def test_parse_reply_ignores_our_own_request():
    assert parse_reply(invitation(meeting(), **KW)) is None
    assert parse_reply(cancellation(meeting(), **KW)) is None


@pytest.mark.parametrize("data", [
    b"",
    b"\x00\xff\xfe garbage \x80\x81",
    b"Hej Anne,\r\n\r\nJeg kommer gerne.\r\n",
    b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:x@y\r\n",  # truncated
    b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:x@y\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",  # no ATTENDEE
    b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:a@b.dk\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n",  # no UID
    b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VTODO\r\nUID:x@y\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
    (DATA / "outlook-accept.ics").read_bytes()[:300],
], ids=["empty", "binary", "plain-text", "empty-calendar", "truncated", "no-attendee", "no-uid", "vtodo",
        "cut-outlook"])
def test_parse_reply_returns_none_for_garbage(data):
    assert parse_reply(data) is None


def test_parse_reply_normalises_case_defaults_and_legacy_charsets():
    data = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:reply\r\nBEGIN:VEVENT\r\nUID:u-1@lists.example.dk\r\n"
            "SEQUENCE:x\r\nATTENDEE;CN=Bjørn;PARTSTAT=accepted:Mailto: Bjorn@Example.DK \r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n").encode("cp1252")
    assert parse_reply(data) == ItipReply(uid="u-1@lists.example.dk", attendee="bjorn@example.dk",
                                          partstat="ACCEPTED", organizer="", sequence=0)


def test_parse_reply_round_trips_a_reply_built_from_our_invitation():
    """What a client does: copy our VEVENT, set METHOD:REPLY and its own PARTSTAT."""
    cal, event = parse(invitation(meeting(sequence=4), **KW))
    cal["METHOD"] = "REPLY"
    event["ATTENDEE"].params["PARTSTAT"] = "DECLINED"
    reply = parse_reply(cal.to_ical())
    assert reply == ItipReply(uid="it-netvaerk-2026-12-10@lists.example.dk", attendee=ATTENDEE,
                              partstat="DECLINED", organizer=ORGANIZER, sequence=4)
    assert re.fullmatch(r"[a-z0-9.+\-]+@[a-z0-9.\-]+", reply.organizer)
