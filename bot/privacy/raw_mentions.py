"""Other senders' raw mail that names the person: found so `gdpr forget` can drop its bytes.

The row of such a mail stays (outcome, sender, date); its raw bytes go once it is handled and
no relayed post still being sent needs them, as retention would drop them anyway. A name can
be written encoded (quoted-printable, base64), so the decoded text parts are searched too.
"""
from __future__ import annotations

import re
from email import message_from_bytes
from email import policy as email_policy

from sqlalchemy import select
from sqlmodel import Session

from bot.privacy.person import Person
from bot.privacy.redact import pattern
from bot.store.blobs import read_raw
from bot.store.models import STATE_DONE, InboundMessage, InboundRaw, OutboxMessage, SendJob

DECODE_LIMIT = 2 * 1024 * 1024  # larger mails are searched as bytes only (their text is near the top)


def others_raw_naming(session: Session, person: Person, words: tuple[str, ...], exclude: list[tuple]) -> list[int]:
    """Ids of handled mail from others whose bytes or text name the person."""
    if not words:
        return []
    skip = {k[0] for k in exclude} | still_needed(session)
    found = pattern(words)
    query = (select(InboundRaw.inbound_id, InboundMessage.size).join(InboundMessage)
             .where(InboundMessage.state == STATE_DONE).order_by(InboundRaw.inbound_id))
    return [inbound_id for inbound_id, size in session.execute(query).all()
            if inbound_id not in skip and _names(bytes(read_raw(session, inbound_id, size)), found)]


def still_needed(session: Session) -> set[int]:
    """Relayed posts whose copies are still queued: their bytes are the copies' body."""
    query = (select(SendJob.inbound_id).join(OutboxMessage, OutboxMessage.job_id == SendJob.id)
             .where(OutboxMessage.status == "queued"))
    return set(session.execute(query).scalars())


def _names(raw: bytes, found: re.Pattern) -> bool:
    if found.search(raw.decode("utf-8", errors="replace")):
        return True
    if len(raw) > DECODE_LIMIT:
        return False
    try:
        message = message_from_bytes(raw, policy=email_policy.default)
        if found.search(" ".join(str(value) for value in message.values())):  # RFC 2047 names
            return True
        return any(found.search(_text(part)) for part in message.walk() if part.get_content_maintype() == "text")
    except Exception:  # noqa: BLE001 - a malformed mail is searched as bytes only
        return False


def _text(part) -> str:
    try:
        return part.get_content()
    except Exception:  # noqa: BLE001 - unknown charset, broken encoding
        return ""
