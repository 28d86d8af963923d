"""Invitation mails as Outlook needs them: the MIME tree, the calendar inside, and a real client importing it."""
from __future__ import annotations

from email import message_from_bytes, policy

from icalendar import Calendar
from sqlmodel import select

from bot.meetings.letters import meeting_letter
from bot.outbound.compose import Recipient, compose
from bot.store.db import session_scope
from bot.store.models import Meeting
from tests.support.khal import khal, khal_events, khal_import  # noqa: F401  (the khal fixture)

SOREN = Recipient("soren.aero@aarhus.example.dk", "Søren Ærø", None)


def composed_letter(app, kind: str, series: str = "it-netvaerk/2026-12-10", recipient: Recipient = SOREN):
    with session_scope(app.engine) as session:
        meeting = session.exec(select(Meeting).where(Meeting.series_id == series)).one()
        composed = compose(app, session, meeting_letter(session, app.settings.network("it-netvaerk"), meeting,
                                                         kind, recipient, app.clock.now()))
    return composed.row, message_from_bytes(composed.raw, policy=policy.default)


def tree(part) -> object:
    if part.is_multipart():
        return (part.get_content_type(), [tree(p) for p in part.iter_parts()])
    return part.get_content_type()


def calendar_of(message) -> tuple[object, Calendar]:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part, Calendar.from_ical(part.get_payload(decode=True))


def test_the_mime_tree_outlook_shows_accept_decline_for(app):
    _, message = composed_letter(app, "invitation")
    assert tree(message) == ("multipart/mixed", [
        ("multipart/alternative", ["text/plain", "text/html", "text/calendar"]), "application/ics"])
    part, calendar = calendar_of(message)
    assert part.get_param("method") == str(calendar["METHOD"]) == "REQUEST"
    assert part.get_content_charset() == "utf-8"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_payload(decode=True) == part.get_payload(decode=True)


def test_the_calendar_names_the_recipient_and_their_own_reply_address(app):
    row, message = composed_letter(app, "invitation")
    _, calendar = calendar_of(message)
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == "it-netvaerk-2026-12-10@lists.example.dk"
    assert str(event["ORGANIZER"]) == f"mailto:{message['Reply-To']}"
    attendee = event["ATTENDEE"]
    assert not isinstance(attendee, list) and str(attendee) == f"mailto:{row.recipient}"
    assert (attendee.params["RSVP"], attendee.params["PARTSTAT"]) == ("TRUE", "NEEDS-ACTION")
    defined = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    used = {event[name].params["TZID"] for name in ("DTSTART", "DTEND")}
    assert used <= defined == {"Europe/Copenhagen"}
    assert message["X-Kkrbot-Kind"] == "invitation" and message["List-Unsubscribe"].startswith("<mailto:it-netvaerk+")
    assert message["List-Unsubscribe-Post"] is None and message["Precedence"] == "list"


def test_the_agenda_is_an_update_with_the_same_uid_and_the_agenda_in_the_description(app):
    _, invitation = composed_letter(app, "invitation")
    _, agenda = composed_letter(app, "agenda")
    [first], [update] = calendar_of(invitation)[1].walk("VEVENT"), calendar_of(agenda)[1].walk("VEVENT")
    assert str(update["UID"]) == str(first["UID"]) and update["ORGANIZER"] == first["ORGANIZER"]
    assert "Meddelelser" in str(update["DESCRIPTION"]) and "Eventuelt" in str(update["DESCRIPTION"])


def test_a_moved_meeting_raises_the_sequence_and_a_cancelled_one_is_method_cancel(app):
    with session_scope(app.engine) as session:
        meeting = session.exec(select(Meeting).where(Meeting.series_id == "it-netvaerk/2026-12-10")).one()
        before = meeting.sequence
        meeting.sequence += 1  # what config sync does when the time changes
    _, update = composed_letter(app, "meeting-update")
    [event] = calendar_of(update)[1].walk("VEVENT")
    assert int(event["SEQUENCE"]) == before + 1
    _, cancel = composed_letter(app, "cancel")
    part, calendar = calendar_of(cancel)
    [event] = calendar.walk("VEVENT")
    assert part.get_param("method") == str(calendar["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED" and str(event["UID"]) == "it-netvaerk-2026-12-10@lists.example.dk"


def test_a_real_calendar_client_imports_the_mail_s_invitation(app, khal, tmp_path):  # noqa: F811
    _, message = composed_letter(app, "invitation")
    [attachment] = list(message.iter_attachments())
    khal_import(khal, tmp_path, "from-mail.ics", attachment.get_payload(decode=True))
    [event] = khal_events(khal)
    assert "2026-12-10 10:00|2026-12-10 13:00|Kommunalt it-netværk på sundhedsområdet" in event


def test_preview_shows_a_danish_agenda_with_its_invitation(config_dir):
    from tests.support.process import kkrbot

    result = kkrbot(config_dir, "preview", "--network", "it-netvaerk", "--kind", "agenda")
    assert result.returncode == 0, result.stderr
    for text in ("Subject: Dagsorden:", "torsdag den 10. december 2026", "Meddelelser", "Eventuelt",
                 "method=REQUEST", "UID:it-netvaerk-2026-12-10@lists.example.dk"):
        assert text in result.stdout, text
    english = kkrbot(config_dir, "preview", "--kind", "invitation", "--lang", "en")
    assert "Thursday 10 December 2026" in english.stdout
