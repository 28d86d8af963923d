"""Relay a member's post to everyone on the list: one message per member.

The post keeps its author's Message-ID, subject, date and threading headers, so
threads stay intact for everybody, and carries no reply token. From is rewritten
to "<author> via <network>" at the list address (Reply-To is the author): our
footer changes the body, so the author's DKIM signature cannot survive, and a
strict DMARC policy at the author's domain would otherwise get the post rejected.
The footer is its own MIME part after the original body, so any MIME structure
(signed, alternative, attachments) is carried unchanged. Each member's copy has
their own List-Unsubscribe token and VERP envelope sender.

Handling a post queues one send job (the shared headers; the body is the stored
inbound mail) and a small row per member; no copy is composed here.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr

from sqlalchemy import insert
from sqlmodel import Session, select

from bot.app import App
from bot.config.networks import NetworkConfig
from bot.outbound import tokens
from bot.outbound.compose import add_list_headers
from bot.outbound.templates import one_line
from bot.store.models import Contact, IssuedToken, OutboxMessage, SendJob

KEPT_HEADERS = ("subject", "date", "message-id", "in-reply-to", "references", "to", "cc", "content-language",
                "thread-topic", "thread-index", "importance", "mime-version")
CONTENT_HEADERS = ("content-type", "content-transfer-encoding")
CHUNK = 500
# CR and LF, and the other characters some parsers take for a line break (ASCII VT, FF, FS, GS, RS;
# U+0085, U+2028, U+2029 as UTF-8): none may survive inside a header we pass on.
LINE_BREAKS = re.compile(rb"(?:[\r\n\x0b\x0c\x1c\x1d\x1e]|\xc2\x85|\xe2\x80[\xa8\xa9])+")
MESSAGE_IDS = re.compile(rb"<[^<>\s]*>")


@dataclass(frozen=True)
class Skeleton:
    """The parts of the relayed post that are the same for every member."""

    head: bytes  # kept and rewritten headers, without List-Unsubscribe
    body_headers: bytes  # the original body's Content-Type and Content-Transfer-Encoding
    body_offset: int  # where the original body starts in the raw post
    boundary: str


def relay(app: App, session: Session, network: NetworkConfig, inbound_id: int, raw: bytes, author_name: str,
          author: str, subject: str, recipients: list[Contact], post_key: str) -> int:
    """Queue one send job and a small row per recipient in the caller's transaction; return how
    many were queued. The copies are made at send time (bot/outbound/copies.py)."""
    now = app.clock.now()
    unsubscribe = _unsubscribe_tokens(app, session, network, recipients, now)
    wanted = {f"{post_key}:{c.email}": c for c in recipients}
    existing = set()
    for start in range(0, len(wanted), CHUNK):
        keys = list(wanted)[start:start + CHUNK]
        existing |= set(session.exec(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys))))
    new = [(key, contact) for key, contact in wanted.items() if key not in existing]
    if not new:
        return 0
    skeleton = build_skeleton(network, raw, author_name, author, Ours.of(app.settings.networks))
    job_id = session.execute(insert(SendJob).values(
        kind="post", network_slug=network.slug, inbound_id=inbound_id, body_offset=skeleton.body_offset,
        head=skeleton.head, body_headers=skeleton.body_headers, boundary=skeleton.boundary, subject=subject,
        created_at=now)).inserted_primary_key[0]
    message_id = _message_id(skeleton.head)
    deadline = now + _deadline(app)
    rows = [dict(dedupe_key=key, kind="post", network_slug=network.slug, job_id=job_id, recipient=contact.email,
                 token=unsubscribe[contact.id],
                 # The member's standing token names them in a bounce too (it is recorded; a per-post one is not).
                 envelope_from=tokens.bounce_address(network.address, unsubscribe[contact.id]),
                 message_id=message_id, raw=b"", status="queued", attempts=0, next_attempt_at=now,
                 deadline_at=deadline, last_error="", created_at=now) for key, contact in new]
    session.execute(insert(OutboxMessage), rows)
    return len(rows)


def build_skeleton(network: NetworkConfig, raw: bytes, author_name: str, author: str,
                   ours: Ours | None = None) -> Skeleton:
    ours = ours or Ours.of((network,))
    head, body_offset = _split(raw)
    fields = _fields(head)
    kept = b"".join(_rebuilt(line, ours) for name, line in fields if name in KEPT_HEADERS)
    content = b"".join(_rebuilt(line, ours) for name, line in fields if name in CONTENT_HEADERS) or \
        b"Content-Type: text/plain; charset=us-ascii\r\n"
    boundary = f"kkrbot-{uuid.uuid4().hex}"
    ours = [("From", _address(f"{author_name or author} via {network.name}", network.address)),
            ("Reply-To", _address(author_name, author)), ("X-Original-From", _address(author_name, author)),
            ("X-Kkrbot-Kind", "post"), ("X-Loop", network.address),
            ("Content-Type", f'multipart/mixed; boundary="{boundary}"')]
    if "mime-version" not in {name for name, _ in fields}:
        ours.append(("MIME-Version", "1.0"))
    list_headers = EmailMessage(policy=SMTP)
    add_list_headers(list_headers, network, unsubscribe=None)
    added = "".join(f"{name}: {value}\r\n" for name, value in ours).encode("ascii")
    return Skeleton(head=kept + added + list_headers.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n",
                    body_headers=content, body_offset=body_offset, boundary=boundary)


@dataclass(frozen=True)
class Ours:
    """The addresses the bot owns: its lists' domains and slugs, so that no token of ours is passed on."""

    domains: frozenset[str]
    tagged: re.Pattern  # <slug>+<tag>@<domain> of any network: a member's reply or bounce address

    @classmethod
    def of(cls, networks) -> "Ours":
        slugs = "|".join(re.escape(n.slug) for n in networks) or "(?!)"
        domains = "|".join(re.escape(n.domain) for n in networks) or "(?!)"
        return cls(frozenset(n.domain.lower() for n in networks),
                   re.compile(rf"\b({slugs})\+[^@\s<>\"]+@({domains})\b".encode(), re.I))

    def message_id(self, message_id: bytes) -> bool:
        text = message_id.decode("latin-1")
        return tokens.token_in_message_id(text) is not None and text.lower().rstrip(">").rsplit("@", 1)[-1] in self.domains


def _rebuilt(field: bytes, ours: Ours) -> bytes:
    """A kept header written anew: one logical line, every line break in it (a bare CR too) made a
    space, so a parser sees exactly the headers we meant; our own tokened Message-IDs dropped from
    the threading headers and our +tag addresses made the plain list address, so no member's token
    reaches the list. Empty when nothing is left."""
    name, _, value = field.partition(b":")
    value = LINE_BREAKS.sub(b" ", value).strip()
    lower = name.strip().lower()
    if lower in (b"references", b"in-reply-to"):
        value = b" ".join(i for i in MESSAGE_IDS.findall(value) if not ours.message_id(i))
    elif lower in (b"to", b"cc"):
        value = ours.tagged.sub(rb"\1@\2", value)
    elif lower == b"message-id" and any(ours.message_id(i) for i in MESSAGE_IDS.findall(value)):
        value = f"<post-{hashlib.sha256(value).hexdigest()[:24]}@{sorted(ours.domains)[0]}>".encode()
    return _folded(name.strip() + b": " + value) + b"\r\n" if value else b""


def _folded(line: bytes, width: int = 78) -> bytes:
    """Fold at spaces so that lines stay near `width` (a long References has many ids)."""
    lines, current = [], b""
    for word in line.split(b" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = current + b" " + word if current else word
    return b"\r\n ".join([*lines, current])


def _address(name: str, address: str) -> str:
    """An address header value built once: an ASCII name quoted as needed, any other name as
    RFC 2047 encoded-words of at most 75 characters, folded onto continuation lines."""
    name = one_line(name)
    if name.isascii():
        return formataddr((name, address))
    encoded = Header(name, "utf-8").encode(maxlinelen=76, linesep="\r\n")
    return f"{encoded}\r\n <{address}>"


def _split(raw: bytes) -> tuple[bytes, int]:
    """The header block (line ends made CRLF) and where the body starts in `raw`."""
    found = re.search(rb"\r?\n\r?\n", raw)
    end = found.start() if found else len(raw)
    head = re.sub(rb"\r?\n", b"\r\n", bytes(raw[:end]))
    return head + b"\r\n", found.end() if found else len(raw)


def _fields(head: bytes) -> list[tuple[str, bytes]]:
    """Raw header fields with their folded continuation lines, names lowercased."""
    fields: list[tuple[str, bytes]] = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + line + b"\r\n")
        elif b":" in line:
            fields.append((line.split(b":", 1)[0].strip().lower().decode("latin-1"), line + b"\r\n"))
    return fields


def _unsubscribe_tokens(app: App, session: Session, network: NetworkConfig, contacts: list[Contact],
                        now) -> dict[int, str]:
    """Each member's standing List-Unsubscribe token, recorded in bulk the first time."""
    wanted = {c.id: tokens.make_token(app.token_secret, network.slug, c.email, "list-unsubscribe") for c in contacts}
    values, known = list(wanted.values()), set()
    for start in range(0, len(values), CHUNK):
        known |= set(session.exec(select(IssuedToken.token).where(IssuedToken.token.in_(values[start:start + CHUNK]))))
    new = [dict(token=wanted[c.id], network_slug=network.slug, contact_id=c.id, address=c.email,
                kind="list-unsubscribe", ref="", created_at=now) for c in contacts if wanted[c.id] not in known]
    if new:
        session.execute(insert(IssuedToken), new)
    return wanted


def _message_id(head: bytes) -> str:
    found = re.search(rb"^message-id:\s*(<[^>\r\n]+>)", head, re.I | re.M)
    return found.group(1).decode("latin-1") if found else ""


def _deadline(app: App) -> timedelta:
    return timedelta(days=app.settings.outbox.deadline_days)
