"""Relay a member's post to everyone on the list: one message per member.

The post keeps its author's Message-ID, subject, date and threading headers, so
threads stay intact for everybody, and carries no reply token. From is rewritten
to "<author> via <network>" at the list address (Reply-To is the author): our
footer changes the body, so the author's DKIM signature cannot survive, and a
strict DMARC policy at the author's domain would otherwise get the post rejected.
The footer is its own MIME part after the original body, so any MIME structure
(signed, alternative, attachments) is carried unchanged. Each member's copy has
their own List-Unsubscribe token and VERP envelope sender.
"""
from __future__ import annotations

import quopri
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
from bot.outbound.compose import Recipient, add_list_headers, base_context, unsubscribe_header
from bot.outbound.templates import one_line, render
from bot.store.models import Contact, IssuedToken, OutboxMessage

KEPT_HEADERS = ("subject", "date", "message-id", "in-reply-to", "references", "to", "cc", "content-language",
                "thread-topic", "thread-index", "importance", "mime-version")
CONTENT_HEADERS = ("content-type", "content-transfer-encoding")
CHUNK = 500


@dataclass(frozen=True)
class Skeleton:
    """The parts of the relayed post that are the same for every member."""

    head: bytes  # kept and rewritten headers, without List-Unsubscribe
    body_part: bytes  # the original body as the first MIME part
    boundary: str


def relay(app: App, session: Session, network: NetworkConfig, raw: bytes, author_name: str, author: str,
          subject: str, recipients: list[Contact], post_key: str) -> int:
    """Queue one copy per recipient in the caller's transaction; return how many were queued."""
    skeleton = build_skeleton(network, raw, author_name, author)
    now = app.clock.now()
    queued = 0
    for start in range(0, len(recipients), CHUNK):
        chunk = recipients[start:start + CHUNK]
        unsubscribe = _unsubscribe_tokens(app, session, network, chunk, now)
        rows = [_row(app, network, skeleton, contact, unsubscribe[contact.id], subject, post_key, now)
                for contact in chunk]
        existing = set(session.exec(select(OutboxMessage.dedupe_key).where(
            OutboxMessage.dedupe_key.in_([r["dedupe_key"] for r in rows]))))
        rows = [r for r in rows if r["dedupe_key"] not in existing]
        if rows:
            session.execute(insert(OutboxMessage), rows)
        queued += len(rows)
    return queued


def build_skeleton(network: NetworkConfig, raw: bytes, author_name: str, author: str) -> Skeleton:
    head, body = _split(raw)
    fields = _fields(head)
    kept = b"".join(line for name, line in fields if name in KEPT_HEADERS)
    content = b"".join(line for name, line in fields if name in CONTENT_HEADERS) or \
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
                    body_part=content + b"\r\n" + body, boundary=boundary)


def _address(name: str, address: str) -> str:
    """An address header value built once: an ASCII name quoted as needed, any other name as
    RFC 2047 encoded-words of at most 75 characters, folded onto continuation lines."""
    name = one_line(name)
    if name.isascii():
        return formataddr((name, address))
    encoded = Header(name, "utf-8").encode(maxlinelen=76, linesep="\r\n")
    return f"{encoded}\r\n <{address}>"


def _split(raw: bytes) -> tuple[bytes, bytes]:
    raw = re.sub(rb"\r?\n", b"\r\n", raw)
    head, _, body = raw.partition(b"\r\n\r\n")
    return head + b"\r\n", body


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
    known = set(session.exec(select(IssuedToken.token).where(IssuedToken.token.in_(list(wanted.values())))))
    new = [dict(token=wanted[c.id], network_slug=network.slug, contact_id=c.id, address=c.email,
                kind="list-unsubscribe", ref="", created_at=now) for c in contacts if wanted[c.id] not in known]
    if new:
        session.execute(insert(IssuedToken), new)
    return wanted


def _row(app: App, network: NetworkConfig, skeleton: Skeleton, contact: Contact, unsubscribe: str,
         subject: str, post_key: str, now) -> dict:
    unsubscribe_address = tokens.reply_address(network.address, unsubscribe)
    context = base_context(app, network, _recipient(contact), network.address) | {
        "original_subject": subject, "unsubscribe_address": unsubscribe_address}
    footer = render("post", network.language, context)
    raw = (skeleton.head + f"List-Unsubscribe: {unsubscribe_header(unsubscribe_address)}\r\n\r\n".encode()
           + _multipart(skeleton, footer.text, footer.html))
    return dict(dedupe_key=f"{post_key}:{contact.email}", kind="post", network_slug=network.slug,
                # The member's standing token names them in a bounce too (it is recorded; a per-post one is not).
                recipient=contact.email, envelope_from=tokens.bounce_address(network.address, unsubscribe),
                message_id=_message_id(skeleton.head), raw=raw, status="queued", attempts=0,
                next_attempt_at=now, deadline_at=now + _deadline(app), last_error="", created_at=now)


def _recipient(contact: Contact) -> Recipient:
    return Recipient(contact.email, contact.name, contact.id)


def _multipart(skeleton: Skeleton, text: str, html: str) -> bytes:
    inner = f"kkrbot-footer-{skeleton.boundary[7:]}"
    footer = (f'Content-Type: multipart/alternative; boundary="{inner}"\r\n\r\n'.encode()
              + _part(inner, "plain", text) + _part(inner, "html", html) + f"--{inner}--\r\n".encode())
    outer = skeleton.boundary
    return (f"--{outer}\r\n".encode() + skeleton.body_part + f"\r\n--{outer}\r\n".encode() + footer
            + f"--{outer}--\r\n".encode())


def _part(boundary: str, subtype: str, text: str) -> bytes:
    encoded = quopri.encodestring(text.replace("\r\n", "\n").encode("utf-8")).replace(b"\n", b"\r\n")
    return (f"--{boundary}\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: quoted-printable\r\nContent-Disposition: inline\r\n\r\n").encode() \
        + encoded + b"\r\n"


def _message_id(head: bytes) -> str:
    found = re.search(rb"^message-id:\s*(<[^>\r\n]+>)", head, re.I | re.M)
    return found.group(1).decode("latin-1") if found else ""


def _deadline(app: App) -> timedelta:
    return timedelta(days=app.settings.outbox.deadline_days)
