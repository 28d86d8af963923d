"""The audit log: who did what, when, and through which Message-ID; never a mail body.

One function, so every decision point writes the same shape of entry in the same
transaction as the decision (an entry for a change that rolled back would be a lie).
`detail` is cut short: it names things (a meeting, an item number), it does not quote mail.
"""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.store.models import AuditLog

DETAIL_CHARS = 200
SYSTEM, ADMIN = "system", "admin"


def audit(session: Session, at: datetime, actor: str, action: str, *, network: str | None = None,
          message_id: str = "", detail: str = "") -> AuditLog:
    """Add one entry to the session; the caller's commit keeps it."""
    entry = AuditLog(at=at, actor=(actor or "unknown").lower()[:320], action=action, network_slug=network,
                     message_id=message_id[:998], detail=detail[:DETAIL_CHARS])
    session.add(entry)
    return entry
