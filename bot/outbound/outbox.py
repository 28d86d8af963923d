"""The durable outbox: every outgoing mail is a row before it is a delivery.

Rows are inserted in the same transaction as the change that caused them, under a
unique dedupe key (e.g. kind + meeting + recipient + revision), so a retry or a
restart never queues the same mail twice. The sender takes due rows in batches
and records each result; 4xx and dropped connections back off exponentially until
the row's deadline, 5xx is a bounce.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, select

from bot.core.logs import log_event
from bot.store.models import AdminEvent, OutboxMessage

QUEUED, SENT, BOUNCED, EXPIRED = "queued", "sent", "bounced", "expired"
BATCH_BYTES = 20 * 1024 * 1024
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=2)


@dataclass(frozen=True)
class Delivery:
    """What the sender needs of one row (no ORM object crosses threads)."""

    id: int
    recipient: str
    envelope_from: str
    raw: bytes


@dataclass(frozen=True)
class Result:
    id: int
    status: str  # sent, retry, bounced
    detail: str = ""
    scores: bool = True  # a bounce that counts against the recipient (RCPT refused), not a refused text


def enqueue(session: Session, row: OutboxMessage) -> bool:
    """Add the row unless one with its dedupe key exists; True if it was added."""
    exists = session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == row.dedupe_key)).first()
    if exists is not None:
        return False
    session.add(row)
    return True


def queued(session: Session, dedupe_key: str) -> bool:
    return session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)).first() is not None


def due(session: Session, now: datetime, limit: int, exclude: set[int] = frozenset(),
        max_bytes: int = BATCH_BYTES) -> list[Delivery]:
    """Rows whose time has come, oldest first, leaving out those being sent right now.

    At most `limit` rows and about `max_bytes` of mail (at least one row), so a batch of
    large posts does not fill the memory."""
    sizes = session.exec(select(OutboxMessage.id, func.length(OutboxMessage.raw))
                         .where(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= now,
                                OutboxMessage.id.not_in(exclude) if exclude else True)
                         .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)).all()
    chosen, total = [], 0
    for outbox_id, size in sizes:
        if chosen and total + size > max_bytes:
            break
        chosen.append(outbox_id)
        total += size
    if not chosen:
        return []
    query = (select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.envelope_from, OutboxMessage.raw)
             .where(OutboxMessage.id.in_(chosen)).order_by(OutboxMessage.id))
    return [Delivery(*row) for row in session.exec(query)]


def record(session: Session, results: list[Result], now: datetime) -> list[OutboxMessage]:
    """Store a batch's results; return the rows that bounced (for bounce scoring).

    Deliveries are mostly plain successes: those are one UPDATE for the whole batch."""
    sent = [r.id for r in results if r.status == SENT]
    if sent:  # the text of a sent mail is not kept: the row stays as the record that it went
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(sent))
                        .values(status=SENT, sent_at=now, attempts=OutboxMessage.attempts + 1, last_error="",
                                raw=b""))
    bounced = []
    for result in results:
        if result.status == SENT:
            continue
        row = session.get(OutboxMessage, result.id)
        row.attempts += 1
        row.last_error = result.detail[:500]
        if result.status == BOUNCED:
            row.status = BOUNCED
            if result.scores:
                bounced.append(row)
        else:
            _retry_or_expire(session, row, now)
    return bounced


def _retry_or_expire(session: Session, row: OutboxMessage, now: datetime) -> None:
    delay = min(RETRY_BASE * 2 ** min(row.attempts - 1, 16), RETRY_CAP)
    if now + delay > row.deadline_at:
        row.status = EXPIRED
        session.add(AdminEvent(at=now, kind="outbox-expired",
                               detail=f"outbox #{row.id} ({row.kind}) to {row.recipient} given up after "
                                      f"{row.attempts} attempts: {row.last_error[:200]}"))
        log_event("outbox_expired", id=row.id, recipient=row.recipient, attempts=row.attempts)
    else:
        row.next_attempt_at = now + delay
        log_event("outbox_retry", id=row.id, recipient=row.recipient, attempt=row.attempts,
                  next_in_s=int(delay.total_seconds()), detail=row.last_error[:120])


def retry_now(session: Session, outbox_id: int, now: datetime) -> bool:
    """`kkrbot outbox retry ID`: queue a row again (also an expired or bounced one)."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None:
        return False
    if not row.raw:
        raise ValueError(f"outbox #{outbox_id} was sent; its text is not kept, so it cannot be sent again")
    row.status, row.next_attempt_at = QUEUED, now
    row.deadline_at = max(row.deadline_at, now + timedelta(days=1))
    return True
