"""Answers that move a meeting forward: who comes (by mail or calendar), the draft's approval, the minutes.

The handlers have already checked the reply's token against its sender; here the
token's mail tells which meeting, and the sender's role whether they may approve.
"""
from __future__ import annotations

from bot.actions.outcomes import HANDLED, REJECTED, Outcome
from bot.actions.replies import refusal, reply
from bot.inbound.documents import text_of
from bot.inbound.reply_text import written_part
from bot.meetings.attendance import record_answer
from bot.meetings.cycle import agenda_sent
from bot.meetings.letters import meeting_letter, meeting_view
from bot.meetings.minutes import attendance_lists, minutes_files, readers, record_attendance, store_minutes
from bot.outbound.compose import Attachment, compose
from bot.outbound.outbox import enqueue
from bot.people.recipients import recipient
from bot.rules import authorize
from bot.rules.answers import APPROVE
from bot.store.models import Meeting

APPROVERS = ("chair", "vice-chair")


def answered_meeting(ctx, verdict: authorize.Verdict) -> Meeting | None:
    """The meeting the answered mail was about, while answers to it still make sense."""
    meeting_id = verdict.issued.meeting_id
    meeting = ctx.session.get(Meeting, meeting_id) if meeting_id else None
    if meeting is None or meeting.status == "cancelled" or ctx.app.clock.now() >= meeting.ends_at:
        return None
    return meeting


def rsvp(ctx, verdict: authorize.Verdict, status: str, kind: str) -> Outcome:
    """Registered, apologies or tentative, confirmed to the sender (rsvp-ack); the latest answer wins."""
    meeting = answered_meeting(ctx, verdict)
    if meeting is None or verdict.contact is None:
        refusal(ctx, "expired")
        return ctx.outcome(REJECTED, "the meeting is over, cancelled or unknown: nothing recorded", kind=kind)
    record_answer(ctx.session, meeting.id, verdict.contact.id, status, ctx.app.clock.now())
    ctx.audit("rsvp", f"{status} for {meeting.series_id}")
    sent = reply(ctx, "rsvp-ack", {"meeting": meeting_view(meeting), "response": status}, tag=status,
                 meeting_id=meeting.id)
    confirmed = "confirmed" if sent else "confirmation not sent (daily limit)"
    return ctx.outcome(HANDLED, f"{status} for {meeting.series_id}; {confirmed}", kind=kind)


def draft_answer(ctx, verdict: authorize.Verdict, meaning: str, kind: str) -> Outcome:
    """Godkend or Afvent from the chair or vice-chair; the latest answer wins until the agenda goes out."""
    meeting = answered_meeting(ctx, verdict)
    if meeting is None or verdict.contact is None:
        return ctx.outcome(REJECTED, "the meeting is over, cancelled or unknown", kind=kind)
    if not _approver(ctx, verdict.contact.id):
        refusal(ctx, "not-allowed")
        return ctx.outcome(REJECTED, "only the chair and vice-chair answer the draft agenda", kind=kind)
    if agenda_sent(ctx.session, meeting.id):
        return ctx.outcome(HANDLED, "the agenda had already gone out: the answer changes nothing", kind=kind)
    meeting.agenda_answer = "approve" if meaning == APPROVE else "hold"
    meeting.agenda_answered_at = ctx.app.clock.now()
    ctx.audit(f"agenda-{meeting.agenda_answer}", f"draft agenda for {meeting.series_id}")
    return ctx.outcome(HANDLED, f"draft agenda for {meeting.series_id}: {meeting.agenda_answer}", kind=kind)


def _approver(ctx, contact_id: int) -> bool:
    return _holds(ctx, contact_id, APPROVERS)


def _holds(ctx, contact_id: int, roles: tuple[str, ...]) -> bool:
    return authorize.holds_role(ctx.session, ctx.network.slug, contact_id, roles)


def minutes(ctx, verdict: authorize.Verdict, kind: str) -> Outcome:
    """The secretary's answer to the minutes request: stored, sent to the members and the right KKR
    consultants with the original files, and receipted to the secretary (minutes-ack)."""
    meeting_id = verdict.issued.meeting_id
    meeting = ctx.session.get(Meeting, meeting_id) if meeting_id else None
    if meeting is None or verdict.contact is None:
        return ctx.outcome(REJECTED, "the minutes request answered is for no meeting we know", kind=kind)
    if not _holds(ctx, verdict.contact.id, ("secretary",)):
        refusal(ctx, "not-allowed")
        return ctx.outcome(REJECTED, "only the secretary sends the minutes", kind=kind)
    now = ctx.app.clock.now()
    files = [a for a in ctx.mail.attachments if a.data is not None]
    text = "\n\n".join(filter(None, [written_part(ctx.mail.text)]
                                    + [text_of(f.filename, f.content_type, f.data) for f in files]))
    record = store_minutes(ctx.session, meeting, text, ctx.row.id, files, now)
    matched = record_attendance(ctx.session, ctx.network, meeting, text, now)
    people, consultants = readers(ctx.session, ctx.network)
    sent = _send_minutes(ctx, meeting, record, [*people, *consultants], verdict.contact)
    record.distributed_at = now
    ctx.audit("minutes-published", f"minutes #{record.id} of {meeting.series_id} to {sent} readers")
    reply(ctx, "minutes-ack", {"meeting": meeting_view(meeting), "members_count": len(people),
                               "consultants": [{"name": c.name, "region": c.region, "email": c.email}
                                               for c in consultants]}, meeting_id=meeting.id)
    return ctx.outcome(HANDLED, f"minutes of {meeting.series_id} sent to {sent} ({len(consultants)} KKR "
                                f"consultants); {matched} attendance lines matched", kind=kind)


def _send_minutes(ctx, meeting: Meeting, record, readers_, secretary) -> int:
    files = tuple(Attachment(a.filename, a.content_type, a.data) for a in minutes_files(ctx.session, record))
    extra = {"minutes_text": record.text, "attendance": attendance_lists(ctx.session, meeting, ctx.network.language),
             "secretary": {"name": secretary.name}}
    queued = 0
    for contact in readers_:
        letter = meeting_letter(ctx.session, ctx.network, meeting, "minutes", recipient(contact), ctx.app.clock.now(),
                                occurrence=f"minutes-{record.id}-{ctx.row.id}", extra=extra)
        letter.attachments = files
        queued += enqueue(ctx.session, compose(ctx.app, ctx.session, letter))
    return queued
