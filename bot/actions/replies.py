"""Answers to an inbound mail (help, refusals, confirmations), queued through the outbox.

A reply goes to the From address, threads under the mail it answers, and is
marked `Auto-Submitted: auto-replied`. We never answer our own addresses.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import select

from bot.core.logs import log_event
from bot.outbound.compose import AUTO_REPLIED, Letter, compose
from bot.outbound.outbox import enqueue
from bot.people.recipients import sender_recipient
from bot.rules.answers import AUTOMATIC
from bot.store.models import OutboxMessage

DAILY_CAP = 10  # automatic answers to one address a day: the last guard against mail loops

# Mail that only confirms what the bot did. X-Auto-Response-Suppress (Exchange) is the sender asking
# not to be answered automatically: we honour it for these, and still act on the mail.
ACKNOWLEDGEMENTS = ("item-ack", "rsvp-ack", "unsubscribe-done", "moderation-result")


def reply(ctx, kind: str, context: dict | None = None, tag: str = "") -> bool:
    """Queue a `kind` mail answering the inbound message in `ctx`; False when there is nobody to answer
    or the sender asked for no acknowledgements."""
    mail, network = ctx.mail, ctx.network
    if not mail.from_address or mail.from_address.endswith("@" + network.domain):
        return False
    if kind in ACKNOWLEDGEMENTS and suppresses_acknowledgements(mail):
        return False
    if _answered_today(ctx, mail.from_address) >= DAILY_CAP:
        log_event("reply_capped", to=mail.from_address, kind=kind)
        return False
    letter = Letter(
        kind=kind, network=network,
        recipient=sender_recipient(ctx.session, mail.from_address, mail.from_name),
        dedupe_key=f"reply:{ctx.row.id}:{kind}{':' + tag if tag else ''}",
        context=context or {}, auto_submitted=AUTO_REPLIED,
        in_reply_to=mail.message_id, references=tuple(mail.references))
    return enqueue(ctx.session, compose(ctx.app, ctx.session, letter))


def refusal(ctx, reason: str, detail: str = "") -> bool:
    """A polite refusal that says what to do instead."""
    return reply(ctx, "refusal", {"reason": reason, "original_subject": ctx.mail.subject, "detail": detail},
                 tag=reason)


def _answered_today(ctx, address: str) -> int:
    since = ctx.app.clock.now() - timedelta(days=1)
    query = select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.recipient == address.lower(), OutboxMessage.kind.in_(AUTOMATIC), OutboxMessage.created_at >= since)
    return ctx.session.exec(query).one()


def suppresses_acknowledgements(mail) -> bool:
    """X-Auto-Response-Suppress: All, or a list naming AutoReply (Exchange's values)."""
    values = {v.strip().lower() for v in mail.header("X-Auto-Response-Suppress").split(",")}
    return bool(values & {"all", "autoreply"})
