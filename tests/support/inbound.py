"""Push raw mail through the real pipeline (store → process) and read what came of it."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import Session, select

from bot.actions.pipeline import process_pending
from bot.inbound.arrivals import store_inbound
from bot.inbound.imap_routing import route_message
from bot.outbound import tokens
from bot.people.addresses import find_contact
from bot.store.blobs import read_raw
from bot.store.models import InboundMessage, Meeting, Network, OutboxMessage


def deliver(app, raw: bytes, to: str | None = None, envelope_from: str = "sender@example.dk") -> int:
    """Store like the SMTP receiver does (to the routed list address, or `to`) and process everything."""
    stored = store(app, raw, to, envelope_from)
    process_pending(app)
    return stored


def store(app, raw: bytes, to: str | None = None, envelope_from: str = "sender@example.dk") -> int:
    """Store like the SMTP receiver does, and nothing more: the mail waits for a worker."""
    from bot.inbound.routing import route

    address = route(to, app.settings.networks) if to else route_message(raw, app.settings.networks)[0]
    [stored] = store_inbound(app.engine, raw, source="smtp", envelope_from=envelope_from,
                             envelope_to=[to or (address.address if address else "")], deliveries=[address],
                             now=app.clock.now(), delivered_to=to or "")
    return stored.id


def raw_of(app, inbound_id: int) -> bytes:
    """The bytes stored for a received mail."""
    with Session(app.engine) as session:
        return bytes(read_raw(session, inbound_id))


def row(app, inbound_id: int) -> InboundMessage:
    with Session(app.engine) as session:
        return session.get(InboundMessage, inbound_id)


def outbox(app, kind: str | None = None) -> list[OutboxMessage]:
    with Session(app.engine) as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.exec(query))


def issue_token(app, address: str, kind: str, network: str = "it-netvaerk", meeting_id: int | None = None,
                ref: str = "test") -> str:
    """A genuine token, as compose would issue it for a `kind` mail to `address`."""
    token = tokens.make_token(app.token_secret, network, address, kind, ref, meeting_id)
    with Session(app.engine) as session:
        contact = find_contact(session, address)
        tokens.record(session, token, network=network, address=address, kind=kind, now=app.clock.now(),
                      contact_id=contact.id if contact else None, meeting_id=meeting_id)
        session.commit()
    return token


def add_meeting(app, network: str, day: str) -> int:
    """A meeting on `day` (its original date), for calendar replies to refer to."""
    with Session(app.engine) as session:
        network_id = session.exec(select(Network.id).where(Network.slug == network)).one()
        start = datetime.fromisoformat(f"{day}T08:00:00").replace(tzinfo=timezone.utc)
        meeting = Meeting(network_id=network_id, series_id=f"{network}/{day}", original_date=start.date(),
                          starts_at=start, ends_at=start.replace(hour=11), updated_at=start)
        session.add(meeting)
        session.commit()
        return meeting.id
