"""`kkrbot gdpr export|forget` and `kkrbot log`: the data-protection commands' work and output.

commands.py parses the options; this runs them against the App and prints. Every value from
a mail or the database goes through reports.shown(), as elsewhere in the CLI.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlmodel import Session, select

from bot.app import App
from bot.cli.reports import console, shown
from bot.privacy.export import export_person, to_json
from bot.privacy.forget import Erased, forget, refuse_role_holder, remove_sent_files, scan_raw
from bot.privacy.person import Person, find_person
from bot.store.db import session_scope
from bot.store.models import AuditLog


def export(app: App, email: str, output: Path | None, with_bodies: bool) -> str:
    """The JSON export, written to `output` (0600) or returned for stdout."""
    with session_scope(app.engine) as session:
        text = to_json(export_person(session, email, app.clock.now(), with_bodies))
    if output is None:
        return text
    output.write_text(text, encoding="utf-8")
    output.chmod(0o600)
    return ""


def person_for(app: App, email: str) -> Person:
    """Who would be forgotten; raises Refused for a role holder in networks.toml."""
    with Session(app.engine) as session:
        person = find_person(session, email)
    refuse_role_holder(app.settings, person)
    return person


def erase(app: App, email: str) -> Erased:
    """Forget the person in one transaction; then their files in the outbound Maildir. Others' mail
    naming them is searched first, without the write lock, so the bot keeps receiving meanwhile."""
    with Session(app.engine) as session:
        naming = scan_raw(session, email)
    with session_scope(app.engine) as session:
        erased = forget(session, app.settings, app.token_secret, email, app.clock.now(), raw_naming=naming)
    erased.files_removed = remove_sent_files(app.settings.sent_dir, erased.addresses)
    return erased


def erased_line(erased: Erased) -> str:
    deleted = ", ".join(f"{table} {count}" for table, count in sorted(erased.deleted.items()) if count) or "nothing"
    return (f"erased ({len(erased.addresses)} address(es), recorded as erasure #{erased.erasure_ids[0]}): "
            f"deleted {deleted}; {erased.rewritten} rows rewritten; {erased.raw_dropped} other mails' raw bytes "
            f"dropped; {erased.files_removed} files removed from {'the sent Maildir'}")


def parse_since(value: str | None, zone: str, now: datetime) -> datetime | None:
    """`--since` as a date (YYYY-MM-DD, local midnight) or a number of days back (e.g. 7d)."""
    if not value:
        return None
    if value.endswith("d") and value[:-1].isdigit():
        return now - timedelta(days=int(value[:-1]))
    day = datetime.fromisoformat(value)
    return (day if day.tzinfo else day.replace(tzinfo=ZoneInfo(zone))).astimezone(timezone.utc)


def print_log(app: App, email: str | None, network: str | None, since: datetime | None, limit: int) -> None:
    """The audit log, newest first, one line per entry (so it greps): when, who, what, network,
    Message-ID, detail. `email` finds the person's entries under any of their addresses."""
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if email:
        with Session(app.engine) as session:
            addresses = find_person(session, email).addresses
        query = query.where(or_(func.lower(AuditLog.actor).in_(addresses),
                                *(func.lower(AuditLog.detail).contains(a, autoescape=True) for a in addresses)))
    if network:
        query = query.where(AuditLog.network_slug == network)
    if since:
        query = query.where(AuditLog.at >= since)
    zone = ZoneInfo(app.settings.timezone)
    with Session(app.engine) as session:
        for entry in session.exec(query):
            fields = (entry.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), shown(entry.actor), entry.action,
                      entry.network_slug or "-", shown(entry.message_id) or "-", shown(entry.detail))
            console.print("  ".join(fields), soft_wrap=True)
