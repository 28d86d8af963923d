"""What the CLI prints: status, inbox, contacts. Read-only views of the database.

Everything that came in a mail (headers, addresses, reasons quoting them) is shown
through `shown()`: control characters become visible escapes and Rich markup is
escaped, so a mail cannot write escape sequences to the administrator's terminal.
"""
from __future__ import annotations

import re
from email import message_from_bytes, policy

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func
from sqlmodel import Session, select

from bot.app import App
from bot.meetings import cycle
from bot.meetings.sync import SyncReport
from bot.outbound import admin_notices
from bot.people.contacts import ImportReport
from bot.privacy.retention import oldest_kept
from bot.store import leases
from bot.store.blobs import read_heads
from bot.store.models import (
    AgendaItem,
    Attendance,
    Contact,
    InboundMessage,
    Meeting,
    Membership,
    Network,
    OutboxMessage,
)

console = Console(highlight=False)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(value: object) -> str:
    """Text from a mail, safe to print: control characters as \\xNN, Rich markup escaped."""
    return escape(CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value)))


def _local(app: App, moment) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(app.settings.timezone)).strftime("%Y-%m-%d %H:%M")


def print_status(app: App) -> None:
    now = app.clock.now()
    with Session(app.engine) as session:
        networks = Table("network", "members", "next meeting", "status", "done", "items", "answers", "next",
                         title="Networks")
        skipped = []
        for network in session.exec(select(Network).where(Network.active == True)):  # noqa: E712
            members = session.exec(select(func.count(func.distinct(Membership.contact_id))).where(
                Membership.network_id == network.id, Membership.active == True,  # noqa: E712
                Membership.role.in_(("member", "kl", "medcom")))).one()
            meeting = session.exec(select(Meeting).where(Meeting.network_id == network.id, Meeting.ends_at >= now)
                                   .order_by(Meeting.starts_at)).first()
            networks.add_row(network.slug, str(members), *_meeting_columns(app, session, network.slug, meeting))
            if meeting is not None:
                skipped += [f"{meeting.series_id}: {s}" for s in _outlook(app, session, network.slug, meeting).skipped]
        console.print(networks)
        for line in skipped:
            console.print(f"skipped: {shown(line)}")
        inbound = {outcome or "pending": count for outcome, count in session.exec(
            select(InboundMessage.outcome, func.count()).group_by(InboundMessage.outcome)).all()}
        outbox = dict(session.exec(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
        events = admin_notices.unreported(session)
        oldest = oldest_kept(session)
    console.print("inbound: " + (", ".join(f"{k} {v}" for k, v in sorted(inbound.items())) or "none"))
    console.print("outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(outbox.items())) or "none"))
    unsent = "" if app.settings.admin_address else " (admin_address is not set: no notice is sent)"
    console.print(f"administrator events not yet reported: {events}{unsent}")
    console.print(_oldest_line(app, *oldest))
    for line in lease_lines(app, now):
        console.print(line)


def _oldest_line(app: App, received, queued) -> str:
    """The oldest mail retention has kept, so an administrator sees that it runs."""
    parts = [f"received {_local(app, received)}" if received else "received none",
             f"outbox {_local(app, queued)}" if queued else "outbox none"]
    return f"oldest kept mail: {', '.join(parts)} (retention_days {app.settings.retention_days})"


def lease_lines(app: App, now) -> list[str]:
    """Who reads each IMAP mailbox and who ran the shared jobs last (several processes on one
    database); an expired lease means its holder stopped renewing it: another takes it over."""
    lines = []
    for lease in leases.current(app.engine):
        state = f"until {_local(app, lease.expires_at)}" if lease.expires_at > now else "expired"
        what = "IMAP lease" if lease.name.startswith("imap:") else "job lease"
        lines.append(f"{what} {shown(lease.name)}: {shown(lease.holder)} (since {_local(app, lease.acquired_at)}, "
                     f"{state})")
    return lines


def _outlook(app: App, session: Session, slug: str, meeting: Meeting):
    return cycle.outlook(session, app.settings.network(slug), meeting)


def _meeting_columns(app: App, session: Session, slug: str, meeting: Meeting | None) -> list[str]:
    """The next meeting, its status, the cycle's last step, items, answers, and what comes next when."""
    if meeting is None:
        return ["-", "", "", "", "", ""]
    where = _outlook(app, session, slug, meeting)
    items = session.exec(select(func.count()).select_from(AgendaItem).where(AgendaItem.meeting_id == meeting.id)).one()
    answers = dict(session.exec(select(Attendance.status, func.count()).where(Attendance.meeting_id == meeting.id)
                                .group_by(Attendance.status)).all())
    said = f"{answers.get('registered', 0)} yes / {answers.get('apologies', 0)} no / {answers.get('tentative', 0)} maybe"
    upcoming = f"{where.next} {_local(app, where.next_at)}" if where.next else "-"
    return [_local(app, meeting.starts_at), meeting.status, where.last or "-", str(items), said, upcoming]


def print_inbox(app: App, outcome: str | None, limit: int) -> None:
    query = select(InboundMessage).order_by(InboundMessage.id.desc()).limit(limit)
    if outcome:
        query = query.where(InboundMessage.outcome == (None if outcome == "pending" else outcome))
    table = Table("id", "received", "network", "from", "subject", "outcome", "reason", title="Inbox")
    with Session(app.engine) as session:
        rows = list(session.exec(query))
        heads = read_heads(session, [r.id for r in rows if not r.from_address and not r.subject])
        for row in rows:
            sender, subject = row.from_address, row.subject
            if not sender and not subject:
                sender, subject = _headline(heads.get(row.id, b""))
            table.add_row(str(row.id), _local(app, row.received_at), row.network_slug or "-", shown(sender[:40]),
                          shown(subject[:50]), row.outcome or "pending", shown(row.reason[:60]))
    console.print(table)


def _headline(raw: bytes) -> tuple[str, str]:
    try:
        message = message_from_bytes(raw, policy=policy.default)
        return str(message.get("From", "")), str(message.get("Subject", ""))
    except Exception:  # noqa: BLE001 - a listing must show even unparsable mail
        return "", ""


def print_inbound(app: App, inbound_id: int) -> bool:
    with Session(app.engine) as session:
        row = session.get(InboundMessage, inbound_id)
        head = read_heads(session, [inbound_id]).get(inbound_id, b"")
    if row is None:
        return False
    fields = [("id", row.id), ("received", _local(app, row.received_at)), ("source", row.source),
              ("envelope from", row.envelope_from), ("envelope to", ", ".join(row.envelope_to)),
              ("delivered to", row.delivered_to), ("network", row.network_slug), ("message-id", row.message_id),
              ("synthetic id", row.message_id_synthetic), ("reused id", row.message_id_reused),
              ("size", row.size), ("state", row.state), ("attempts", row.attempts), ("outcome", row.outcome),
              ("kind", row.kind), ("rule", row.rule), ("reason", row.reason), ("dmarc", row.dmarc),
              ("imap", f"{row.imap_mailbox} uidvalidity={row.imap_uidvalidity} uid={row.imap_uid}"
               if row.imap_uid else None), ("folder", row.imap_folder)]
    for name, value in fields:
        if value not in (None, "", False):
            console.print(f"[bold]{name}:[/bold] {shown(value)}")
    console.print("[bold]defects:[/bold] " + (shown("; ".join(row.defects)) if row.defects else "none"))
    console.print("[bold]headers:[/bold]")
    header_end = head.find(b"\r\n\r\n") if b"\r\n\r\n" in head else head.find(b"\n\n")
    text = head[: header_end if header_end >= 0 else 4000].decode("utf-8", "replace")
    console.print("\n".join(shown(line) for line in text.replace("\r\n", "\n").split("\n")))
    return True


def print_contacts(app: App, network_slug: str | None) -> None:
    table = Table("name", "email", "organisation", "municipality", "region", "role", "networks", "status",
                  title=f"Contacts{' of ' + network_slug if network_slug else ''}")
    with Session(app.engine) as session:
        slugs = {n.id: n.slug for n in session.exec(select(Network))}
        for contact in session.exec(select(Contact).order_by(Contact.name)):
            memberships = session.exec(select(Membership).where(Membership.contact_id == contact.id,
                                                                Membership.active == True)).all()  # noqa: E712
            networks = sorted({f"{slugs[m.network_id]}" + ("" if m.role in ("member", "kl", "medcom") else f" ({m.role})")
                               for m in memberships})
            if network_slug and not any(slugs[m.network_id] == network_slug for m in memberships):
                continue
            state = ("erased" if contact.erased_at else "inactive" if not contact.active else
                     "opted out" if any(m.opted_out for m in memberships) else "")
            table.add_row(contact.name, contact.email, contact.organisation, contact.municipality, contact.region,
                          contact.kind, ", ".join(networks), state)
    console.print(table)


def print_import(report: ImportReport, rows: int) -> None:
    console.print(f"{rows} rows: {len(report.added)} added, {len(report.updated)} updated, "
                  f"{len(report.deactivated)} deactivated")
    if report.opted_out_kept:
        console.print("still opted out (not re-subscribed): " + ", ".join(report.opted_out_kept))


def print_outbox(app: App, status: str | None, limit: int) -> None:
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    table = Table("id", "created", "kind", "network", "to", "status", "attempts", "last error", title="Outbox")
    with Session(app.engine) as session:
        for row in session.exec(query):
            table.add_row(str(row.id), _local(app, row.created_at), row.kind, row.network_slug or "-",
                          shown(row.recipient), row.status, str(row.attempts), shown(row.last_error[:50]))
    console.print(table)


def reloaded(report: SyncReport) -> str:
    """What `config reload` applied, in one line per kind of change."""
    lines = ["config applied; a running bot takes it up within seconds"]
    for label, names in (("networks added", report.networks_added), ("meetings added", report.meetings_added),
                         ("meetings changed (invited members get an update)", report.meetings_changed),
                         ("meetings cancelled (invited members get a cancellation)",
                          report.meetings_cancelled),
                         ("meetings already begun, left as they were", report.meetings_left_alone),
                         ("role holders who are not contacts", report.unknown_role_holders)):
        if names:
            lines.append(f"  {label}: {', '.join(names)}")
    if len(lines) == 1:
        lines.append("  no meeting changed")
    return "\n".join(lines)
