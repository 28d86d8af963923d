"""The durable outbox: every outgoing mail is a row before it is a delivery.

Rows are inserted in the same transaction as the change that caused them, under a
unique dedupe key (e.g. kind + meeting + recipient + revision), so a retry or a
restart never queues the same mail twice. The sender takes due rows in batches
and records each result; 4xx and dropped connections back off exponentially until
the row's deadline, 5xx is a bounce.

A row is small: what is personal. Content that many rows carry is stored once (a
send job's original, an attachment in SharedContent) and joined in at send time
(bot/outbound/copies.py); an attachment is dropped when no queued row needs it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, update
from sqlmodel import Session, select

from bot.core.logs import log_event
from bot.outbound.compose import Composed
from bot.outbound.copies import Part, QueuedRow, joined
from bot.store.blobs import raw_size
from bot.store.models import AdminEvent, OutboxMessage, OutboxPart, SendJob, SharedContent

QUEUED, SENT, BOUNCED, EXPIRED = "queued", "sent", "bounced", "expired"
FAILED = "failed"  # the mail could not be made: the content it shares is gone
BATCH_BYTES = 20 * 1024 * 1024
RETRY_BASE = timedelta(minutes=1)  # bot.toml [outbox] retry_base_seconds
RETRY_CAP = timedelta(hours=2)


@dataclass(frozen=True)
class Delivery:
    """What the sender needs of one row (no ORM object crosses threads): the envelope and
    the copy's parts, shared pieces being the same objects in every copy."""

    id: int
    recipient: str
    envelope_from: str
    parts: tuple[Part, ...]

    @property
    def raw(self) -> bytes:
        return joined(self.parts)


@dataclass(frozen=True)
class Result:
    id: int
    status: str  # sent, retry, bounced
    detail: str = ""
    scores: bool = True  # a bounce that counts against the recipient (RCPT refused), not a refused text


def enqueue(session: Session, composed: Composed) -> bool:
    """Add the composed row (and its attachments, each stored once) unless one with its dedupe key
    exists; True if it was added."""
    row, shared = composed.row, composed.shared
    exists_already = session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == row.dedupe_key)).first()
    if exists_already is not None:
        return False
    session.add(row)
    if shared:
        session.flush()
        for position, slot in enumerate(shared):
            if session.get(SharedContent, slot.sha256) is None:
                session.add(SharedContent(sha256=slot.sha256, size=len(slot.data), data=slot.data,
                                          created_at=row.created_at))
            session.add(OutboxPart(outbox_id=row.id, position=position, offset=slot.offset, sha256=slot.sha256))
    return True


def queued(session: Session, dedupe_key: str) -> bool:
    return session.exec(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)).first() is not None


def claim(session: Session, now: datetime, limit: int, holder: str, hold: timedelta,
          exclude: set[int] = frozenset(), max_bytes: int = BATCH_BYTES) -> list[QueuedRow]:
    """Claim the rows whose time has come, oldest first, for `holder` to send; return them.

    A claim moves the row's next attempt to `now + hold`, so no other process (nor this one's next
    batch) takes it while it is on the wire; recording its result ends the claim. A process that
    dies with a batch claimed leaves it to the others when `hold` has passed: that batch is the one
    that may be sent twice. Rows another process is claiming this instant are skipped (SKIP LOCKED).
    At most `limit` rows and about `max_bytes` of their own bytes (at least one row), so a batch of
    large letters does not fill the memory; shared content is counted by the copy maker."""
    sizes = session.exec(select(OutboxMessage.id, func.length(OutboxMessage.raw))
                         .where(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= now,
                                OutboxMessage.id.not_in(exclude) if exclude else True)
                         .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
                         .with_for_update(skip_locked=True)).all()
    chosen, total = [], 0
    for outbox_id, size in sizes:
        if chosen and total + size > max_bytes:
            break
        chosen.append(outbox_id)
        total += size
    if not chosen:
        return []
    session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(chosen))
                    .values(claimed_by=holder, next_attempt_at=now + hold))
    return rows(session, chosen)


def rows(session: Session, ids: list[int]) -> list[QueuedRow]:
    """What the copy maker needs of these rows."""
    query = (select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.envelope_from, OutboxMessage.raw,
                    OutboxMessage.job_id, OutboxMessage.token)
             .where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))
    return [QueuedRow(*row) for row in session.exec(query)]


def release_claims(session: Session, now: datetime, holder: str) -> int:
    """At start: the claims an earlier run of this process (`holder`) left when it died are due now,
    not when they expire. The batch it had on the wire may go twice: the one-batch window."""
    query = update(OutboxMessage).where(OutboxMessage.status == QUEUED, OutboxMessage.claimed_by == holder)
    return session.execute(query.values(claimed_by="", next_attempt_at=now)).rowcount


def record(session: Session, results: list[Result], now: datetime,
           retry_base: timedelta = RETRY_BASE) -> list[OutboxMessage]:
    """Store a batch's results; return the rows that bounced (for bounce scoring).

    Deliveries are mostly plain successes: those are one UPDATE for the whole batch."""
    sent = [r.id for r in results if r.status == SENT]
    if sent:  # the text of a sent mail is not kept: the row stays as the record that it went
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(sent))
                        .values(status=SENT, sent_at=now, attempts=OutboxMessage.attempts + 1, last_error="",
                                raw=b"", claimed_by=""))
        session.execute(delete(OutboxPart).where(OutboxPart.outbox_id.in_(sent)))
    bounced = []
    for result in results:
        if result.status == SENT:
            continue
        row = session.get(OutboxMessage, result.id)
        row.attempts += 1
        row.last_error = result.detail[:500]
        row.claimed_by = ""
        if result.status == BOUNCED:
            row.status = BOUNCED
            if result.scores:
                bounced.append(row)
        elif result.status == FAILED:
            row.status = FAILED
            session.add(AdminEvent(at=now, kind="outbox-failed",
                                   detail=f"outbox #{row.id} ({row.kind}) to {row.recipient} cannot be made: "
                                          f"{row.last_error[:200]}"))
        else:
            _retry_or_expire(session, row, now, retry_base)
    drop_unneeded_content(session)
    return bounced


def drop_unneeded_content(session: Session) -> None:
    """Shared attachments that no queued row needs any more are deleted, as sent text is."""
    needed = (select(OutboxPart.sha256).join(OutboxMessage, OutboxMessage.id == OutboxPart.outbox_id)
              .where(OutboxPart.sha256 == SharedContent.sha256, OutboxMessage.status == QUEUED))
    session.execute(delete(SharedContent).where(~exists(needed)))


def _retry_or_expire(session: Session, row: OutboxMessage, now: datetime, retry_base: timedelta) -> None:
    delay = min(retry_base * 2 ** min(row.attempts - 1, 16), RETRY_CAP)
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
    if row.status == SENT:
        raise ValueError(f"outbox #{outbox_id} was sent; its text is not kept, so it cannot be sent again")
    if not _content_kept(session, row):
        raise ValueError(f"outbox #{outbox_id}: the content it shares with other mail is no longer kept, "
                         "so it cannot be sent again")
    row.status, row.next_attempt_at, row.claimed_by = QUEUED, now, ""
    row.deadline_at = max(row.deadline_at, now + timedelta(days=1))
    return True


def _content_kept(session: Session, row: OutboxMessage) -> bool:
    if row.job_id is not None:
        job = session.get(SendJob, row.job_id)
        return job is not None and bool(raw_size(session, job.inbound_id))
    missing = (select(OutboxPart.sha256).where(OutboxPart.outbox_id == row.id,
                                               ~exists(select(SharedContent.sha256)
                                                       .where(SharedContent.sha256 == OutboxPart.sha256))))
    return session.exec(missing).first() is None
