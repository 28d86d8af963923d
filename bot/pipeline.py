"""Take stored messages through parse → classify → authorize → handle, once each.

A message's outcome and its effects are committed in one transaction; only then is
it "done". A stage that raises leaves the message "new" with a later next attempt;
after `max_attempts` it is set aside as `failed` for `kkrbot inbox retry ID`.
The loop never stops for one bad message.
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy

from sqlmodel import Session, or_, select

from bot.app import App
from bot.db import session_scope
from bot.logs import log_event
from bot.models import STATE_DONE, STATE_NEW, AuditLog, InboundMessage
from bot.pause import pause_point


@dataclass(frozen=True)
class Outcome:
    outcome: str  # handled, ignored, rejected, held
    reason: str = ""
    rule: str = ""
    kind: str = ""


def due_ids(app: App, limit: int = 100) -> list[int]:
    now = app.clock.now()
    query = (select(InboundMessage.id)
             .where(InboundMessage.state == STATE_NEW,
                    or_(InboundMessage.next_attempt_at == None, InboundMessage.next_attempt_at <= now))  # noqa: E711
             .order_by(InboundMessage.id).limit(limit))
    with Session(app.engine) as session:
        return list(session.exec(query))


def process_pending(app: App, limit: int = 100) -> int:
    """Process every due message (in batches); return how many were processed."""
    done = 0
    while ids := due_ids(app, limit):
        for inbound_id in ids:
            process_message(app, inbound_id)
        done += len(ids)
        if len(ids) < limit:
            break
    return done


def process_message(app: App, inbound_id: int) -> None:
    pause_point("before-process")
    try:
        with session_scope(app.engine) as session:
            row = session.get(InboundMessage, inbound_id)
            if row is None or row.state != STATE_NEW:
                return
            outcome = decide(app, session, row)
            _finish(app, session, row, outcome)
    except Exception as error:  # noqa: BLE001 - a bad message must never stop the loop
        _record_failure(app, inbound_id, error)


def decide(app: App, session: Session, row: InboundMessage) -> Outcome:
    """Parse, classify, authorize and hand to a handler. Later stages refine this."""
    message = message_from_bytes(row.raw, policy=policy.default)
    row.subject = str(message.get("Subject", ""))[:500]
    row.from_address = str(message.get("From", ""))[:500]
    return Outcome("held", reason="no handler yet", kind="unclassified")


def _finish(app: App, session: Session, row: InboundMessage, outcome: Outcome) -> None:
    now = app.clock.now()
    row.state, row.outcome, row.reason = STATE_DONE, outcome.outcome, outcome.reason
    row.rule, row.kind, row.finished_at = outcome.rule, outcome.kind, now
    row.attempts += 1
    session.add(AuditLog(at=now, actor=row.from_address or row.envelope_from or "unknown",
                         action=f"inbound-{outcome.outcome}", network_slug=row.network_slug,
                         message_id=row.message_id, detail=outcome.reason[:200]))
    log_event("outcome", id=row.id, network=row.network_slug, outcome=outcome.outcome,
              kind=outcome.kind, rule=outcome.rule or None, reason=outcome.reason or None)


def _record_failure(app: App, inbound_id: int, error: Exception) -> None:
    settings = app.settings.processing
    now = app.clock.now()
    with session_scope(app.engine) as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None:
            return
        row.attempts += 1
        row.reason = f"{type(error).__name__}: {error}"[:500]
        if row.attempts >= settings.max_attempts:
            row.state, row.outcome, row.finished_at = STATE_DONE, "failed", now
            session.add(AuditLog(at=now, actor="system", action="inbound-failed",
                                 network_slug=row.network_slug, message_id=row.message_id,
                                 detail=row.reason[:200]))
        else:
            row.next_attempt_at = now + timedelta(seconds=settings.retry_base_seconds * 2 ** (row.attempts - 1))
    log_event("stage_failed", level=logging.ERROR, id=inbound_id, attempt=row.attempts,
              error=type(error).__name__, detail=str(error)[:200],
              where=traceback.extract_tb(error.__traceback__)[-1].name if error.__traceback__ else None)


def retry(app: App, inbound_id: int) -> bool:
    """`kkrbot inbox retry ID`: put a failed (or any finished) message back in the queue."""
    with session_scope(app.engine) as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None:
            return False
        row.state, row.outcome, row.attempts, row.next_attempt_at = STATE_NEW, None, 0, None
        session.add(AuditLog(at=app.clock.now(), actor="admin", action="inbound-retry",
                             network_slug=row.network_slug, message_id=row.message_id))
    return True
