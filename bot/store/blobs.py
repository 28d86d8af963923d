"""Reading a stored mail's bytes without holding them twice.

A database driver hands a large blob over as one buffer of its own plus the copy the
program gets, so reading a 14 MB post costs 28 MB at once. Reading it in slices into
one buffer costs the post's size and a slice. `substr` works on SQLite and PostgreSQL.
"""
from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from bot.store.models import InboundRaw

SLICE_BYTES = 1024 * 1024
HEAD_BYTES = 64 * 1024  # enough for any header block the bot reads; a longer one is cut (and read whole later)


def raw_size(session: Session, inbound_id: int) -> int | None:
    """The stored size of a received mail's bytes, or None when they are gone."""
    return session.exec(select(func.length(InboundRaw.raw)).where(InboundRaw.inbound_id == inbound_id)).first()


def read_raw(session: Session, inbound_id: int, size: int | None = None) -> bytes | bytearray:
    """A received mail's bytes (b"" when they are gone); a large one read slice by slice.
    `size` (InboundMessage.size, when the caller has it) saves asking for a small mail's size; a large
    one's is asked for anyway (of a mail over the limit only its header is stored)."""
    if size is None or size > SLICE_BYTES:
        size = raw_size(session, inbound_id) or 0
    if size <= SLICE_BYTES:
        return session.exec(select(InboundRaw.raw).where(InboundRaw.inbound_id == inbound_id)).first() or b""
    buffer = bytearray(size)
    for start in range(0, size, SLICE_BYTES):
        piece = session.exec(select(func.substr(InboundRaw.raw, start + 1, SLICE_BYTES))
                             .where(InboundRaw.inbound_id == inbound_id)).one()
        buffer[start:start + len(piece)] = piece
    return buffer


def read_heads(session: Session, inbound_ids: list[int]) -> dict[int, bytes]:
    """The first HEAD_BYTES of each mail: enough to list them by sender and subject."""
    query = (select(InboundRaw.inbound_id, func.substr(InboundRaw.raw, 1, HEAD_BYTES))
             .where(InboundRaw.inbound_id.in_(inbound_ids)))
    return {inbound_id: bytes(head) for inbound_id, head in session.exec(query)}
