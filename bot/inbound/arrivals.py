"""Store a received message raw, once per list address, before anything else happens.

The same message delivered twice for the same list address (same Message-ID, same
bytes) is stored once; a different message reusing a Message-ID is stored too and
flagged; a message without one gets a synthetic id derived from its bytes. The row
starts in state "new": stored never means handled.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.inbound.parse import header_block
from bot.inbound.routing import ListAddress
from bot.store.db import session_scope
from bot.store.models import STATE_DONE, InboundMessage, InboundRaw


@dataclass(frozen=True)
class Stored:
    id: int
    network: str | None
    duplicate: bool  # this copy was stored before
    copy: bool = False  # a second mailbox copy (another UID, same UIDVALIDITY) of a stored message


@dataclass(frozen=True)
class ImapOrigin:
    mailbox: str
    uidvalidity: int
    uid: int


@dataclass(frozen=True)
class Arrival:
    """One copy to store: the bytes, how they came, and for which list address."""

    raw: bytes
    source: str
    delivery: ListAddress | None
    delivered_to: str = ""
    envelope_from: str = ""
    envelope_to: tuple[str, ...] = ()
    imap: ImapOrigin | None = None
    oversize: int = 0  # the size of a message over the limit, of which only the header is kept here

    @property
    def address(self) -> str:
        return self.delivery.address if self.delivery else self.delivered_to.lower()


@dataclass(frozen=True)
class Identity:
    """What tells one received mail from another: its Message-ID, sender, bytes and body."""

    message_id: str
    synthetic: bool  # the Message-ID was missing or unusable: made from the bytes
    sender: str  # the From address, lowercase ("" when none can be read)
    content_hash: str
    body_hash: str


def identity_of(raw: bytes) -> Identity:
    head = header_block(raw)
    try:
        # compat32 never raises on a hostile header; we only need the raw values.
        headers = BytesHeaderParser(policy=compat32).parsebytes(head)
        value = str(headers.get("Message-ID") or "").strip()
        senders = [address.lower() for _, address in getaddresses([str(headers.get("From") or "")]) if "@" in address]
    except Exception:  # noqa: BLE001 - any parse failure means "no usable id, no known sender"
        value, senders = "", []
    content_hash = hashlib.sha256(raw).hexdigest()
    body_hash = hashlib.sha256(memoryview(raw)[len(head):]).hexdigest()
    usable = bool(value) and "\n" not in value and len(value) <= 900
    message_id = value if usable else f"<{content_hash[:40]}@synthetic.kkrbot>"
    return Identity(message_id, not usable, senders[0] if len(senders) == 1 else "", content_hash, body_hash)


def message_id_of(raw: bytes) -> tuple[str, bool]:
    """The message's Message-ID, or a synthetic one from its bytes (and True)."""
    identity = identity_of(raw)
    return identity.message_id, identity.synthetic


def store_inbound(engine: Engine, raw: bytes, *, source: str, envelope_from: str,
                  envelope_to: list[str], deliveries: list[ListAddress | None], now: datetime,
                  delivered_to: str = "") -> list[Stored]:
    """Commit one row per delivery (None = for no known network) and return them."""
    return commit_arrivals(engine, [Arrival(raw, source, delivery, delivered_to, envelope_from, tuple(envelope_to))
                                    for delivery in deliveries], now)


def commit_arrivals(engine: Engine, arrivals: list[Arrival], now: datetime) -> list[Stored]:
    """Store the arrivals in one transaction of their own."""
    for attempt in range(2):
        try:
            with session_scope(engine) as session:
                return store_all(session, arrivals, now)
        except IntegrityError:
            # A concurrent delivery of the same copy (the IMAP reader, another process) won the
            # unique key; the retry finds it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def store_all(session: Session, arrivals: list[Arrival], now: datetime) -> list[Stored]:
    """Store many copies in the caller's transaction with one lookup for duplicates."""
    identities = [(a, identity_of(a.raw)) for a in arrivals]
    query = select(InboundMessage).where(InboundMessage.message_id.in_({i.message_id for _, i in identities}))
    known: dict[tuple[str, str], list[InboundMessage]] = {}
    for row in session.exec(query):
        known.setdefault((row.delivered_to, row.message_id), []).append(row)
    results, new_rows = [], []
    for arrival, identity in identities:
        same_id = known.setdefault((arrival.address, identity.message_id), [])
        found = next((row for row in same_id if row.content_hash == identity.content_hash), None)
        if found is not None:
            results.append(lambda found=found, imap=arrival.imap: _found_again(found, imap))
            continue
        row = _new_row(arrival, identity, reused=bool(same_id), now=now)
        if arrival.oversize:  # settled at once: too large to handle, kept whole in the mailbox
            row.state, row.outcome, row.finished_at, row.size = STATE_DONE, "rejected", now, arrival.oversize
            row.reason, row.rule = f"too large ({arrival.oversize} bytes); only its header is stored", "size-limit"
        same_id.append(row)
        session.add(row)
        new_rows.append((row, arrival.raw))
        results.append(lambda row=row: Stored(row.id, row.network_slug, duplicate=False))
    session.flush()
    if new_rows:
        session.execute(insert(InboundRaw), [{"inbound_id": row.id, "raw": raw} for row, raw in new_rows])
    return [result() for result in results]


def _new_row(arrival: Arrival, identity: Identity, reused: bool, now: datetime) -> InboundMessage:
    imap = arrival.imap
    return InboundMessage(
        received_at=now, source=arrival.source, envelope_from=arrival.envelope_from,
        envelope_to=list(arrival.envelope_to), delivered_to=arrival.address,
        network_slug=arrival.delivery.network if arrival.delivery else None,
        message_id=identity.message_id, message_id_synthetic=identity.synthetic, message_id_reused=reused,
        from_address=identity.sender[:320], content_hash=identity.content_hash, body_hash=identity.body_hash,
        size=len(arrival.raw),
        imap_mailbox=imap.mailbox if imap else None, imap_uidvalidity=imap.uidvalidity if imap else None,
        imap_uid=imap.uid if imap else None)


def _found_again(row: InboundMessage, imap: ImapOrigin | None) -> Stored:
    """A message read again after a UIDVALIDITY change is the stored row under its new UID:
    the row is re-pointed there (and moved again once finished)."""
    if imap is None or row.imap_mailbox is None:
        return Stored(row.id, row.network_slug, duplicate=True)
    if row.imap_uidvalidity == imap.uidvalidity and row.imap_uid != imap.uid:
        return Stored(row.id, row.network_slug, duplicate=True, copy=True)
    row.imap_mailbox, row.imap_uidvalidity, row.imap_uid, row.imap_folder = (
        imap.mailbox, imap.uidvalidity, imap.uid, None)
    return Stored(row.id, row.network_slug, duplicate=True)


def record_gone(session: Session, origin: ImapOrigin, now: datetime, reason: str = "", rule: str = "imap-gone") -> None:
    """A finished row for a message that left the mailbox before it could be read (another client
    moved or deleted it between SEARCH and FETCH), or that the server never hands over, so that it
    shows in `kkrbot inbox` instead of being skipped without a trace. Nothing of it was stored:
    nothing to handle, nothing to move."""
    reason = reason or f"gone from {origin.mailbox} (UID {origin.uid}) before it could be read: nothing was stored"
    session.add(InboundMessage(
        received_at=now, source="imap", delivered_to="",
        message_id=f"<imap-gone-{origin.uidvalidity}-{origin.uid}@synthetic.kkrbot>", message_id_synthetic=True,
        content_hash=hashlib.sha256(b"").hexdigest(), size=0,
        imap_mailbox=origin.mailbox, imap_uidvalidity=origin.uidvalidity, imap_uid=origin.uid, imap_folder="",
        state=STATE_DONE, outcome="ignored", rule=rule, finished_at=now, reason=reason))
