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

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.db import session_scope
from bot.models import InboundMessage
from bot.routing import ListAddress


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


def message_id_of(raw: bytes) -> tuple[str, bool]:
    """The message's Message-ID, or a synthetic one from its bytes (and True)."""
    try:
        # compat32 never raises on a hostile header; we only need the raw value.
        value = BytesHeaderParser(policy=compat32).parsebytes(raw).get("Message-ID")
        value = str(value or "").strip()
    except Exception:  # noqa: BLE001 - any parse failure means "no usable id"
        value = ""
    if value and "\n" not in value and len(value) <= 900:
        return value, False
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@synthetic.kkrbot>", True


def store_inbound(engine: Engine, raw: bytes, *, source: str, envelope_from: str,
                  envelope_to: list[str], deliveries: list[ListAddress | None], now: datetime,
                  delivered_to: str = "") -> list[Stored]:
    """Commit one row per delivery (None = for no known network) and return them."""
    for attempt in range(2):
        try:
            with session_scope(engine) as session:
                return [store_one_in(session, raw, source=source, envelope_from=envelope_from,
                                     envelope_to=envelope_to, delivery=delivery, delivered_to=delivered_to,
                                     now=now) for delivery in deliveries]
        except IntegrityError:
            # A concurrent delivery of the same copy won the unique key; the retry finds it.
            if attempt:
                raise
    raise AssertionError("unreachable")


def store_one_in(session, raw: bytes, *, source: str, envelope_from: str, envelope_to: list[str],
                 delivery: ListAddress | None, delivered_to: str, now: datetime,
                 imap: ImapOrigin | None = None) -> Stored:
    """Store one copy in the caller's transaction, or find the stored one.

    A message read again after a UIDVALIDITY change is the stored row under its new
    UID: the row is re-pointed there (and moved again once finished).
    """
    message_id, synthetic = message_id_of(raw)
    digest = hashlib.sha256(raw).hexdigest()
    address = delivery.address if delivery else (delivered_to or "").lower()
    same_id = session.exec(select(InboundMessage).where(InboundMessage.delivered_to == address,
                                                        InboundMessage.message_id == message_id)).all()
    for row in same_id:
        if row.content_hash == digest:
            return _found_again(row, imap)
    row = InboundMessage(
        received_at=now, source=source, envelope_from=envelope_from, envelope_to=list(envelope_to),
        delivered_to=address, network_slug=delivery.network if delivery else None,
        message_id=message_id, message_id_synthetic=synthetic, message_id_reused=bool(same_id),
        content_hash=digest, size=len(raw), raw=raw,
        imap_mailbox=imap.mailbox if imap else None, imap_uidvalidity=imap.uidvalidity if imap else None,
        imap_uid=imap.uid if imap else None,
    )
    session.add(row)
    session.flush()
    return Stored(row.id, row.network_slug, duplicate=False)


def _found_again(row: InboundMessage, imap: ImapOrigin | None) -> Stored:
    if imap is None or row.imap_mailbox is None:
        return Stored(row.id, row.network_slug, duplicate=True)
    if row.imap_uidvalidity == imap.uidvalidity and row.imap_uid != imap.uid:
        return Stored(row.id, row.network_slug, duplicate=True, copy=True)
    row.imap_mailbox, row.imap_uidvalidity, row.imap_uid, row.imap_folder = (
        imap.mailbox, imap.uidvalidity, imap.uid, None)
    return Stored(row.id, row.network_slug, duplicate=True)
