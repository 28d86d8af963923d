"""People `kkrbot gdpr forget` erased: recognised by an HMAC of their address, never the address.

The HMAC is keyed by the token secret, so the Erasure table alone (or a leaked copy of it)
cannot be checked against a list of guessed addresses. `contacts import` uses it to skip a
forgotten person who is still in contacts.csv instead of bringing them back.
"""
from __future__ import annotations

import hashlib
import hmac

from sqlmodel import Session, select

from bot.people.contacts import ContactRow
from bot.store.models import Erasure


def address_hmac(secret: bytes, address: str) -> str:
    """The erasure record of one address: HMAC-SHA256 under the token secret, hex."""
    if not secret:
        raise ValueError("no token secret: start the bot once or set TOKEN_SECRET")
    return hmac.new(secret, b"erasure\x1f" + address.strip().lower().encode(), hashlib.sha256).hexdigest()


def is_forgotten(session: Session, secret: bytes, address: str) -> bool:
    query = select(Erasure.id).where(Erasure.address_hmac == address_hmac(secret, address))
    return session.exec(query).first() is not None


def without_forgotten(session: Session, secret: bytes, rows: list[ContactRow]) -> tuple[list[ContactRow], list[ContactRow]]:
    """The rows to import, and the rows of forgotten people (by their address or any alias)."""
    if not secret or session.exec(select(Erasure.id).limit(1)).first() is None:
        return rows, []
    kept, skipped = [], []
    for row in rows:
        forgotten = any(is_forgotten(session, secret, a) for a in (row.email, *row.aliases))
        (skipped if forgotten else kept).append(row)
    return kept, skipped
