"""Bounces: count them against the address that bounced, and stop mailing a dead address.

A bounce is a DSN (or a known non-standard bounce) arriving inbound, or a 5xx from
the SMTP server. Our VERP envelope sender (`<slug>+bounce-<token>@…`) names the
recipient; otherwise flufl.bounce finds the address. bounces on `threshold`
different days within `window_days` disable the contact's member mail and tell the secretary; role mail
keeps being tried and the administrator is told, because the role needs someone.
Delayed notices never count; a bounce whose address cannot be found counts
against nobody.
"""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.app import App
from bot.core.logs import log_event
from bot.outbound import tokens
from bot.outbound.compose import Letter, compose
from bot.outbound.outbox import enqueue
from bot.people.addresses import find_contact
from bot.people.recipients import holds_a_role, networks_of, recipient, role_holders
from bot.store.models import AdminEvent, Bounce, Contact, OutboxMessage


def record_bounce(app: App, session: Session, address: str, *, source: str, detail: str = "",
                  inbound_id: int | None = None, outbox_id: int | None = None) -> Contact | None:
    """Store one bounce; disable the contact once they reach the threshold. Returns the contact, if known."""
    now = app.clock.now()
    contact = find_contact(session, address) if address else None
    session.add(Bounce(address=address.lower(), contact_id=contact.id if contact else None, at=now,
                       source=source, inbound_id=inbound_id, outbox_id=outbox_id, detail=detail[:500]))
    session.flush()
    log_event("bounce", address=address or None, contact=contact.id if contact else None, source=source)
    if contact is not None and not contact.delivery_disabled and _recent(app, session, contact) >= app.settings.bounces.threshold:
        disable_delivery(app, session, contact)
    return contact


def bounced_address(session: Session, verp_token: str | None) -> str:
    """The recipient a bounce is about, as our VERP envelope sender names it.

    Every mail we send has a VERP envelope sender, so a real bounce of our mail comes back to
    `+bounce-<token>`. A "bounce" without a known token counts against nobody: anyone can
    write a DSN naming a member to the plain list address.
    """
    issued = tokens.lookup(session, verp_token)
    return issued.address if issued is not None else ""


def _recent(app: App, session: Session, contact: Contact) -> int:
    """Days with a bounce in the window: an afternoon of one server refusing everything is one."""
    since = app.clock.now() - timedelta(days=app.settings.bounces.window_days)
    if contact.bounces_cleared_at and contact.bounces_cleared_at > since:
        since = contact.bounces_cleared_at
    moments = session.exec(select(Bounce.at).where(Bounce.contact_id == contact.id, Bounce.at >= since)).all()
    return len({moment.date() for moment in moments})


def disable_delivery(app: App, session: Session, contact: Contact) -> None:
    now = app.clock.now()
    contact.delivery_disabled = True
    role_holder = holds_a_role(session, contact)
    settings = app.settings
    for slug in networks_of(session, contact):
        network = settings.network(slug) if any(n.slug == slug for n in settings.networks) else None
        if network is None:
            continue
        for secretary in role_holders(session, slug, "secretary"):
            letter = Letter(kind="delivery-disabled", network=network, recipient=recipient(secretary),
                            dedupe_key=f"delivery-disabled:{contact.id}:{slug}:{secretary.id}:{now:%Y-%m-%d}",
                            context={"contact": {"name": contact.name, "email": contact.email},
                                     "bounce_count": _recent(app, session, contact),
                                     "days": settings.bounces.window_days, "role_holder": role_holder})
            enqueue(session, compose(app, session, letter))
    if role_holder:
        session.add(AdminEvent(at=now, kind="role-holder-bouncing",
                               detail=f"{contact.name} <{contact.email}> holds a role but their mail bounces; "
                                      "role mail is still tried: find someone for the role or a working address"))
    session.flush()  # later mail in the same batch must see the change
    log_event("delivery_disabled", contact=contact.id, address=contact.email, role_holder=role_holder)


def record_refusals(app: App, session: Session, bounced: list[OutboxMessage]) -> None:
    """5xx answers from the SMTP server count like DSNs."""
    for row in bounced:
        record_bounce(app, session, row.recipient, source="smtp-5xx", detail=row.last_error, outbox_id=row.id)


def clear(session: Session, address: str, now) -> Contact | None:
    """`kkrbot contacts clear-bounce EMAIL`: deliver again; earlier bounces stop counting."""
    contact = find_contact(session, address)
    if contact is not None:
        contact.delivery_disabled = False
        contact.bounces_cleared_at = now
    return contact
