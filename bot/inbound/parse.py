"""Read a raw message into what the later stages need, whatever it looks like.

Parsing never raises: every problem becomes a defect recorded on the inbound row.
We parse with the email package's compat32 policy (fast, and it does not raise on
hostile headers) and decode headers ourselves: RFC 2047 words in any charset, raw
8-bit bytes as UTF-8 else Windows-1252. Bodies: the declared charset, then UTF-8,
then Windows-1252, then Latin-1; "iso-8859-1" and "us-ascii" labels are read as
Windows-1252, as browsers do (RFC-compliant senders lose nothing, mislabelled
Outlook mail keeps its curly quotes). HTML-only mail becomes text via html2text.

The headers are read at once, from the header block alone; the body (MIME tree,
text, attachments, calendar parts) only when a rule or handler first asks for it.
Relaying a 14 MB post needs its headers, not its parts taken apart in memory.
"""
from __future__ import annotations

import email
import email.errors
import email.parser
import re
from dataclasses import dataclass, field
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses

import authres
import html2text

# WHATWG: these labels mean windows-1252 in practice.
CHARSET_ALIASES = {"us-ascii": "cp1252", "ascii": "cp1252", "iso-8859-1": "cp1252", "latin-1": "cp1252",
                   "latin1": "cp1252", "iso8859-1": "cp1252", "windows-1252": "cp1252"}
FALLBACK_CHARSETS = ("utf-8", "cp1252", "latin-1")
HEADER_END = re.compile(rb"\r?\n\r?\n")
# A calendar part is named text/calendar or application/ics; these cases of the words are the ones
# clients write, and looking for them with bytes.find is far cheaper than a case-blind regex. They are
# long enough that base64 (a 14 MB attachment) does not contain them by chance, as it would "/ics".
CALENDAR_HINTS = (b"/calendar", b"/Calendar", b"/CALENDAR", b"ation/ics", b"ation/ICS", b"ATION/ICS")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None  # None when over the per-file or per-message limit (the raw mail keeps it)


@dataclass(frozen=True)
class ParseLimits:
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_attachments_bytes: int = 25 * 1024 * 1024
    max_nesting: int = 3


@dataclass
class Body:
    text: str = ""
    from_html: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    calendars: list[bytes] = field(default_factory=list)


class ParsedMail:
    """A received mail as the later stages read it: headers at once, the body when first asked for."""

    def __init__(self, raw: bytes, limits: ParseLimits = ParseLimits()):
        self.raw, self.limits = raw, limits
        self.defects: list[str] = []
        self.head = _header_block_message(raw)
        self._message: Message | None = None
        self._body: Body | None = None
        self.subject = one_line(self.header("Subject"))
        self.from_address, self.from_name = "", ""
        _read_sender(self)
        self.to = _addresses(self, "To")
        self.cc = _addresses(self, "Cc")
        self.message_id = self.header("Message-ID").strip()
        self.in_reply_to = (re.findall(r"<[^<>]+>", self.header("In-Reply-To")) or [""])[0]
        self.references = re.findall(r"<[^<>]+>", " ".join(self.headers("References")))
        self.defects += _part_defects(self.head)

    def header(self, name: str) -> str:
        """One header, decoded to text ('' when absent or unreadable)."""
        return header_text(self.head.get(name), self.defects)

    def headers(self, name: str) -> list[str]:
        return [header_text(value, self.defects) for value in (self.head.get_all(name) or [])]

    @property
    def content_type(self) -> str:
        return self.head.get_content_type()

    def content_param(self, name: str) -> str:
        value = self.head.get_param(name)
        return value.lower() if isinstance(value, str) else ""

    @property
    def message(self) -> Message:
        """The whole MIME tree, parsed on first use."""
        if self._message is None:
            self._message = _whole_message(self.raw)
        return self._message

    @property
    def body(self) -> Body:
        if self._body is None:
            try:
                self._body = _read_body(self, self.message, self.limits)
                self.defects += _part_defects(self.message)
            except Exception:  # noqa: BLE001 - parsing never raises: a body nobody can read is empty
                self._body = Body()
                self.defects.append("UnreadableBody")
        return self._body

    @property
    def body_read(self) -> bool:
        return self._body is not None

    @property
    def text(self) -> str:
        return self.body.text

    @property
    def from_html(self) -> bool:
        return self.body.from_html

    @property
    def attachments(self) -> list[Attachment]:
        return self.body.attachments

    @property
    def calendars(self) -> list[bytes]:
        """Calendar parts; a mail that nowhere names a calendar type is not taken apart to look."""
        if self._body is None and not any(hint in self.raw for hint in CALENDAR_HINTS):
            return []
        return self.body.calendars


def parse(raw: bytes, limits: ParseLimits = ParseLimits()) -> ParsedMail:
    return ParsedMail(raw, limits)


def header_block(raw: bytes) -> bytes:
    """The bytes up to and with the first empty line: all a header parser needs to see."""
    end = HEADER_END.search(raw)
    return raw[:end.end()] if end else raw


def _header_block_message(raw: bytes) -> Message:
    return email.parser.BytesHeaderParser().parsebytes(header_block(raw))


def _whole_message(raw: bytes) -> Message:
    try:
        return email.message_from_bytes(raw)
    except Exception:  # noqa: BLE001 - hostile MIME (even a RecursionError): read the headers at least
        message = email.parser.BytesHeaderParser().parsebytes(raw)
        message.defects.append(email.errors.MessageDefect("UnparsableBody"))
        return message


def _part_defects(message: Message) -> list[str]:
    """Defects the parser (and payload decoding) recorded on any part, forwarded ones included."""
    found = []
    for part in _parts(message, into_forwarded=True):
        found += [type(d).__name__ if type(d).__name__ != "MessageDefect" else str(d) for d in part.defects]
    return found


def one_line(value: str) -> str:
    return " ".join(value.split())


def header_text(value: object, defects: list[str] | None = None) -> str:
    """Decode a header value: RFC 2047 words, raw 8-bit bytes, broken encodings; never raises."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = re.sub(r"\r?\n(?=[ \t])", "", value)  # unfold (RFC 5322): the whitespace stays
    try:
        chunks = decode_header(value if isinstance(value, (str, Header)) else str(value))
    except Exception:  # noqa: BLE001 - a malformed encoded-word: keep the text as it stands
        if defects is not None:
            defects.append("UndecodableHeader")
        return str(value)
    parts = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        if charset == "unknown-8bit" and defects is not None:
            defects.append("RawNonAsciiHeader")
        parts.append(decode_bytes(chunk, None if charset in (None, "unknown-8bit") else charset, defects))
    return "".join(parts)


def decode_bytes(data: bytes, declared: str | None, defects: list[str] | None = None) -> str:
    """Text from bytes: the declared charset, then UTF-8, Windows-1252, Latin-1. Never raises."""
    declared = (declared or "").strip().strip('"').lower() or None
    if defects is not None and not data.isascii() and declared in (None, "us-ascii", "ascii"):
        defects.append("UndeclaredCharset" if declared is None else "NonAsciiInAsciiPart")
    candidates = [CHARSET_ALIASES.get(declared, declared)] if declared else []
    if declared in CHARSET_ALIASES or declared is None:
        candidates = ["utf-8", *candidates]  # undeclared or "ascii" is often UTF-8 in the wild
    for charset in [*candidates, *FALLBACK_CHARSETS]:
        try:
            text = data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
        if declared and declared not in CHARSET_ALIASES and charset != declared and defects is not None:
            defects.append(f"CharsetFallback({declared}->{charset})")
        return text
    return data.decode("latin-1")  # unreachable: latin-1 decodes every byte


def _read_sender(mail: ParsedMail) -> None:
    """The one From address, parsed from the raw header: an address hidden inside an RFC 2047
    encoded-word (`=?utf-8?q?Navn_=3Cx=40y=3E?=`) is text, not an address (it is how a
    forged From slips past DMARC), so only the display name is decoded."""
    found = _raw_addresses(mail, "From")
    if len(found) != 1:
        mail.defects.append("NoSingleFromAddress" if found else "UnparsableFrom")
    if found:
        name, address = found[0]
        mail.from_name, mail.from_address = header_text(name, mail.defects), address


def _raw_addresses(mail: ParsedMail, name: str) -> list[tuple[str, str]]:
    values = [_raw_text(value) for value in (mail.head.get_all(name) or [])]
    return [(display, address.strip().lower()) for display, address in getaddresses(values)
            if "@" in address and "=?" not in address]


def _raw_text(value: object) -> str:
    """A header as it was written (8-bit bytes decoded, encoded-words left alone)."""
    if isinstance(value, Header):
        return header_text(value)  # raw 8-bit bytes: there are no encoded-words to hide behind
    return re.sub(r"\r?\n(?=[ \t])", "", str(value))


def _addresses(mail: ParsedMail, name: str) -> list[str]:
    return [address for _, address in _raw_addresses(mail, name)]


def _read_body(mail: ParsedMail, message: Message, limits: ParseLimits) -> Body:
    """Walk the MIME tree: the first text body, attachments, calendar parts.

    A forwarded message (message/rfc822) is one attachment; its depth of further
    forwarded messages is checked against max_nesting, but it is not read here.
    """
    body, html_body = Body(), None
    budget = [limits.max_attachments_bytes]
    for part in _walk(message):
        kind = part.get_content_type()
        disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = _filename(mail, part)
        if kind == "message/rfc822":
            if _nesting(part) > limits.max_nesting:
                mail.defects.append(f"NestingTooDeep({limits.max_nesting})")
            body.attachments.append(_forwarded(mail, part, filename, limits, budget))
            continue
        if kind in ("text/calendar", "application/ics"):
            body.calendars.append(_payload(mail, part))
            if disposition != "attachment" and not filename:
                continue
        if kind == "text/plain" and disposition != "attachment" and not filename and not body.text:
            body.text = _text_of(mail, part)
        elif kind == "text/html" and disposition != "attachment" and not filename and html_body is None:
            html_body = _text_of(mail, part)
        elif not part.is_multipart() and (filename or disposition == "attachment"):
            body.attachments.append(_attachment(mail, part, _payload(mail, part), filename, limits, budget))
    if not body.text.strip() and html_body:
        body.text, body.from_html = html_to_text(html_body), True
    return body


def _walk(part: Message):
    """Every part, depth first, not descending into forwarded messages."""
    return _parts(part, into_forwarded=False)


def _parts(top: Message, into_forwarded: bool):
    """Every part, depth first, with a stack instead of recursion: a hostile mail nests thousands deep."""
    stack = [top]
    while stack:
        part = stack.pop()
        yield part
        if part.is_multipart() and (into_forwarded or part.get_content_type() != "message/rfc822"):
            stack.extend(reversed([c for c in part.get_payload() if isinstance(c, Message)]))


def _nesting(part: Message) -> int:
    """How many message/rfc822 levels `part` holds, itself included (counted without recursion)."""
    deepest, stack = 0, [(part, 0)]
    while stack:
        current, depth = stack.pop()
        depth += current.get_content_type() == "message/rfc822"
        deepest = max(deepest, depth)
        if current.is_multipart():
            stack.extend((c, depth) for c in current.get_payload() if isinstance(c, Message))
    return deepest


def _forwarded(mail: ParsedMail, part: Message, filename: str, limits: ParseLimits, budget: list[int]) -> Attachment:
    inner = part.get_payload(0) if part.is_multipart() else None
    try:
        data = inner.as_bytes() if isinstance(inner, Message) else _payload(mail, part)
    except Exception:  # noqa: BLE001 - a forwarded message we cannot serialise again
        mail.defects.append("UnreadableForwardedMessage")
        data = b""
    name = filename or (header_text(inner.get("Subject"), mail.defects) if isinstance(inner, Message) else "") or "forwarded"
    return _attachment(mail, part, data, name if name.endswith(".eml") else f"{name}.eml", limits, budget)


def _filename(mail: ParsedMail, part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # noqa: BLE001
        mail.defects.append("UnreadableFilename")
        return "attachment"
    if isinstance(name, tuple):  # RFC 2231 (charset, language, value)
        name = email.utils.collapse_rfc2231_value(name)
    return one_line(header_text(name, mail.defects)).replace("/", "_").replace("\\", "_")[:200]


def _payload(mail: ParsedMail, part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - e.g. broken base64
        mail.defects.append("UndecodablePayload")
        data = None
    if data is None:
        payload = part.get_payload()
        data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    return data


def _text_of(mail: ParsedMail, part: Message) -> str:
    charset = part.get_param("charset")  # get_content_charset() hides an unknown charset as None
    if isinstance(charset, tuple):
        charset = email.utils.collapse_rfc2231_value(charset)
    return decode_bytes(_payload(mail, part), charset if isinstance(charset, str) else None, mail.defects)


def _attachment(mail: ParsedMail, part: Message, data: bytes, filename: str, limits: ParseLimits,
                budget: list[int]) -> Attachment:
    kind = part.get_content_type()
    if len(data) > limits.max_attachment_bytes or len(data) > budget[0]:
        mail.defects.append(f"AttachmentTooLarge({filename or kind}, {len(data)} bytes)")
        return Attachment(filename or "attachment", kind, len(data), None)
    budget[0] -= len(data)
    return Attachment(filename or "attachment", kind, len(data), data)


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    try:
        return converter.handle(html).strip() + "\n"
    except Exception:  # noqa: BLE001 - hostile HTML: fall back to stripping tags
        return re.sub(r"<[^>]+>", " ", html)


def dmarc_result(mail: ParsedMail, authserv_id: str) -> str:
    """The DMARC verdict of our own mail server: "pass", "fail" or "" (no trusted verdict).

    Anyone can write an Authentication-Results header; only those whose authserv-id is
    the organisation's mail server (bot.toml `authserv_id`) are believed (RFC 8601 §5),
    parsed as RFC 8601 says (authres) from the header as written: an RFC 2047 word is not
    decoded first, so `=?us-ascii?q?mx.example.dk=3B_dmarc=3Dpass?=` is no header of our
    server's (nor one it would know to remove). Only the `dmarc` method's result counts
    (`dmarc=` inside another method's property is not a verdict). A fail anywhere is a
    fail; a pass only when every trusted dmarc result is a pass.
    """
    if not authserv_id:
        return ""
    results = []
    for value in mail.head.get_all("Authentication-Results") or []:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(one_line(_raw_text(value)))
        except Exception:  # noqa: BLE001 - an unreadable header is no verdict
            mail.defects.append("UnreadableAuthenticationResults")
            continue
        if (header.authserv_id or "").lower() == authserv_id.lower():
            results += [str(r.result).lower() for r in header.results if str(r.method).lower() == "dmarc"]
    if "fail" in results:
        return "fail"
    return "pass" if results and all(result == "pass" for result in results) else ""
