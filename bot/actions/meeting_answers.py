"""Answers that move a meeting forward: who comes (by mail or from a calendar), and the draft's approval.

The handlers have already checked the reply's token against its sender; here the
token's mail tells which meeting, and the sender's role whether they may approve.
"""
from __future__ import annotations

from sqlmodel import select

from bot.actions.outcomes import HANDLED, REJECTED, Outcome
from bot.actions.replies import refusal, reply
from bot.meetings.attendance import record_answer
from bot.meetings.cycle import agenda_sent
from bot.meetings.letters import meeting_view
from bot.rules import authorize
from bot.rules.answers import APPROVE
from bot.store.models import Meeting, Membership, Network

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
    return ctx.outcome(HANDLED, f"draft agenda for {meeting.series_id}: {meeting.agenda_answer}", kind=kind)


def _approver(ctx, contact_id: int) -> bool:
    query = (select(Membership.id).join(Network).where(Network.slug == ctx.network.slug,
                                                        Membership.contact_id == contact_id,
                                                        Membership.active == True,  # noqa: E712
                                                        Membership.role.in_(APPROVERS)))
    return ctx.session.exec(query).first() is not None
