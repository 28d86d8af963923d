"""Agenda items by e-mail: proposed, corrected, and taken in late by the chair.

A member proposes an item with the subject `Dagsordenspunkt: <titel>` or by answering
the call for items; the written part of the mail is the item (bot/meetings/items.py
reads its sections) and its attachments are its appendices. The proposer gets the
item as recorded (item-ack) and corrects it by answering that. An item after the
deadline goes to the meeting after (item-late), and the chair is asked whether to take
it in late (late-item-approval); their Godkend puts it on this meeting's agenda.
"""
from __future__ import annotations

from bot.actions.outcomes import HANDLED, REJECTED, Outcome
from bot.actions.replies import refusal, reply
from bot.inbound.reply_text import GREETING, written_part
from bot.meetings.cycle import agenda_sent
from bot.meetings.items import HEADING, Placement, add_item, item_view, placement, sections
from bot.meetings.letters import meeting_view
from bot.outbound.compose import AUTO_GENERATED, Letter, compose
from bot.outbound.outbox import enqueue
from bot.people.recipients import recipient, role_holders
from bot.rules import authorize
from bot.rules.classify import REPLY_PREFIX
from bot.store.models import AgendaItem, Contact, Meeting


def propose_by_command(ctx, title: str, contact: Contact, kind: str) -> Outcome:
    """`Dagsordenspunkt: <titel>`: the whole written part is the item."""
    return _propose(ctx, title, written_part(ctx.mail.text), contact, kind, placement(
        ctx.session, ctx.network, ctx.app.clock.now()))


def propose_by_answer(ctx, verdict: authorize.Verdict, kind: str) -> Outcome:
    """An answer to the call for items: its first line is the title, unless it starts with a section."""
    text = written_part(ctx.mail.text)
    lines = [line for line in text.split("\n") if line.strip() and not GREETING.match(line.strip())]
    title = REPLY_PREFIX.sub("", ctx.mail.subject).strip()
    if lines and not HEADING.match(lines[0]):
        title, text = lines[0].strip(), "\n".join(lines[1:])
    meeting = ctx.session.get(Meeting, verdict.issued.meeting_id) if verdict.issued.meeting_id else None
    if meeting is None or verdict.contact is None:
        return ctx.outcome(REJECTED, "the call answered is for no meeting we know", kind=kind)
    return _propose(ctx, title, text, verdict.contact, kind, placement(ctx.session, ctx.network,
                                                                       ctx.app.clock.now(), first=meeting))


def _propose(ctx, title: str, text: str, contact: Contact, kind: str, place: Placement | None) -> Outcome:
    if place is None:
        refusal(ctx, "unknown-meeting")
        return ctx.outcome(REJECTED, "no meeting of the network is planned: the item was not recorded", kind=kind)
    item = add_item(ctx.session, place.meeting, title or "(uden titel)", sections(text), contact.id, ctx.row.id,
                    ctx.mail.attachments, ctx.app.clock.now())
    ctx.audit("item-proposed", f"item #{item.id} for {place.meeting.series_id}")
    view = item_view(ctx.session, item)
    if place.late_for is None:
        reply(ctx, "item-ack", {"meeting": meeting_view(place.meeting), "item": view}, meeting_id=place.meeting.id,
              token_ref=str(item.id))
        return ctx.outcome(HANDLED, f"item #{item.id} for {place.meeting.series_id}", kind=kind)
    if place.meeting.id == place.late_for.id:
        item.status = "waiting"  # no later meeting yet: it waits for the chair, or for one to be planned
    later = None if place.meeting.id == place.late_for.id else meeting_view(place.meeting)
    reply(ctx, "item-late", {"meeting": meeting_view(place.late_for), "item": view, "next_meeting": later})
    asked = _ask_chair(ctx, item, place.late_for, contact)
    return ctx.outcome(HANDLED, f"item #{item.id} after the deadline of {place.late_for.series_id}; "
                                f"{'the chair was asked' if asked else 'no chair to ask'}", kind=kind)


def _ask_chair(ctx, item: AgendaItem, meeting: Meeting, proposer: Contact) -> int:
    """The late-item-approval to each chair: a Godkend takes the item in on this meeting."""
    asked = 0
    for chair in role_holders(ctx.session, ctx.network.slug, "chair"):
        letter = Letter(kind="late-item-approval", network=ctx.network, recipient=recipient(chair),
                        dedupe_key=f"late-item-approval:{item.id}:{chair.email}", meeting_id=meeting.id,
                        token_ref=str(item.id), auto_submitted=AUTO_GENERATED,
                        context={"meeting": meeting_view(meeting), "item": item_view(ctx.session, item),
                                 "proposer": {"name": proposer.name}})
        asked += enqueue(ctx.session, compose(ctx.app, ctx.session, letter))
    return asked


def correct(ctx, verdict: authorize.Verdict, kind: str) -> Outcome:
    """An answer to an item-ack replaces the item's text, until the agenda has gone out."""
    item = _item_of(ctx, verdict)
    if item is None:
        return ctx.outcome(REJECTED, "the item answered is gone", kind=kind)
    if agenda_sent(ctx.session, item.meeting_id):
        refusal(ctx, "expired")
        return ctx.outcome(REJECTED, f"item #{item.id}: the agenda has gone out; not changed", kind=kind)
    parts = sections(written_part(ctx.mail.text))
    item.summary, item.background, item.proposal = parts.summary, parts.background, parts.proposal
    meeting = ctx.session.get(Meeting, item.meeting_id)
    reply(ctx, "item-ack", {"meeting": meeting_view(meeting), "item": item_view(ctx.session, item)},
          meeting_id=meeting.id, token_ref=str(item.id), tag="correction")
    ctx.audit("item-corrected", f"item #{item.id}")
    return ctx.outcome(HANDLED, f"item #{item.id} corrected", kind=kind)


def take_in_late(ctx, verdict: authorize.Verdict, kind: str) -> Outcome:
    """The chair's Godkend to a late-item-approval: the item joins the meeting it was late for."""
    item = _item_of(ctx, verdict)
    meeting = ctx.session.get(Meeting, verdict.issued.meeting_id) if verdict.issued.meeting_id else None
    if item is None or meeting is None:
        return ctx.outcome(REJECTED, "the item or meeting answered is gone", kind=kind)
    if agenda_sent(ctx.session, meeting.id) or ctx.app.clock.now() >= meeting.starts_at:
        return ctx.outcome(HANDLED, f"item #{item.id}: too late even so, the agenda has gone out", kind=kind)
    item.meeting_id, item.status = meeting.id, "late"
    ctx.audit("item-taken-in-late", f"item #{item.id} for {meeting.series_id}")
    return ctx.outcome(HANDLED, f"item #{item.id} taken in late for {meeting.series_id}", kind=kind)


def _item_of(ctx, verdict: authorize.Verdict) -> AgendaItem | None:
    ref = verdict.issued.ref
    return ctx.session.get(AgendaItem, int(ref)) if ref.isdigit() else None


