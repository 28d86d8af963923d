"""Letters about a meeting: the invitation, the agenda (an update of it), changes and cancellation.

One calendar entry per meeting: the UID comes from the meeting's identity, the
ORGANIZER is the recipient's own `+<token>` address (the token is stable for that
meeting and recipient, so every update names the same organizer), and SEQUENCE is
the meeting's, raised by config sync when time, place or status changes.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot.config.networks import NetworkConfig
from bot.outbound.calendar_invites import CalendarMeeting, calendar_uid, cancellation, invitation, method_of
from bot.outbound.compose import Attachment, CalendarPart, Letter, Recipient
from bot.outbound.templates import person_name
from bot.store.models import AgendaItem, Appendix, Attendance, Contact, Meeting, Network

CALENDAR_KINDS = ("invitation", "agenda", "meeting-update", "cancel")


def meeting_view(meeting: Meeting) -> dict:
    return {"starts_at": meeting.starts_at, "ends_at": meeting.ends_at, "mode": meeting.mode,
            "place": meeting.place, "video_link": meeting.video_link, "status": meeting.status}


def previous_view(meeting: Meeting) -> dict:
    """Where and when the meeting was before its last change (itself, if it never changed)."""
    before = meeting.previous or {}
    view = {k: v for k, v in meeting_view(meeting).items() if k != "status"}
    for key in view:
        if key in before:
            view[key] = datetime.fromisoformat(before[key]) if key.endswith("_at") else before[key]
    return view


def agenda_items(session: Session, meeting: Meeting, lang: str = "da") -> tuple[list[dict], list[Attachment]]:
    """The meeting's items in order, appendices numbered "Bilag N" across the agenda."""
    items, files, number = [], [], 0
    query = select(AgendaItem).where(AgendaItem.meeting_id == meeting.id,
                                     AgendaItem.status.not_in(("withdrawn", "waiting")))
    for item in session.exec(query.order_by(AgendaItem.position, AgendaItem.id)):
        submitter = session.get(Contact, item.submitter_id) if item.submitter_id else None
        appendices = []
        for appendix in session.exec(select(Appendix).where(Appendix.agenda_item_id == item.id).order_by(Appendix.id)):
            number += 1
            appendices.append({"number": number, "filename": appendix.filename, "size": appendix.size})
            files.append(Attachment(f"Bilag {number} - {appendix.filename}", appendix.content_type, appendix.data))
        items.append({"title": item.title, "summary": item.summary, "background": item.background,
                      "proposal": item.proposal, "decision": item.decision, "late": item.status == "late",
                      "submitter": {"name": person_name(submitter.name, lang), "organisation": submitter.organisation}
                      if submitter else None,
                      "appendices": appendices})
    return items, files


def attendance_names(session: Session, meeting: Meeting, lang: str = "da") -> dict[str, list[str]]:
    names: dict[str, list[str]] = {"registered": [], "apologies": [], "tentative": []}
    for attendance, contact in _answers(session, meeting):
        names.setdefault(attendance.status, []).append(person_name(contact.name, lang))
    return names


def attendance_by_region(session: Session, meeting: Meeting, lang: str = "da") -> dict[str, list[dict]]:
    """Who answered what, by region (KL and MedCom staff by organisation): the day-before reminder
    shows it so, as the regions' representatives see at a glance who comes from their region."""
    grouped: dict[str, dict[str, list[str]]] = {"registered": {}, "apologies": {}, "tentative": {}}
    for attendance, contact in _answers(session, meeting):
        where = contact.region or contact.organisation
        grouped.setdefault(attendance.status, {}).setdefault(where, []).append(person_name(contact.name, lang))
    return {status: [{"region": where, "names": names} for where, names in sorted(groups.items())]
            for status, groups in grouped.items()}


def _answers(session: Session, meeting: Meeting):
    query = select(Attendance, Contact).join(Contact).where(Attendance.meeting_id == meeting.id)
    return session.exec(query.order_by(Contact.name)).all()


def meeting_context(session: Session, network: NetworkConfig, meeting: Meeting) -> tuple[dict, list[Attachment]]:
    """Everything the meeting kinds' templates may use."""
    items, files = agenda_items(session, meeting, network.language)
    lead = network.lead_times
    names = attendance_names(session, meeting, network.language)
    context = {"meeting": meeting_view(meeting), "previous": previous_view(meeting), "items": items, "items_so_far": len(items),
               "deadline": meeting.starts_at - timedelta(days=lead.draft),
               "agenda_at": meeting.starts_at - timedelta(days=lead.agenda),
               "registered": names["registered"], "apologies": names["apologies"], "tentative": names["tentative"],
               "by_region": attendance_by_region(session, meeting, network.language)}
    return context, files


def calendar_meeting(network: NetworkConfig, meeting: Meeting, description: str) -> CalendarMeeting:
    return CalendarMeeting(
        uid=calendar_uid(meeting.series_id, network.domain), sequence=meeting.sequence,
        summary=network.name, starts_at=meeting.starts_at, ends_at=meeting.ends_at, timezone=network.timezone,
        location=meeting.place if meeting.mode == "physical" else (meeting.video_link or meeting.place),
        video_link=meeting.video_link, description=description)


def meeting_letter(session: Session, network: NetworkConfig, meeting: Meeting, kind: str, recipient: Recipient,
                   now, occurrence: str = "", extra: dict | None = None) -> Letter:
    """One meeting mail to one person, with its calendar part for the calendar kinds. `occurrence`
    tells repeated mails of one kind apart (the weekly minutes reminder)."""
    context, files = meeting_context(session, network, meeting)
    letter = Letter(kind=kind, network=network, recipient=recipient, context=context | (extra or {}),
                    meeting_id=meeting.id,
                    dedupe_key=f"{kind}:{meeting.series_id}:{recipient.address}:{meeting.sequence}"
                               + (f":{occurrence}" if occurrence else ""),
                    token_parts=("meeting", meeting.series_id) if kind in CALENDAR_KINDS else (),
                    attachments=tuple(files) if kind == "agenda" else ())
    if kind in CALENDAR_KINDS:
        letter.calendar = _calendar_builder(network, meeting, kind, recipient, now)
    return letter


def _calendar_builder(network, meeting, kind, recipient, now):
    """The calendar part, built at compose time: the organizer is the recipient's +token address
    and the description the mail's own text (for the agenda: the agenda)."""
    build = cancellation if kind == "cancel" or meeting.status == "cancelled" else invitation

    def part(organizer: str, text: str) -> CalendarPart:
        ics = build(calendar_meeting(network, meeting, text), organizer=organizer,
                    organizer_name=network.name, attendee=recipient.address,
                    attendee_name=recipient.name or recipient.address, now=now)
        return CalendarPart(ics=ics, method=method_of(ics))
    return part


def next_meeting(session: Session, network_slug: str, now) -> Meeting | None:
    query = (select(Meeting).join(Network).where(Network.slug == network_slug, Meeting.ends_at >= now)
             .order_by(Meeting.starts_at))
    return session.exec(query).first()
