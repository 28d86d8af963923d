"""Compose: one mail to one person, from a template, ready for the outbox.

Every mail carries `X-Kkrbot-Kind`, `X-Loop` (so our own mail coming back is seen
as a loop) and `Auto-Submitted`. Mail written to a person carries that person's
token in its Reply-To (`<slug>+<token>@…`) and Message-ID; the envelope sender is
the VERP address `<slug>+bounce-<token>@…`, so a bounce names its recipient.
Plain text and HTML go in multipart/alternative; a calendar part, when there is
one, goes inside it too (so Outlook shows Accept/Decline) and again as an .ics
attachment. Header values are folded to one line: a CR or LF in a subject, a name
or an item title becomes a space, so nothing can inject a header and the mail
still goes.

Attachments (an agenda's appendices) are not part of the row's own bytes: each is a
SharedSlot, stored once by its SHA-256 however many people get it, and joined in at
send time (bot/outbound/copies.py).
"""
from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Callable

from sqlmodel import Session

from bot.app import App
from bot.config.networks import NetworkConfig
from bot.outbound import tokens
from bot.outbound.templates import one_line, render
from bot.store.models import OutboxMessage

AUTO_REPLIED, AUTO_GENERATED = "auto-replied", "auto-generated"
LIST_KINDS = ("post", "call", "invitation", "agenda", "meeting-update", "cancel", "reminder", "minutes")


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str = ""
    contact_id: int | None = None


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CalendarPart:
    ics: bytes
    method: str  # REQUEST or CANCEL


@dataclass(frozen=True)
class SharedSlot:
    """An attachment's body, stored once, that goes in base64 at `offset` of a row's own bytes."""

    offset: int
    sha256: str
    data: bytes


@dataclass(frozen=True)
class Composed:
    """A composed mail: its outbox row (the personal bytes) and the shared attachments."""

    row: OutboxMessage
    shared: tuple[SharedSlot, ...] = ()

    @property
    def raw(self) -> bytes:
        """The whole mail, as the recipient will get it."""
        parts, start = [], 0
        for slot in self.shared:
            parts += [self.row.raw[start:slot.offset], base64.encodebytes(slot.data).replace(b"\n", b"\r\n")]
            start = slot.offset
        return b"".join([*parts, self.row.raw[start:]])


@dataclass
class Letter:
    """Everything that decides one outgoing mail, before rendering."""

    kind: str
    network: NetworkConfig
    recipient: Recipient
    dedupe_key: str
    context: dict = field(default_factory=dict)
    auto_submitted: str = AUTO_GENERATED
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    meeting_id: int | None = None
    token_parts: tuple = ()  # what the reply token is bound to (default: the dedupe key)
    token_ref: str = ""
    calendar: Callable[[str, str], CalendarPart] | None = None  # (organizer +token address, mail text) -> part
    attachments: tuple[Attachment, ...] = ()


def token_for(app: App, letter: Letter) -> str:
    return tokens.make_token(app.token_secret, letter.network.slug, letter.recipient.address.lower(),
                             *(letter.token_parts or (letter.dedupe_key,)))


def compose(app: App, session: Session, letter: Letter) -> Composed:
    """Render and build the mail; record its token; return the outbox row (not yet added)."""
    network, now = letter.network, app.clock.now()
    token = token_for(app, letter)
    tokens.record(session, token, network=network.slug, address=letter.recipient.address, kind=letter.kind,
                  now=now, contact_id=letter.recipient.contact_id, meeting_id=letter.meeting_id, ref=letter.token_ref)
    reply_to = tokens.reply_address(network.address, token)
    context = base_context(app, network, letter.recipient, reply_to) | letter.context
    rendered = render(letter.kind, network.language, context)
    nonce = hashlib.sha256(letter.dedupe_key.encode()).hexdigest()[:10]
    message = EmailMessage(policy=SMTP)
    # Address objects, not formataddr() strings: the header registry quotes a display name
    # safely, so a name like 'Søren Bcc: x@y' stays a name (formataddr + refolding did not).
    message["From"] = Address(display_name=one_line(network.name), addr_spec=network.address)
    message["To"] = Address(display_name=one_line(letter.recipient.name), addr_spec=letter.recipient.address)
    message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = tokens.message_id(token, nonce, network.domain)
    _threading(message, letter)
    _bot_headers(message, letter, network)
    if letter.kind in LIST_KINDS:
        add_list_headers(message, network, unsubscribe_token(app, session, network, letter.recipient, now))
    markers = _body(message, rendered.text, rendered.html, letter, reply_to)
    raw, shared = _cut_out(message.as_bytes(), markers)
    row = OutboxMessage(
        dedupe_key=letter.dedupe_key, kind=letter.kind, network_slug=network.slug,
        recipient=letter.recipient.address, envelope_from=tokens.bounce_address(network.address, token),
        message_id=message["Message-ID"], raw=raw, next_attempt_at=now,
        deadline_at=now + timedelta(days=app.settings.outbox.deadline_days), created_at=now)
    return Composed(row, shared)


def base_context(app: App, network: NetworkConfig, recipient: Recipient, reply_to: str) -> dict:
    """The variables every template may use (see templates and tests/support/sample_contexts.py)."""
    return {
        "timezone": network.timezone,
        "network": {"name": network.name, "slug": network.slug, "address": network.address,
                    "list_archive": network.list_archive},
        "recipient": {"name": recipient.name, "email": recipient.address},  # templates greet "" as "Hej"
        "bot": {"from_name": app.settings.from_name, "admin_address": app.settings.admin_address},
        "reply_address": reply_to,
    }


def unsubscribe_token(app: App, session: Session, network: NetworkConfig, recipient: Recipient,
                      now: datetime) -> str:
    """The member's standing List-Unsubscribe token: one per member and network (as list_post makes it)."""
    token = tokens.make_token(app.token_secret, network.slug, recipient.address.lower(), "list-unsubscribe")
    tokens.record(session, token, network=network.slug, address=recipient.address, kind="list-unsubscribe",
                  now=now, contact_id=recipient.contact_id)
    return token


def add_list_headers(message: EmailMessage, network: NetworkConfig, unsubscribe: str | None) -> None:
    """RFC 2369/2919 list headers. No List-Unsubscribe-Post: RFC 8058 needs HTTPS, and we have no web side.

    `unsubscribe` is the member's token; None leaves List-Unsubscribe to the caller (list_post adds it
    per member)."""
    message["List-Id"] = f"{one_line(network.name)} <{network.slug}.{network.domain}>"
    message["List-Post"] = f"<mailto:{network.address}>"
    message["List-Help"] = f"<mailto:{network.address}?subject=help>"
    if unsubscribe is not None:
        message["List-Unsubscribe"] = unsubscribe_header(tokens.reply_address(network.address, unsubscribe))
    if network.list_archive:
        message["List-Archive"] = f"<{network.list_archive}>"
    message["Precedence"] = "list"


def unsubscribe_header(address: str) -> str:
    return f"<mailto:{address}?subject=unsubscribe>"


def _threading(message: EmailMessage, letter: Letter) -> None:
    if letter.in_reply_to:
        message["In-Reply-To"] = one_line(letter.in_reply_to)
        refs = [*letter.references, letter.in_reply_to][-20:]
        message["References"] = one_line(" ".join(dict.fromkeys(refs)))


def _bot_headers(message: EmailMessage, letter: Letter, network: NetworkConfig) -> None:
    message["Auto-Submitted"] = letter.auto_submitted
    message["X-Kkrbot-Kind"] = letter.kind
    message["X-Loop"] = network.address
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # ask Exchange not to answer us automatically


def _body(message: EmailMessage, text: str, html: str, letter: Letter, reply_to: str) -> list[tuple[bytes, bytes]]:
    """Text, HTML, calendar and attachments; returns (marker, data) for each attachment, whose
    body is an unguessable marker where its base64 goes at send time."""
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    if letter.calendar is not None:
        _add_calendar(message, letter.calendar(reply_to, text))
    markers = []
    for item in letter.attachments:
        marker = f"kkrbot-shared-{uuid.uuid4().hex}".encode()
        maintype, _, subtype = item.content_type.partition("/")
        message.add_attachment(marker, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=one_line(item.filename), cte="7bit")
        message.get_payload()[-1].replace_header("Content-Transfer-Encoding", "base64")
        markers.append((marker, item.data))
    return markers


def _cut_out(raw: bytes, markers: list[tuple[bytes, bytes]]) -> tuple[bytes, tuple[SharedSlot, ...]]:
    """The mail's own bytes without the attachment bodies, and where each body goes."""
    slots = []
    for marker, data in markers:
        at = raw.index(marker)
        raw = raw[:at] + raw[at + len(marker):]
        slots.append(SharedSlot(at, hashlib.sha256(data).hexdigest(), data))
    return raw, tuple(slots)


def _add_calendar(message: EmailMessage, part: CalendarPart) -> None:
    """text/calendar inside the alternative (Outlook's Accept/Decline) plus the same .ics attached."""
    alternative = message
    alternative.attach(_calendar_part(part))
    message.make_mixed()
    message.add_attachment(part.ics, maintype="application", subtype="ics", filename="invite.ics")


def _calendar_part(part: CalendarPart) -> EmailMessage:
    calendar = EmailMessage(policy=SMTP)
    calendar.set_content(part.ics, maintype="text", subtype="calendar", cte="base64",
                         params={"method": part.method, "charset": "UTF-8"})
    del calendar["MIME-Version"]
    return calendar


def compose_unrecorded(app: App, letter: Letter) -> tuple[str, bytes]:
    """The mail `compose` would build, as (envelope sender, bytes), without touching the database.

    For telling the administrator that the database itself is failing. The token is not
    recorded, so a reply to this mail is refused as carrying an unknown token (never relayed),
    and a bounce of it counts against nobody."""
    network, now = letter.network, app.clock.now()
    token = token_for(app, letter)
    reply_to = tokens.reply_address(network.address, token)
    rendered = render(letter.kind, network.language, base_context(app, network, letter.recipient, reply_to)
                      | letter.context)
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(display_name=one_line(network.name), addr_spec=network.address)
    message["To"] = Address(display_name=one_line(letter.recipient.name), addr_spec=letter.recipient.address)
    message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = tokens.message_id(token, hashlib.sha256(letter.dedupe_key.encode()).hexdigest()[:10],
                                              network.domain)
    _bot_headers(message, letter, network)
    _body(message, rendered.text, rendered.html, letter, reply_to)
    return tokens.bounce_address(network.address, token), message.as_bytes()
