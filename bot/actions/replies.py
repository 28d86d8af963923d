"""Answers to an inbound mail (help, refusals, confirmations), queued through the outbox.

A reply goes to the From address (or to whoever it concerns, `to`), threads under
the mail it answers, and is marked `Auto-Submitted: auto-replied`. We never answer
our own addresses. One limit covers every answer: at most 10 a day to one person
(counted by their registered address, so aliases share it) and one a day to an
address the bot does not know; it is counted in the database, in the transaction
that queues the answer, so a batch cannot slip past it.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, or_, select

from bot.core.logs import log_event
from bot.outbound.compose import AUTO_REPLIED, Attachment, Letter, Recipient, compose
from bot.outbound.outbox import enqueue
from bot.people.recipients import sender_recipient
from bot.store.db import serialize_on
from bot.store.models import OutboxMessage

DAILY_CAP = 10  # automatic answers to one person a day: the last guard against mail loops and floods
STRANGER_DAILY_CAP = 1  # to an address that is no contact (it may be forged): no backscatter

# Mail that only confirms what the bot did. X-Auto-Response-Suppress (Exchange) is the sender asking
# not to be answered automatically: we honour it for these, and still act on the mail. Not for `settings`:
# that confirmation is also how a member learns that someone forged their From to pause them, and a
# forger could add the header.
ACKNOWLEDGEMENTS = ("item-ack", "rsvp-ack", "unsubscribe-done", "moderation-result")


def reply(ctx, kind: str, context: dict | None = None, tag: str = "", to: Recipient | None = None,
          meeting_id: int | None = None, token_ref: str = "", attachments: tuple[Attachment, ...] = ()) -> bool:
    """Queue a `kind` mail answering the inbound message in `ctx` (to its sender, or `to`); False when
    there is nobody to answer, the sender asked for no acknowledgements, or the daily limit stopped it."""
    mail, network = ctx.mail, ctx.network
    recipient = to or (sender_recipient(ctx.session, mail.from_address, mail.from_name) if mail.from_address else None)
    if recipient is None or recipient.address.endswith("@" + network.domain):
        return False
    if kind in ACKNOWLEDGEMENTS and suppresses_acknowledgements(mail):
        return False
    if not within_daily_limit(ctx.session, ctx.app.clock.now(), recipient, kind):
        return False
    letter = Letter(
        kind=kind, network=network, recipient=recipient,
        dedupe_key=f"reply:{ctx.row.id}:{kind}{':' + tag if tag else ''}",
        context=context or {}, auto_submitted=AUTO_REPLIED, meeting_id=meeting_id, token_ref=token_ref,
        in_reply_to=mail.message_id, references=tuple(mail.references), attachments=attachments)
    return enqueue(ctx.session, compose(ctx.app, ctx.session, letter))


def refusal(ctx, reason: str, detail: str = "", to: Recipient | None = None) -> bool:
    """A polite refusal that says what to do instead."""
    return reply(ctx, "refusal", {"reason": reason, "original_subject": ctx.mail.subject, "detail": detail},
                 tag=reason, to=to)


CAP_LOCK = 0x6B6B7201  # advisory lock namespace: the daily cap of one mailbox


def within_daily_limit(session: Session, now: datetime, recipient: Recipient, kind: str) -> bool:
    """May one more answer go to `recipient` today? 10 to a contact, 1 to an address we do not know.
    Mail that answers a stored mail later (a moderation result) counts the same way, under `reply:` keys."""
    limit = DAILY_CAP if recipient.contact_id is not None else STRANGER_DAILY_CAP
    if answered_today(session, now, recipient.address) >= limit:
        log_event("reply_stopped", to=recipient.address, kind=kind, limit=limit)
        return False
    return True


def answered_today(session: Session, now: datetime, address: str) -> int:
    """Answers queued to `address`'s mailbox in the last 24 hours, those of this batch included.
    Sub-addresses count as their mailbox (victim+1@, victim+2@ are one victim)."""
    session.flush()  # the batch's own answers are rows too before the count
    since = now - timedelta(days=1)
    local, _, domain = address.lower().rpartition("@")
    mailbox = local.split("+", 1)[0]
    # Two processes answering one person at once would each count 9 and each add the 10th.
    serialize_on(session, CAP_LOCK, f"{mailbox}@{domain}")
    tagged = mailbox.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "+%@" + domain
    query = select(func.count()).select_from(OutboxMessage).where(
        or_(OutboxMessage.recipient == f"{mailbox}@{domain}", OutboxMessage.recipient.like(tagged, escape="\\")),
        OutboxMessage.dedupe_key.like("reply:%"), OutboxMessage.created_at >= since)
    return session.exec(query).one()


def suppresses_acknowledgements(mail) -> bool:
    """X-Auto-Response-Suppress: All, or a list naming AutoReply (Exchange's values)."""
    values = {v.strip().lower() for v in mail.header("X-Auto-Response-Suppress").split(",")}
    return bool(values & {"all", "autoreply"})
