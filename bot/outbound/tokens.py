"""Reply tokens: who a bot mail was for, and what a reply to it may do.

Every mail the bot writes to one person carries a token in its Reply-To
(`<slug>+<token>@…`), its Message-ID (`<<token>.<nonce>@…>`) and, in invitations,
the iCalendar ORGANIZER. A token is an HMAC of the mail's identity and recipient
under TOKEN_SECRET: unguessable (120 bits), lowercase base32 because some servers
change the case of local parts, and short enough that `<slug>+bounce-<token>`
fits RFC 5321's 64-octet local part with the longest slug config allows.
The database row (IssuedToken) says what the token points to.

It lives in outbound/ because tokens are minted when a mail is composed; rules/
(classify, authorize) and actions/ (bounces) read the same format back.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

from sqlmodel import Session

from bot.store.models import Alias, Contact, IssuedToken

TOKEN_LENGTH = 24  # base32 characters: 120 bits
TOKEN_PATTERN = re.compile(rf"[a-z2-7]{{{TOKEN_LENGTH}}}")
BOUNCE_PREFIX = "bounce-"


def make_token(secret: bytes, *parts: object) -> str:
    """The token for one mail to one recipient: HMAC-SHA256 over its identity, base32, lowercase."""
    if not secret:
        raise ValueError("no token secret: start the bot once or set TOKEN_SECRET")
    digest = hmac.new(secret, "\x1f".join(str(p) for p in parts).encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:TOKEN_LENGTH]


def reply_address(network_address: str, token: str) -> str:
    local, domain = network_address.split("@", 1)
    return f"{local}+{token}@{domain}"


def bounce_address(network_address: str, token: str) -> str:
    return reply_address(network_address, BOUNCE_PREFIX + token)


def message_id(token: str, nonce: str, domain: str) -> str:
    return f"<{token}.{nonce}@{domain}>"


def token_in_tag(tag: str) -> str | None:
    """The token in a `+tag` (as routing.ListAddress.tag gives it), ignoring bounce tags."""
    tag = tag.lower()
    return tag if TOKEN_PATTERN.fullmatch(tag) else None


def bounce_token_in_tag(tag: str) -> str | None:
    tag = tag.lower()
    if tag.startswith(BOUNCE_PREFIX) and TOKEN_PATTERN.fullmatch(tag[len(BOUNCE_PREFIX):]):
        return tag[len(BOUNCE_PREFIX):]
    return None


def token_in_message_id(value: str) -> str | None:
    """The token of a bot Message-ID (`<token.nonce@domain>`), or None."""
    found = re.fullmatch(r"\s*<?([a-z2-7]+)\.[A-Za-z0-9]+@[^>]+>?\s*", value or "", re.IGNORECASE)
    token = found.group(1).lower() if found else None
    return token if token and TOKEN_PATTERN.fullmatch(token) else None


def record(session: Session, token: str, *, network: str, address: str, kind: str, now: datetime,
           contact_id: int | None = None, meeting_id: int | None = None, ref: str = "") -> IssuedToken:
    """Remember what a token points to (idempotent: a recomposed mail has the same token)."""
    row = session.get(IssuedToken, token)
    if row is None:
        row = IssuedToken(token=token, network_slug=network, address=address.lower(), kind=kind,
                          contact_id=contact_id, meeting_id=meeting_id, ref=ref, created_at=now)
        session.add(row)
    return row


def lookup(session: Session, token: str | None) -> IssuedToken | None:
    return session.get(IssuedToken, token) if token else None


def belongs_to(session: Session, issued: IssuedToken, sender: str) -> bool:
    """Is `sender` (an address, any case) the person the token was issued to, or one of their aliases?"""
    sender = sender.strip().lower()
    if not sender:
        return False
    if sender == issued.address:
        return True
    if issued.contact_id is None:
        return False
    contact = session.get(Contact, issued.contact_id)
    if contact and contact.email == sender:
        return True
    alias = session.get(Alias, sender)
    return alias is not None and alias.contact_id == issued.contact_id
