"""Tell the administrator when something needs a person, at most once an hour.

Events (mail set aside as failed, the outbox deadline reached, IMAP or SMTP failing
for more than 15 minutes, a role holder whose mail bounces, database or disk
errors) are rows in AdminEvent; this gathers the unreported ones into one
`admin-notice` mail to `admin_address`, no more often than hourly. Without an
`admin_address` nothing is composed: the events stay unreported, counted by
`kkrbot status`, and `kkrbot run` says so once when it starts. (A failing database
cannot wait for this: see database_alarm.py.)
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from bot.app import App
from bot.core.logs import log_event
from bot.outbound.compose import Letter, Recipient, compose
from bot.outbound.outbox import enqueue
from bot.store.db import session_scope
from bot.store.models import AdminEvent, OutboxMessage

INTERVAL = timedelta(hours=1)


def record(app: App, kind: str, detail: str) -> None:
    """Note an event in its own transaction (usable when the caller's transaction failed)."""
    with session_scope(app.engine) as session:
        session.add(AdminEvent(at=app.clock.now(), kind=kind, detail=detail[:1000]))


def send_admin_notice(app: App) -> bool:
    """Queue one notice with every unreported event, unless one went out within the hour."""
    now = app.clock.now()
    with session_scope(app.engine) as session:
        events = list(session.exec(select(AdminEvent).where(AdminEvent.notified_at == None)  # noqa: E711
                                   .order_by(AdminEvent.at)))
        if not events or _sent_within_the_hour(session, now) or not app.settings.networks \
                or not app.settings.admin_address:
            return False
        network = app.settings.networks[0]
        letter = Letter(kind="admin-notice", network=network,
                        recipient=Recipient(address=app.settings.admin_address),
                        dedupe_key=f"admin-notice:{events[0].id}-{events[-1].id}",
                        context={"events": [{"at": e.at, "kind": e.kind, "detail": e.detail} for e in events]})
        enqueue(session, compose(app, session, letter))
        for event in events:
            event.notified_at = now
    log_event("admin_notice", events=len(events))
    return True


def unreported(session: Session) -> int:
    """Events no notice has listed yet (all of them while admin_address is unset)."""
    return session.exec(select(func.count()).select_from(AdminEvent)
                        .where(AdminEvent.notified_at == None)).one()  # noqa: E711


def warn_if_unaddressed(app: App) -> None:
    """Say once, at start, that events will be recorded but not mailed."""
    if not app.settings.admin_address:
        log_event("admin_address_unset", level=logging.WARNING,
                  detail="events are recorded and counted by 'kkrbot status', but no admin-notice is sent")


def _sent_within_the_hour(session: Session, now) -> bool:
    last = session.exec(select(OutboxMessage.created_at).where(OutboxMessage.kind == "admin-notice")
                        .order_by(OutboxMessage.created_at.desc())).first()
    return last is not None and now - last < INTERVAL
