"""Each recipient's bytes, made at send time from their small row and the content they share.

A copy is a sequence of parts: the recipient's own bytes and shared pieces (a relayed
post's header block and original body, an appendix in base64). A shared piece is read
and prepared once per job or attachment and then handed to every copy as the same
object, so neither memory nor the database grows with recipients × size. The SMTP
sender dot-stuffs a shared piece once, not once per copy (SharedPart.wire).
"""
from __future__ import annotations

import base64
import quopri
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

from sqlmodel import Session, select

from bot.app import App
from bot.outbound import tokens
from bot.outbound.compose import Recipient, base_context, unsubscribe_header
from bot.outbound.templates import render
from bot.store.blobs import read_raw
from bot.store.models import OutboxPart, SendJob, SharedContent

CACHE_BYTES = 64 * 1024 * 1024  # shared pieces kept between batches (a big post's body, appendices)
# The post footer differs per member only in their List-Unsubscribe address: it is rendered once
# per job with this stand-in, which each copy replaces by the member's address.
UNSUBSCRIBE_STAND_IN = "kkrbot-unsubscribe-stand-in@invalid.example"
LEADING_DOT = re.compile(rb"(?m)^\.")
BARE_LF = re.compile(rb"(?<!\r)\n")


class MissingContent(Exception):
    """The shared content a queued mail needs is gone (its original was deleted)."""


class SharedPart:
    """A piece of mail that many copies carry; `wire` is its SMTP DATA form, made once."""

    def __init__(self, data: bytes | memoryview):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    @cached_property
    def wire(self) -> bytes | memoryview:
        """Dot-stuffed (RFC 5321 4.5.2); the piece itself when no line starts with a dot."""
        return dot_stuffed(self.data)


Part = bytes | SharedPart


def dot_stuffed(data: bytes | memoryview) -> bytes | memoryview:
    """A leading dot doubled on every line; the piece must start at the beginning of a line."""
    return LEADING_DOT.sub(b"..", data) if LEADING_DOT.search(data) else data


def joined(parts: tuple[Part, ...]) -> bytes:
    return b"".join(bytes(p.data) if isinstance(p, SharedPart) else p for p in parts)


@dataclass(frozen=True)
class QueuedRow:
    """The columns of an outbox row that its copy is made from."""

    id: int
    recipient: str
    envelope_from: str
    raw: bytes
    job_id: int | None
    token: str


@dataclass(frozen=True)
class PostPieces:
    """What every copy of one relayed post shares, prepared once."""

    network: str
    head: SharedPart
    body_start: SharedPart  # the outer boundary and the original body's own headers
    body: SharedPart
    footer_start: SharedPart  # the outer boundary again and the footer's multipart/alternative header
    inner_boundary: str
    outer_boundary: str
    footer_text: str
    footer_html: str


class CopyMaker:
    """Makes copies batch after batch, keeping the shared pieces of recent jobs and attachments."""

    def __init__(self, app: App):
        self.app = app
        self.cache: OrderedDict[tuple[str, object], PostPieces | SharedPart] = OrderedDict()
        self.largest = 0  # the largest shared piece made so far (the caller trims memory after a big one)

    def parts(self, session: Session, row: QueuedRow) -> tuple[Part, ...]:
        if row.job_id is not None:
            return self._post_copy(self._post(session, row.job_id), row)
        placed = session.exec(select(OutboxPart.offset, OutboxPart.sha256).where(OutboxPart.outbox_id == row.id)
                              .order_by(OutboxPart.position)).all()
        if not placed:
            return (row.raw,)
        return self._letter_copy(session, row.raw, placed)

    def _letter_copy(self, session: Session, raw: bytes, placed) -> tuple[Part, ...]:
        parts: list[Part] = []
        start = 0
        for offset, sha256 in placed:
            parts += [raw[start:offset], self._attachment(session, sha256)]
            start = offset
        parts.append(raw[start:])
        return tuple(parts)

    def _attachment(self, session: Session, sha256: str) -> SharedPart:
        def load() -> SharedPart:
            data = session.exec(select(SharedContent.data).where(SharedContent.sha256 == sha256)).first()
            if data is None:
                raise MissingContent(f"shared content {sha256[:12]} is gone")
            return SharedPart(base64.encodebytes(data).replace(b"\n", b"\r\n"))
        return self._cached(("attachment", sha256), load)

    def _post(self, session: Session, job_id: int) -> PostPieces:
        return self._cached(("post", job_id), lambda: self._post_pieces(session, job_id))

    def _post_pieces(self, session: Session, job_id: int) -> PostPieces:
        job = session.get(SendJob, job_id)
        raw = read_raw(session, job.inbound_id) if job else b""
        if not raw:
            raise MissingContent(f"the original of send job #{job_id} is gone")
        network = self.app.settings.network(job.network_slug)
        body = memoryview(raw)[job.body_offset:]
        if BARE_LF.search(body):
            body = memoryview(BARE_LF.sub(b"\r\n", body))
        outer, inner = job.boundary, f"kkrbot-footer-{job.boundary[7:]}"
        context = base_context(self.app, network, Recipient(""), network.address) | {
            "original_subject": job.subject, "unsubscribe_address": UNSUBSCRIBE_STAND_IN}
        footer = render("post", network.language, context)
        return PostPieces(
            network=job.network_slug, head=SharedPart(job.head),
            body_start=SharedPart(f"--{outer}\r\n".encode() + job.body_headers + b"\r\n"), body=SharedPart(body),
            footer_start=SharedPart(f'\r\n--{outer}\r\nContent-Type: multipart/alternative; boundary="{inner}"'
                                    f"\r\n\r\n".encode()),
            inner_boundary=inner, outer_boundary=outer, footer_text=footer.text, footer_html=footer.html)

    def _post_copy(self, pieces: PostPieces, row: QueuedRow) -> tuple[Part, ...]:
        network = self.app.settings.network(pieces.network)
        address = tokens.reply_address(network.address, row.token)
        own_head = f"List-Unsubscribe: {unsubscribe_header(address)}\r\n\r\n".encode()
        inner = pieces.inner_boundary
        footer = (_text_part(inner, "plain", pieces.footer_text.replace(UNSUBSCRIBE_STAND_IN, address))
                  + _text_part(inner, "html", pieces.footer_html.replace(UNSUBSCRIBE_STAND_IN, address))
                  + f"--{inner}--\r\n--{pieces.outer_boundary}--\r\n".encode())
        return (pieces.head, own_head, pieces.body_start, pieces.body, pieces.footer_start, footer)

    def _cached(self, key: tuple[str, object], load):
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        value = self.cache[key] = load()
        self.largest = max(self.largest, _size(value))
        while len(self.cache) > 1 and sum(_size(v) for v in self.cache.values()) > CACHE_BYTES:
            self.cache.popitem(last=False)
        return value


def _size(value: PostPieces | SharedPart) -> int:
    return len(value.body) if isinstance(value, PostPieces) else len(value)


def _text_part(boundary: str, subtype: str, text: str) -> bytes:
    encoded = quopri.encodestring(text.replace("\r\n", "\n").encode("utf-8")).replace(b"\n", b"\r\n")
    return (f"--{boundary}\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: quoted-printable\r\nContent-Disposition: inline\r\n\r\n").encode() \
        + encoded + b"\r\n"
