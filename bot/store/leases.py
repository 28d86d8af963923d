"""Leases: work that one process at a time may do, among several bot processes on one database.

A lease is a row (name, holder, expires_at). A process takes it when it is free or has expired,
and keeps it by renewing it before it expires; a process that dies stops renewing, so its lease
passes to another process once `expires_at` goes by. One transaction takes or renews it, the row
locked (FOR UPDATE on PostgreSQL, SQLite's write lock), so two processes never both think they
hold it. Time is the caller's clock (the app's), so tests can move it.

Used for the IMAP connection of a mailbox (exactly one process reads it, bot/inbound/imap_cursor.py)
and for scheduled jobs that must run once across all processes (bot/daemon.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.store.db import session_scope
from bot.store.models import Lease


def take(engine: Engine, name: str, holder: str, now: datetime, ttl: timedelta, renew: bool = True) -> bool:
    """Take the lease `name` for `holder` until now + ttl; False while another holds it.

    `renew`: the holder may extend a lease it holds (a connection kept open); without it the lease
    must have expired, even for its holder (a job's run, which holds it until its next period)."""
    try:
        with session_scope(engine) as session:
            return _take(session, name, holder, now, ttl, renew)
    except IntegrityError:  # another process inserted the row first: it holds the lease now
        return False


def _take(session: Session, name: str, holder: str, now: datetime, ttl: timedelta, renew: bool) -> bool:
    lease = session.exec(select(Lease).where(Lease.name == name).with_for_update()).first()
    if lease is None:
        session.add(Lease(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
        session.flush()
        return True
    if lease.expires_at > now and (lease.holder != holder or not renew):
        return False
    if lease.holder != holder:
        lease.holder, lease.acquired_at = holder, now
    lease.expires_at = now + ttl
    return True


def extend_to(engine: Engine, name: str, holder: str, until: datetime) -> None:
    """Set the end of a lease `holder` holds (a job's run: now held until its next period)."""
    with session_scope(engine) as session:
        lease = session.exec(select(Lease).where(Lease.name == name, Lease.holder == holder)
                             .with_for_update()).first()
        if lease is not None:
            lease.expires_at = until


def release(engine: Engine, name: str, holder: str) -> None:
    """Give the lease up at once (a clean stop), so another process need not wait for it to expire."""
    with session_scope(engine) as session:
        lease = session.exec(select(Lease).where(Lease.name == name, Lease.holder == holder)
                             .with_for_update()).first()
        if lease is not None:
            session.delete(lease)


def release_all(engine: Engine, holder: str) -> int:
    """At start: give up what an earlier run of this same process held (it died holding it)."""
    with session_scope(engine) as session:
        held = list(session.exec(select(Lease).where(Lease.holder == holder).with_for_update()))
        for lease in held:
            session.delete(lease)
        return len(held)


def current(engine: Engine, prefix: str = "") -> list[Lease]:
    """The leases whose name starts with `prefix` (for `kkrbot status`), expired ones included."""
    with Session(engine) as session:
        return list(session.exec(select(Lease).where(Lease.name.startswith(prefix)).order_by(Lease.name)))
