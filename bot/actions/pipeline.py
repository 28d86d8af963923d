"""Take stored messages through parse → classify → authorize → handle, once each.

Outcomes and their effects are committed together, a batch per transaction; only then is a
message "done". A stage that raises leaves the message "new" with a later next attempt;
after `max_attempts` it is set aside as `failed` for `kkrbot inbox retry ID`.
The loop never stops for one bad message.

Mail waiting to be stored comes first: when a `Gate` says arrivals wait for the write
lock (the SMTP receiver's group commit), a batch ends early, committing what it has,
and the next one starts once they are stored.
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy.exc import OperationalError
from sqlmodel import Session, or_, select
from sqlmodel.sql.expression import Select

from bot.actions.handlers import IGNORED, REJECTED, Context, Outcome, handle
from bot.app import App
from bot.core import memory
from bot.core.logs import log_event
from bot.core.pause import pause_point
from bot.inbound.parse import ParsedMail, ParseLimits, dmarc_result, parse
from bot.inbound.routing import route
from bot.rules.classify import Inbound, classify
from bot.store.blobs import read_raw
from bot.store.db import session_scope
from bot.store.audit import ADMIN, SYSTEM, audit
from bot.store.models import STATE_DONE, STATE_NEW, AdminEvent, InboundMessage

GATE_WAIT_SECONDS = 1.0  # the longest the worker waits for arrivals to be stored
# A mail up to this size is read whole, for its defects; a larger one (a post with big attachments)
# only as far as the rules and its handler need, so relaying it does not take it apart in memory.
WHOLE_PARSE_BYTES = 1024 * 1024
DUPLICATE = "duplicate"  # the rule (and kind) of a copy that another copy of the same mail stands for
FAILED = "failed"  # the outcome of a message set aside after max_attempts


class Gate(Protocol):
    """Whoever else needs the write lock first (bot/inbound/committer.py)."""

    def pending(self) -> bool: ...

    def wait_idle(self, timeout: float) -> None: ...


def _due(now) -> Select:
    return (select(InboundMessage)
            .where(InboundMessage.state == STATE_NEW,
                   or_(InboundMessage.next_attempt_at == None, InboundMessage.next_attempt_at <= now))  # noqa: E711
            .order_by(InboundMessage.id))


def process_pending(app: App, limit: int = 100, gate: Gate | None = None) -> int:
    """Process every due message, a batch per transaction; return how many were processed."""
    done = 0
    while True:
        if gate is not None:
            gate.wait_idle(GATE_WAIT_SECONDS)
        finished, claimed = process_batch(app, limit, gate)
        done += finished
        if claimed < limit and finished == claimed:
            break
    return done


def process_batch(app: App, limit: int, gate: Gate | None = None) -> tuple[int, int]:
    """Claim up to `limit` due messages and decide them in one transaction: outcomes and effects
    commit together; return how many were decided (fewer when the gate asked for the write lock)
    and how many were claimed.

    The claim is the transaction's row lock (FOR UPDATE SKIP LOCKED on PostgreSQL): another bot
    process on the same database takes the next messages instead of waiting for these, and a
    process that dies mid-batch lets them go with its connection. SQLite has one writer anyway.
    If any message raises, the whole batch rolls back and each message is done again
    on its own, so only the bad one fails and nothing is applied twice.
    """
    pause_point("before-process")
    claimed: list[int] = []
    try:
        with session_scope(app.engine, autoflush=False) as session:
            finished, largest = [], 0
            rows = list(session.exec(_due(app.clock.now()).limit(limit).with_for_update(skip_locked=True)))
            claimed = [row.id for row in rows]
            for row in rows:
                finished.append(_finish(app, session, row, decide(app, session, row)))
                largest = max(largest, row.size)
                if gate is not None and gate.pending():
                    break
    except Exception:  # noqa: BLE001 - retried one by one below
        if not claimed:
            raise  # the claim itself failed: the database, not a message (the worker tells of it)
        for inbound_id in claimed:
            _process_alone(app, inbound_id)
        return len(claimed), len(claimed)
    if largest > memory.LARGE_BYTES:
        memory.give_back()
    for line in finished:
        log_event("outcome", **line)
    return len(finished), len(claimed)


def _process_alone(app: App, inbound_id: int) -> None:
    try:
        with session_scope(app.engine) as session:
            finished = [_finish(app, session, row, decide(app, session, row))
                        for row in _new_rows(session, [inbound_id])]
    except Exception as error:  # noqa: BLE001 - a bad message must never stop the loop
        _record_failure(app, inbound_id, error)
        return
    for line in finished:
        log_event("outcome", **line)


def _new_rows(session: Session, ids: list[int]) -> list[InboundMessage]:
    """The rows still to do, locked so that no other process takes them meanwhile."""
    query = (select(InboundMessage).where(InboundMessage.id.in_(ids), InboundMessage.state == STATE_NEW)
             .order_by(InboundMessage.id).with_for_update(skip_locked=True))
    return list(session.exec(query))


def decide(app: App, session: Session, row: InboundMessage) -> Outcome:
    """parse → route → classify → authorize and handle (the handlers authorize what they act on)."""
    settings = app.settings
    raw = read_raw(session, row.id, row.size)
    mail = parse(raw, ParseLimits(max_attachment_bytes=settings.limits.max_attachment_bytes,
                                      max_attachments_bytes=settings.limits.max_message_bytes,
                                      max_nesting=settings.limits.max_nesting))
    row.subject, row.from_address = mail.subject[:500], mail.from_address[:320]
    row.dmarc = dmarc_result(mail, settings.authserv_id)
    outcome = _decide(app, session, row, mail)
    if len(raw) <= WHOLE_PARSE_BYTES:
        mail.body  # noqa: B018 - read the rest too, so `kkrbot inbox show` lists every defect
    row.defects = list(dict.fromkeys(mail.defects))[:50]
    return outcome


def _decide(app: App, session: Session, row: InboundMessage, mail: ParsedMail) -> Outcome:
    settings = app.settings
    address = route(row.delivered_to, settings.networks) if row.delivered_to else None
    if address is None:
        return Outcome(REJECTED, "addressed to no known network", rule="routing", kind="unrouted")
    row.network_slug = address.network
    twin = other_copy(session, row)
    if twin is not None:
        return Outcome(IGNORED, f"another copy of #{twin} (same Message-ID for this network)",
                       rule=DUPLICATE, kind=DUPLICATE)
    null_sender = (row.source == "smtp" and row.envelope_from in ("", "<>")) or \
        mail.header("Return-Path").strip() == "<>"
    inbound = Inbound(mail=mail, network=settings.network(address.network), address=address, null_sender=null_sender)
    ctx = Context(app, session, row, mail, inbound.network, inbound, classify(inbound))
    return handle(ctx)


def other_copy(session: Session, row: InboundMessage) -> int | None:
    """The copy of this message that stands for all copies sent to one network, if not this one.

    One mail can reach a network twice: to `list+<token>` with the list itself in Cc, or
    again through a backup MX with other trace headers. Exactly one copy acts, in whatever
    order and batches the copies come: a copy that has already acted stands for the rest
    (a later `+tag` copy must not act again); until one has, the one sent to a `+tag`
    address (it carries the token), else the first stored.

    A copy is the same mail: the same bytes, or the same sender and body (another relay's
    trace headers). A Message-ID alone proves nothing: an outsider who sends first with the
    Message-ID a member's post will carry must not make that post "another copy".
    """
    copies = _copies_for_network(session, row)
    acted = [copy.id for copy in copies if copy.acted]
    if acted:
        return acted[0]
    waiting = [(row.id, row.delivered_to), *((copy.id, copy.delivered_to) for copy in copies if copy.waiting)]
    chosen = min(waiting, key=lambda c: ("+" not in c[1].split("@")[0], c[0]))[0]
    return None if chosen == row.id else chosen


@dataclass(frozen=True)
class _Copy:
    """Another stored copy of a message, as committed (a batch's own decisions are not flushed yet)."""

    id: int
    delivered_to: str
    state: str
    outcome: str | None
    rule: str

    @property
    def acted(self) -> bool:
        """Finished on its own account: not set aside as a duplicate, not failed (a failed copy did nothing)."""
        return self.state == STATE_DONE and self.outcome != FAILED and self.rule != DUPLICATE

    @property
    def waiting(self) -> bool:
        return self.state == STATE_NEW


def _copies_for_network(session: Session, row: InboundMessage) -> list[_Copy]:
    # Only the Message-ID in the query, so SQLite uses its index (network_slug alone matches everything).
    same_id = session.exec(select(InboundMessage.id, InboundMessage.delivered_to, InboundMessage.network_slug,
                                  InboundMessage.state, InboundMessage.outcome, InboundMessage.rule,
                                  InboundMessage.content_hash, InboundMessage.body_hash, InboundMessage.from_address)
                           .where(InboundMessage.message_id == row.message_id)
                           .order_by(InboundMessage.id)).all()
    return [_Copy(other.id, other.delivered_to, other.state, other.outcome, other.rule) for other in same_id
            if other.network_slug == row.network_slug and other.id != row.id and _same_mail(row, other)]


def _same_mail(row: InboundMessage, other) -> bool:
    if other.content_hash == row.content_hash:
        return True
    return bool(row.body_hash) and other.body_hash == row.body_hash and \
        bool(row.from_address) and other.from_address == row.from_address


def _finish(app: App, session: Session, row: InboundMessage, outcome: Outcome) -> dict:
    """Record the outcome on the row and in the audit log; return what to log once committed."""
    now = app.clock.now()
    row.state, row.outcome, row.reason = STATE_DONE, outcome.outcome, outcome.reason
    row.rule, row.kind, row.finished_at = outcome.rule, outcome.kind, now
    row.attempts += 1
    audit(session, now, row.from_address or row.envelope_from, f"inbound-{outcome.outcome}",  # what kind of mail, never
          network=row.network_slug, message_id=row.message_id, detail=outcome.kind or outcome.rule)  # its words
    return dict(id=row.id, network=row.network_slug, outcome=outcome.outcome, kind=outcome.kind,
                rule=outcome.rule or None, reason=outcome.reason or None)


def _record_failure(app: App, inbound_id: int, error: Exception) -> None:
    settings = app.settings.processing
    now = app.clock.now()
    if isinstance(error, OperationalError):  # the database was busy: not the message's fault
        log_event("stage_deferred", id=inbound_id, error=type(error).__name__)
        return
    with session_scope(app.engine) as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None or row.state != STATE_NEW:
            return  # another worker finished it meanwhile
        row.attempts += 1
        row.reason = f"{type(error).__name__}: {error}"[:500]
        if row.attempts >= settings.max_attempts:
            row.state, row.outcome, row.finished_at = STATE_DONE, FAILED, now
            audit(session, now, SYSTEM, "inbound-failed", network=row.network_slug,
                  message_id=row.message_id, detail=row.reason)
            session.add(AdminEvent(at=now, kind="inbound-failed",
                                   detail=f"inbound #{row.id} {row.message_id} set aside after {row.attempts} "
                                          f"attempts: {row.reason[:300]} (kkrbot inbox show {row.id})"))
        else:
            row.next_attempt_at = now + timedelta(seconds=settings.retry_base_seconds * 2 ** (row.attempts - 1))
    log_event("stage_failed", level=logging.ERROR, id=inbound_id, attempt=row.attempts,
              error=type(error).__name__, detail=str(error)[:200],
              where=traceback.extract_tb(error.__traceback__)[-1].name if error.__traceback__ else None)


def retry(app: App, inbound_id: int) -> bool:
    """`kkrbot inbox retry ID`: put a failed (or any finished) message back in the queue.

    Its IMAP copy stays where it is (`imap_folder`) until the new outcome is committed; the
    IMAP cursor then moves it on to that outcome's folder."""
    with session_scope(app.engine) as session:
        row = session.get(InboundMessage, inbound_id)
        if row is None:
            return False
        row.state, row.outcome, row.attempts, row.next_attempt_at = STATE_NEW, None, 0, None
        audit(session, app.clock.now(), ADMIN, "inbound-retry", network=row.network_slug,
              message_id=row.message_id)
    return True
