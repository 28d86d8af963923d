"""Retention: raw received mail and finished outbox rows older than `retention_days` are deleted.

A nightly job (and any later run: it is a plain function of the clock). What the year's
agendas, minutes and attendance report need lives in their own tables (items, bilag,
minutes, attendance), so a received mail's row and bytes can go; a pointer to it from an
item or minutes is cleared. Mail still being handled, and a relayed post whose copies are
still queued, and a post still waiting for its moderator, are never touched. Each network keeps its mail for its own number of days.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlmodel import Session

from bot.config.settings import Settings
from bot.store.audit import SYSTEM, audit
from bot.store.models import (
    STATE_DONE,
    AgendaItem,
    Bounce,
    HeldPost,
    InboundMessage,
    InboundRaw,
    Minutes,
    OutboxMessage,
    OutboxPart,
    SendJob,
)

FINISHED = ("sent", "bounced", "expired", "failed")


@dataclass(frozen=True)
class Purged:
    inbound: int = 0
    outbox: int = 0
    bounces: int = 0

    @property
    def any(self) -> bool:
        return bool(self.inbound or self.outbox or self.bounces)


def _older(column, settings: Settings, slug_column, now: datetime):
    """`column` is older than its network's retention (bot.toml's for mail of no network)."""
    slugs = [n.slug for n in settings.networks]
    per_network = [and_(slug_column == slug, column < now - timedelta(days=settings.retention_for(slug)))
                   for slug in slugs]
    default = and_(or_(slug_column.is_(None), slug_column.not_in(slugs)),
                   column < now - timedelta(days=settings.retention_days))
    return or_(*per_network, default)


def purge(session: Session, settings: Settings, now: datetime) -> Purged:
    """Delete what is past retention (the caller commits); audited when anything went."""
    outbox_ids = list(session.execute(select(OutboxMessage.id).where(
        OutboxMessage.status.in_(FINISHED),
        _older(OutboxMessage.created_at, settings, OutboxMessage.network_slug, now))).scalars())
    _delete_outbox(session, outbox_ids)
    inbound_ids = list(session.execute(select(InboundMessage.id).where(
        InboundMessage.state == STATE_DONE, ~InboundMessage.id.in_(_jobs_in_use()),
        ~InboundMessage.id.in_(select(HeldPost.inbound_id).where(HeldPost.status == "held")),
        _older(InboundMessage.received_at, settings, InboundMessage.network_slug, now))).scalars())
    _delete_inbound(session, inbound_ids)
    bounces = session.execute(delete(Bounce).where(Bounce.at < now - timedelta(days=settings.retention_days)))
    purged = Purged(len(inbound_ids), len(outbox_ids), bounces.rowcount or 0)
    if purged.any:
        audit(session, now, SYSTEM, "retention", detail=f"past retention: {purged.inbound} received mails, "
                                                        f"{purged.outbox} sent, {purged.bounces} bounces deleted")
    return purged


def _jobs_in_use():
    """Received mail a relayed post's copies still use (queued, or not yet past retention)."""
    return select(SendJob.inbound_id).join(OutboxMessage, OutboxMessage.job_id == SendJob.id)


def _delete_outbox(session: Session, ids: list[int]) -> None:
    if ids:
        session.execute(update(Bounce).where(Bounce.outbox_id.in_(ids)).values(outbox_id=None))
        session.execute(delete(OutboxPart).where(OutboxPart.outbox_id.in_(ids)))
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
    unused = select(SendJob.id).where(~SendJob.id.in_(select(OutboxMessage.job_id).where(
        OutboxMessage.job_id.is_not(None))))
    session.execute(delete(SendJob).where(SendJob.id.in_(unused)))


def _delete_inbound(session: Session, ids: list[int]) -> None:
    if not ids:
        return
    for column in (AgendaItem.inbound_id, Minutes.inbound_id, Bounce.inbound_id):
        session.execute(update(column.class_).where(column.in_(ids)).values({column.key: None}))
    session.execute(delete(HeldPost).where(HeldPost.inbound_id.in_(ids)))  # decided long ago: the mail goes
    session.execute(delete(InboundRaw).where(InboundRaw.inbound_id.in_(ids)))
    session.execute(delete(InboundMessage).where(InboundMessage.id.in_(ids)))


def oldest_kept(session: Session) -> tuple[datetime | None, datetime | None]:
    """The oldest received mail still stored, and the oldest outbox row: what `kkrbot status` shows."""
    inbound = session.execute(select(func.min(InboundMessage.received_at))).scalar()
    outbox = session.execute(select(func.min(OutboxMessage.created_at))).scalar()
    return inbound, outbox
