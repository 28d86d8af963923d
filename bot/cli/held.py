"""`kkrbot held`: the posts waiting for moderation, as the administrator sees them.

Sender and subject come from a mail, so they are shown through `reports.shown()` (no
escape sequences reach the terminal). Deciding is `bot.actions.moderation.decide_by_id`,
the same decision as the secretary's answer by mail.
"""
from __future__ import annotations

from rich.table import Table
from sqlmodel import Session, select

from bot.actions.moderation import WAITING
from bot.app import App
from bot.cli.reports import _local, console, shown
from bot.store.models import HeldPost


def print_held(app: App, network_slug: str | None, everything: bool) -> int:
    """Held posts, oldest first (the first to expire); `everything` adds the decided ones. Return how many."""
    query = select(HeldPost).order_by(HeldPost.id)
    if network_slug:
        query = query.where(HeldPost.network_slug == network_slug)
    if not everything:
        query = query.where(HeldPost.status == WAITING)
    table = Table("id", "held", "network", "from", "subject", "reason", "secretary", "status", "expires",
                  title="Held posts" + (f" of {network_slug}" if network_slug else ""))
    with Session(app.engine) as session:
        posts = list(session.exec(query))
    for held in posts:
        table.add_row(str(held.id), _local(app, held.held_at), held.network_slug, shown(held.sender[:40]),
                      shown(held.subject[:50]), held.reason, _asked(held), _status(app, held),
                      _local(app, held.expires_at) if held.status == WAITING else "-")
    console.print(table)
    return len(posts)


def _asked(held: HeldPost) -> str:
    return "asked" if held.requested_at else "in digest" if held.digested_at else "not yet asked"


def _status(app: App, held: HeldPost) -> str:
    if held.status == WAITING:
        return WAITING
    by = f" by {shown(held.decided_by)}" if held.decided_by else ""
    return f"{held.status}{by} {_local(app, held.decided_at)}" if held.decided_at else held.status
