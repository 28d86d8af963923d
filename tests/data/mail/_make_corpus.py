#!/usr/bin/env python3
"""Deterministic generator for kkrbot's raw e-mail test corpus.

Run:  python3 tests/data/mail/_make_corpus.py

Writes one ``<category>-<what>.eml`` per case plus ``MANIFEST.toml`` into this
directory, and deletes stale ``*.eml`` files here that it no longer produces.
Pure standard library; no clock, no randomness: re-running rewrites identical
bytes.

The messages are built byte by byte (not with ``email.generator``), so that a
windows-1252 or latin-1 body really is those bytes, broken MIME really is
broken, and output never depends on the Python version.  Lines end in CRLF,
as on the wire.

Placeholders that tests substitute before parsing (never inside base64):

* ``{{token}}``     the per-person token the bot put in Reply-To / Message-ID
                    (``it-netvaerk+{{token}}@lists.example.dk``,
                    ``<{{token}}.x7k2@lists.example.dk>``, iCalendar ORGANIZER)
* ``{{from}}``      the sender of a token reply, only in the top-level From
                    header (tests RFC 2047-encode a non-ASCII display name)
* ``{{from_addr}}`` the bare sender address (iCalendar ATTENDEE)
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import pathlib
import quopri
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent

LIST = "it-netvaerk@lists.example.dk"
LIST2 = "it-teknik@lists.example.dk"
TOKEN_ADDR = "it-netvaerk+{{token}}@lists.example.dk"
BOUNCE_ADDR = "it-netvaerk+bounce-{{token}}@lists.example.dk"
OUR_MSGID = "<{{token}}.x7k2@lists.example.dk>"
# An older bot Message-ID with some other (fixed) token: deeper in References it must be ignored.
OLD_MSGID = "<q9w8e7r6t5y4u3i2o1p0a9s8.x7k2@lists.example.dk>"
BOT_FROM = "Kkrbot <it-netvaerk@lists.example.dk>"
UID = "it-netvaerk-2027-10-07@lists.example.dk"

SOREN_ADDR = "soren.aero@aarhus.example.dk"
METTE_ADDR = "mette.ostergaard@herning.example.dk"
ANNE_ADDR = "anne.hansen@kl.example.dk"
LARS_ADDR = "lars.moeller@odense.example.dk"
OUTSIDER = "someone@gmail.example.com"

NETWORK_NAME = "Kommunalt it-netværk på sundhedsområdet"

# Subjects of the bot mails that people answer.
S_INVITATION = f"Invitation: {NETWORK_NAME}, torsdag den 7. oktober 2027 kl. 10.00"
S_CALL = f"Indkaldelse af dagsordenspunkter: {NETWORK_NAME}, 7. oktober 2027"
S_DRAFT = f"Udkast til dagsorden: {NETWORK_NAME}, 7. oktober 2027"
S_AGENDA = f"Dagsorden: {NETWORK_NAME}, torsdag den 7. oktober 2027 kl. 10.00"
S_MINUTES_REQ = f"Referat: {NETWORK_NAME}, 7. oktober 2027"


# --------------------------------------------------------------------------- basics

def det_bytes(seed: str, n: int) -> bytes:
    """n deterministic pseudo-random bytes (sha256 in counter mode)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def det_hex(seed: str, n: int) -> str:
    return det_bytes(seed, (n + 1) // 2).hex()[:n].upper()


def date(y, mo, d, h, mi, s=0, tz="+0200") -> str:
    wd = datetime.date(y, mo, d).strftime("%a")  # C locale names; fixed by CPython
    mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][mo - 1]
    return f"{wd}, {d} {mon} {y} {h:02d}:{mi:02d}:{s:02d} {tz}"


def ew(text: str, charset: str = "utf-8", enc: str = "Q", maxlen: int = 75,
       first_room: int | None = None, safe: str = "!*+-/") -> str:
    """RFC 2047-encode *text* as one or more encoded-words joined by CRLF-SPACE.

    Splits only at character boundaries; spaces are encoded inside the words
    (whitespace between adjacent encoded-words is not part of the text).
    """
    codec = {"utf-8": "utf-8", "iso-8859-1": "latin-1", "windows-1252": "cp1252"}.get(charset.lower(), charset)
    prefix = f"=?{charset}?{enc}?"
    words: list[str] = []
    cur = ""
    room = (first_room if first_room is not None else maxlen) - len(prefix) - 2

    def enc_piece(piece: str) -> str:
        raw = piece.encode(codec)
        if enc.upper() == "B":
            return base64.b64encode(raw).decode("ascii")
        out = []
        for b in raw:
            ch = chr(b)
            if ch == " ":
                out.append("_")
            elif b < 128 and (ch.isalnum() or ch in safe):
                out.append(ch)
            else:
                out.append(f"={b:02X}")
        return "".join(out)

    for ch in text:
        if len(enc_piece(cur + ch)) > room and cur:
            words.append(prefix + enc_piece(cur) + "?=")
            cur = ""
            room = maxlen - 1 - len(prefix) - 2
        cur += ch
    if cur:
        words.append(prefix + enc_piece(cur) + "?=")
    return "\n ".join(words)


def subj(text: str, charset: str = "utf-8", enc: str = "Q") -> str:
    """A Subject value: plain if ASCII, else encoded-words (first line leaves room for 'Subject: ')."""
    if text.isascii():
        return text
    # unstructured text (RFC 2047 5(1)) may keep more punctuation literal than a phrase
    return ew(text, charset, enc, first_room=75 - len("Subject: "), safe="!*+-/.,:;'")


def addr(name: str, address: str, charset: str = "utf-8", enc: str = "Q") -> str:
    if name.isascii():
        if any(c in name for c in ',.;:()<>@"'):
            return f'"{name}" <{address}>'
        return f"{name} <{address}>"
    return f"{ew(name, charset, enc)} <{address}>"


SOREN = addr("Søren Ærø", SOREN_ADDR)
METTE = addr("Mette Østergaard", METTE_ADDR)
ANNE = addr("Anne Hansen", ANNE_ADDR)
LARS = addr("Lars Møller", LARS_ADDR)
SOREN_L1 = addr("Søren Ærø", SOREN_ADDR, "iso-8859-1")
METTE_L1 = addr("Mette Østergaard", METTE_ADDR, "iso-8859-1")
LARS_L1 = addr("Lars Møller", LARS_ADDR, "iso-8859-1")


# --------------------------------------------------------------------------- MIME building
# An entity is (headers, body): headers a list of (name, value) where value is
# str (ASCII, may contain "\n " / "\n\t" folds) or bytes (raw, for broken cases).

Headers = list


def hdr_bytes(headers: Headers) -> bytes:
    out = []
    for name, value in headers:
        if isinstance(value, str):
            v = value.encode("ascii")  # non-ASCII must be encoded explicitly
        else:
            v = value
        out.append(name.encode("ascii") + b": " + v)
    return b"\n".join(out)


def render(entity) -> bytes:
    headers, body = entity
    if body is None:
        return hdr_bytes(headers) + b"\n"
    return hdr_bytes(headers) + b"\n\n" + body


def encode_body(raw: bytes, cte: str) -> bytes:
    if cte in ("7bit", "8bit", "binary"):
        return raw if raw.endswith(b"\n") or not raw else raw + b"\n"
    if cte == "quoted-printable":
        if not raw.endswith(b"\n"):
            raw += b"\n"
        return quopri.encodestring(raw)
    if cte == "base64":
        return base64.encodebytes(raw)
    raise ValueError(cte)


CODECS = {"utf-8": "utf-8", "iso-8859-1": "latin-1", "windows-1252": "cp1252", "us-ascii": "ascii"}


def text(body: str, subtype: str = "plain", charset: str | None = "utf-8", cte: str = "8bit",
         codec: str | None = None, params: str = "", extra: Headers = (), quote_charset: bool = False):
    """A text/* entity. *codec* overrides how the text is turned into bytes
    (e.g. declared us-ascii but really windows-1252)."""
    if cte == "base64" and "{{" in body:
        raise ValueError("placeholders must not be base64-encoded")
    codec = codec or CODECS.get((charset or "us-ascii").lower(), charset)
    if cte == "base64":  # canonical form (CRLF line breaks) before encoding, as real clients do
        body = body.replace("\r\n", "\n").replace("\n", "\r\n")
    raw = body.encode(codec)
    ct = f"text/{subtype}"
    if charset is not None:
        ct += f'; charset="{charset}"' if quote_charset else f"; charset={charset}"
    ct += params
    headers = [("Content-Type", ct)]
    if cte:
        headers.append(("Content-Transfer-Encoding", cte))
    headers.extend(extra)
    return headers, encode_body(raw, cte)


def binary(data: bytes, ctype: str, filename: str | None = None, disposition: str = "attachment",
           name_param: bool = True, filename_hdr: str | None = None, extra: Headers = ()):
    """A base64 attachment. *filename_hdr* overrides the raw filename parameter text."""
    ct = ctype
    fn = filename_hdr if filename_hdr is not None else (f'filename="{filename}"' if filename else None)
    if filename and name_param:
        nm = fn.replace("filename", "name", 1)
        ct += ";\n\t" + nm
    headers = [("Content-Type", ct)]
    if fn:
        headers.append(("Content-Disposition", f"{disposition};\n\t{fn}"))
    headers.append(("Content-Transfer-Encoding", "base64"))
    headers.extend(extra)
    return headers, base64.encodebytes(data)


def multipart(subtype: str, boundary: str, parts, params: str = "", preamble: bytes = b"",
              epilogue: bytes = b"", close: bool = True, extra: Headers = ()):
    b = boundary.encode("ascii")
    chunks = []
    if preamble:
        chunks.append(preamble.rstrip(b"\n") + b"\n")
    for p in parts:
        chunks.append(b"--" + b + b"\n" + render(p).rstrip(b"\n") + b"\n")
    if close:
        chunks.append(b"--" + b + b"--\n")
    body = b"".join(chunks) + epilogue
    ct = f'multipart/{subtype};\n\tboundary="{boundary}"' + params
    return [("Content-Type", ct)] + list(extra), body


def message_part(inner_bytes: bytes, filename: str | None = None, extra: Headers = ()):
    headers = [("Content-Type", "message/rfc822")]
    if filename:
        headers.append(("Content-Disposition", f'attachment;\n\tfilename="{filename}"'))
    headers.extend(extra)
    return headers, inner_bytes


def msg(top: Headers, entity=None, mime: bool = True, body: bytes | None = b"") -> bytes:
    """A whole message: top-level headers, then the entity's headers and body."""
    if entity is None:
        headers = list(top)
        b = body
    else:
        eh, b = entity
        headers = list(top) + ([("MIME-Version", "1.0")] if mime else []) + list(eh)
    return render((headers, b))


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --------------------------------------------------------------------------- cases

CASES: list[tuple[str, bytes, dict]] = []


def add(name: str, raw: bytes, **meta) -> None:
    if any(n == name for n, _, _ in CASES):
        raise ValueError(f"duplicate case {name}")
    CASES.append((name, crlf(raw), meta))


def received(frm: str, ip: str, by: str, id_: str, for_: str, when: str) -> str:
    return (f"from {frm} ({frm} [{ip}])\n\tby {by} (Postfix) with ESMTPS id {id_}\n"
            f"\tfor <{for_}>; {when}")


# Cases are defined in the sections below.

def build_posts():
    body = (
        "Kære alle\n"
        "\n"
        "I Aarhus har vi nu kørt med den nye løsning til deling af plejeforløbsplaner\n"
        "i tre måneder. Erfaringerne er gode, men vi ser stadig udfordringer med\n"
        "opsætningen på tværs af kommunerne i Østjylland.\n"
        "\n"
        "Er der andre, der har prøvet det? Jeg deler gerne vores tjekliste.\n"
        "\n"
        "Venlig hilsen\n"
        "Søren Ærø\n"
        "Sundheds-it, Aarhus Kommune\n"
    )
    when = date(2027, 9, 2, 9, 14, 3)
    add("post-utf8", msg([
        ("Return-Path", f"<{SOREN_ADDR}>"),
        ("Received", received("mail.aarhus.example.dk", "192.0.2.10", "mx.example.dk", "4Wq1Zb3kLmz1xyZ", LIST,
                              date(2027, 9, 2, 9, 14, 5) + " (CEST)")),
        ("From", SOREN),
        ("To", LIST),
        ("Subject", subj("Erfaringer med deling af plejeforløbsplaner")),
        ("Date", when),
        ("Message-ID", "<8f2c1e7a-3b4d-4c5e-9f60-1a2b3c4d5e6f@aarhus.example.dk>"),
        ("User-Agent", "Mozilla Thunderbird"),
        ("Content-Language", "da"),
    ], text(body, charset="utf-8", cte="8bit", params="; format=flowed")),
        category="post", network="it-netvaerk",
        subject="Erfaringer med deling af plejeforløbsplaner",
        body_contains=["Kære alle", "på tværs af kommunerne i Østjylland", "Søren Ærø"],
        notes="Plain UTF-8 8bit post from a member.")

    # --- iso-8859-1, declared correctly, raw 8bit bytes
    body = (
        "Kære netværk\n"
        "\n"
        "Vedlagt forslag til mødedatoer for 2028. Vi foreslår, at det fysiske møde\n"
        "holdes i Sønderborg i juni, så Region Syddanmark også får et møde i år.\n"
        "\n"
        "Mvh\n"
        "Lars Møller, Odense Kommune\n"
    )
    add("post-iso-8859-1", msg([
        ("Return-Path", f"<{LARS_ADDR}>"),
        ("Received", received("smtp.odense.example.dk", "192.0.2.30", "mx.example.dk", "4Wq2Ab7cDefz1", LIST,
                              date(2027, 9, 3, 13, 2, 41) + " (CEST)")),
        ("From", LARS_L1),
        ("To", LIST),
        ("Subject", subj("Mødedatoer 2028 – forslag".replace("–", "-"), "iso-8859-1")),
        ("Date", date(2027, 9, 3, 13, 2, 40)),
        ("Message-ID", "<20270903110240.GA4711@odense.example.dk>"),
        ("User-Agent", "Mutt/2.2.12 (2023-09-09)"),
    ], text(body, charset="iso-8859-1", cte="8bit")),
        category="post", network="it-netvaerk",
        subject="Mødedatoer 2028 - forslag",
        body_contains=["Kære netværk", "holdes i Sønderborg i juni"],
        notes="ISO-8859-1 declared correctly; body is raw 8bit latin-1 bytes; subject is an iso-8859-1 Q encoded-word.")

    # --- windows-1252, declared correctly, quoted-printable, curly quotes, dash, euro, ellipsis
    body = (
        "Hej alle\n"
        "\n"
        "I Herning har vi arbejdet med “Fælles sprog III” i perioden 2027–2028, og\n"
        "prisen lander på ca. 45.000 € – mindre end forventet.\n"
        "\n"
        "‘Enkelt’ er det ikke, men det går. Næste skridt er økonomien…\n"
        "\n"
        "Venlig hilsen\n"
        "Mette Østergaard\n"
    )
    add("post-windows-1252", msg([
        ("Received", received("EX02.herning.example.dk", "192.0.2.20", "mx.example.dk", "4Wq3Cc9Tz8yz2", LIST,
                              date(2027, 9, 6, 10, 31, 9) + " (CEST)")),
        ("From", addr("Mette Østergaard", METTE_ADDR, "windows-1252")),
        ("To", addr("IT-netværk", LIST, "windows-1252")),
        ("Subject", subj("Erfaringer med “Fælles sprog III”", "windows-1252")),
        ("Date", date(2027, 9, 6, 10, 31, 7)),
        ("Message-ID", "<000001d9a1b2$3c4d5e60$6f708192$@herning.example.dk>"),
        ("X-Mailer", "Microsoft Outlook 16.0"),
        ("Thread-Index", "AdmhsjxNXmBvcIGSQ2n0ZQ9Nk3qLVw=="),
        ("Content-Language", "da"),
    ], text(body, charset="windows-1252", cte="quoted-printable", quote_charset=True)),
        category="post", network="it-netvaerk",
        subject="Erfaringer med “Fælles sprog III”",
        body_contains=["“Fælles sprog III” i perioden 2027–2028", "45.000 € – mindre", "økonomien…"],
        notes="windows-1252 declared correctly, quoted-printable (=93 =94 =96 =80 =85 are not latin-1); "
              "subject and display names are windows-1252 encoded-words.")

    # --- windows-1252 bytes mislabelled us-ascii
    body = (
        "Hej alle\n"
        "\n"
        "Her er tallene fra Odense – de er “foreløbige”, men giver et billede af\n"
        "udgifterne til fællesskabet.\n"
        "\n"
        "Med venlig hilsen\n"
        "Lars Møller\n"
    )
    add("post-mislabelled-us-ascii", msg([
        ("From", LARS_L1),
        ("To", LIST),
        ("Subject", "Tal for sundheds-it 2027"),
        ("Date", date(2027, 9, 7, 8, 5, 0)),
        ("Message-ID", "<5F3A.2027090708050000@odense.example.dk>"),
        ("X-Mailer", "Lotus Notes Release 9.0.1"),
    ], text(body, charset="us-ascii", cte="8bit", codec="cp1252")),
        category="post", network="it-netvaerk",
        subject="Tal for sundheds-it 2027",
        body_contains=["fra Odense – de er “foreløbige”", "fællesskabet", "Lars Møller"],
        defects=True,
        notes="Declared charset=us-ascii, 8bit, but the bytes are windows-1252 (0x93/0x94 quotes, 0x96 dash, "
              "æ ø). A correct reader falls back (utf-8 fails -> windows-1252) instead of printing U+FFFD.")

    # --- no MIME at all, latin-1 bytes
    body = (
        "Hej\n"
        "\n"
        "Vi holdt møde i går i Århus om det fælles journalprojekt. Næste møde er i Viborg.\n"
        "\n"
        "Søren\n"
    )
    add("post-no-charset", msg([
        ("Return-Path", f"<{SOREN_ADDR}>"),
        ("From", "soren.aero@aarhus.example.dk (Soren Aero)"),
        ("To", LIST),
        ("Subject", "Kort orientering fra Midtjylland"),
        ("Date", date(2027, 9, 8, 16, 45, 12)),
        ("Message-ID", "<200709081645.AA01234@old.aarhus.example.dk>"),
        ("X-Mailer", "ELM [version 2.5 PL8]"),
    ], body=body.encode("latin-1")),
        category="post", network="it-netvaerk",
        subject="Kort orientering fra Midtjylland",
        body_contains=["møde i går i Århus", "Næste møde er i Viborg"],
        defects=True,
        notes="No MIME-Version, no Content-Type: the body is raw latin-1 8bit bytes. Default is text/plain; "
              "us-ascii, so a correct reader must sniff (utf-8 fails -> windows-1252). From uses the old "
              "'addr (comment)' form.")

    # --- RFC 2047 subject split across encoded-words, mixed Q/B and utf-8/iso-8859-1
    s = ("=?utf-8?Q?M=C3=B8de_om_?=\n"
         " =?iso-8859-1?B?" + base64.b64encode("sundheds-it og ".encode("latin-1")).decode() + "?=\n"
         " =?UTF-8?B?" + base64.b64encode("kommunernes ".encode()).decode() + "?=\n"
         " =?ISO-8859-1?q?=F8konomi_i?= Region Syddanmark")
    add("post-rfc2047-subject", msg([
        ("From", ANNE),
        ("To", LIST),
        ("Subject", s),
        ("Date", date(2027, 9, 9, 11, 0, 0)),
        ("Message-ID", "<CAFx7kQ2mP0vH9yB1aN8dR4tW6uZ3eL5sJ0c@mail.kl.example.dk>"),
        ("User-Agent", "Roundcube Webmail/1.6.5"),
    ], text("Kære alle\n\nTemadagen om økonomi afholdes i Odense. Program følger.\n\nAnne Hansen\nKL\n",
            charset="utf-8", cte="quoted-printable")),
        category="post", network="it-netvaerk",
        subject="Møde om sundheds-it og kommunernes økonomi i Region Syddanmark",
        body_contains=["Temadagen om økonomi afholdes i Odense"],
        notes="Subject is four adjacent encoded-words (utf-8 Q, iso-8859-1 B, UTF-8 B, ISO-8859-1 lowercase q) "
              "folded over lines, then plain text. Whitespace between adjacent encoded-words is dropped; the "
              "space before 'Region' is kept.")

    # --- HTML-only Outlook (Word HTML) in windows-1252
    rows = [("torsdag den 9. marts 2028", "Odense", "fysisk"),
            ("torsdag den 15. juni 2028", "Teams", "virtuelt"),
            ("torsdag den 5. oktober 2028", "Roskilde, Region Sjælland", "fysisk"),
            ("torsdag den 7. december 2028", "Teams", "virtuelt")]

    def cell(t, bold=False, w="150.0pt"):
        inner = f"<b>{t}<o:p></o:p></b>" if bold else f"{t}<o:p></o:p>"
        return (f'<td width="200" valign="top" style="width:{w};border:solid windowtext 1.0pt;'
                f'padding:0cm 5.4pt 0cm 5.4pt">\n<p class="MsoNormal">{inner}</p>\n</td>\n')

    table = ('<table class="MsoTableGrid" border="1" cellspacing="0" cellpadding="0" '
             'style="border-collapse:collapse;border:none">\n<tr>\n'
             + cell("Dato", True) + cell("Sted", True) + cell("Form", True) + "</tr>\n"
             + "".join("<tr>\n" + cell(a) + cell(b) + cell(c) + "</tr>\n" for a, b, c in rows)
             + "</table>\n")
    word_html = (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
        'xmlns="http://www.w3.org/TR/REC-html40">\n'
        "<head>\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">\n'
        '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n'
        "<style><!--\n"
        "/* Font Definitions */\n"
        "@font-face\n\t{font-family:\"Cambria Math\";\n\tpanose-1:2 4 5 3 5 4 6 3 2 4;}\n"
        "@font-face\n\t{font-family:Calibri;\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\n"
        "/* Style Definitions */\n"
        "p.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n"
        "\tfont-family:\"Calibri\",sans-serif;\n\tmso-fareast-language:EN-US;}\n"
        "span.EmailStyle17\n\t{mso-style-type:personal-compose;\n\tfont-family:\"Calibri\",sans-serif;\n"
        "\tcolor:windowtext;}\n"
        ".MsoChpDefault\n\t{mso-style-type:export-only;\n\tfont-family:\"Calibri\",sans-serif;}\n"
        "@page WordSection1\n\t{size:612.0pt 792.0pt;\n\tmargin:72.0pt 72.0pt 72.0pt 72.0pt;}\n"
        "div.WordSection1\n\t{page:WordSection1;}\n"
        "--></style><!--[if gte mso 9]><xml>\n"
        '<o:shapedefaults v:ext="edit" spidmax="1026" />\n'
        "</xml><![endif]--><!--[if gte mso 9]><xml>\n"
        '<o:shapelayout v:ext="edit">\n<o:idmap v:ext="edit" data="1" />\n</o:shapelayout></xml><![endif]-->\n'
        "</head>\n"
        '<body lang="DA" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">\n'
        '<div class="WordSection1">\n'
        '<p class="MsoNormal">Kære alle<o:p></o:p></p>\n'
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
        '<p class="MsoNormal">Her er forslaget til Mødeplan 2028 – kommentarer senest fredag den 1. oktober.'
        "<o:p></o:p></p>\n"
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
        + table +
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
        '<p class="MsoNormal">Mødet i Roskilde er årets fysiske møde.<o:p></o:p></p>\n'
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
        '<p class="MsoNormal"><span style="mso-fareast-language:DA">Venlig hilsen<o:p></o:p></span></p>\n'
        '<p class="MsoNormal"><span style="mso-fareast-language:DA">Mette Østergaard<o:p></o:p></span></p>\n'
        '<p class="MsoNormal"><span style="font-size:9.0pt;color:#595959;mso-fareast-language:DA">'
        "Næstformand · Herning Kommune<o:p></o:p></span></p>\n"
        "</div>\n"
        "</body>\n"
        "</html>\n"
    )
    add("post-outlook-html", msg([
        ("Received", received("EX02.herning.example.dk", "192.0.2.20", "mx.example.dk", "4Wq4Dd0Xy7wq3", LIST,
                              date(2027, 9, 13, 14, 20, 33) + " (CEST)")),
        ("From", METTE),
        ("To", f"{addr('IT-netværk', LIST)}"),
        ("Subject", subj("Mødeplan 2028 – til kommentering", "windows-1252")),
        ("Thread-Topic", subj("Mødeplan 2028 – til kommentering", "windows-1252")),
        ("Thread-Index", "AdmmnB3xq7ZCk0uVQmS1y8PaRt0dYA=="),
        ("Date", date(2027, 9, 13, 12, 20, 30, "+0000")),
        ("Message-ID", "<DB9PR07MB71939A0C5E2F6D4B8E1F2A3BC4D52@DB9PR07MB7193.eurprd07.prod.herning.example.dk>"),
        ("Accept-Language", "da-DK, en-US"),
        ("Content-Language", "da-DK"),
        ("X-MS-Has-Attach", ""),
        ("X-MS-TNEF-Correlator", ""),
    ], text(word_html, subtype="html", charset="windows-1252", cte="quoted-printable", quote_charset=True)),
        category="post", network="it-netvaerk",
        subject="Mødeplan 2028 – til kommentering",
        body_contains=["Mødeplan 2028 – kommentarer", "Roskilde, Region Sjælland", "Næstformand · Herning Kommune"],
        notes="HTML only (no text/plain), Word-generated HTML with <o:p>, a <style> block, conditional comments "
              "and a table, windows-1252 quoted-printable. body_contains refers to the text rendering of the HTML.")

    # --- 200 KB PDF attachment
    size = 200 * 1024
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    tail = b"\nstartxref\n0\n%%EOF\n"
    pdf = head + det_bytes("post-pdf-attachment", size - len(head) - len(tail)) + tail
    assert len(pdf) == size
    add("post-pdf-attachment", msg([
        ("From", SOREN),
        ("To", LIST),
        ("Subject", "Statusrapport FMK 2027"),
        ("Date", date(2027, 9, 14, 9, 30, 0)),
        ("Message-ID", "<a7c9e1f3-0b2d-4e6f-8a1c-3e5f7a9b1c2d@aarhus.example.dk>"),
        ("User-Agent", "Mozilla Thunderbird"),
    ], multipart("mixed", "------------a9B8c7D6e5F4g3H2i1J0k9L8", [
        text("Hej alle\n\nHer er statusrapporten for FMK i Midtjylland, som lovet på sidste møde.\n\n"
             "Søren\n", charset="utf-8", cte="8bit"),
        binary(pdf, "application/pdf", "Statusrapport FMK 2027.pdf"),
    ], preamble=b"This is a multi-part message in MIME format.")),
        category="post", network="it-netvaerk",
        subject="Statusrapport FMK 2027",
        body_contains=["statusrapporten for FMK i Midtjylland", "Søren"],
        attachments=["Statusrapport FMK 2027.pdf"],
        notes="multipart/mixed with a 204800-byte application/pdf attachment (deterministic bytes, base64).")

    # --- message/rfc822 nested 3 levels deep
    lvl3 = msg([
        ("From", addr("Jens Kofoed", "jens.kofoed@medcom.example.dk")),
        ("To", ANNE),
        ("Subject", subj("Spørgsmål om standarder", "iso-8859-1")),
        ("Date", date(2027, 8, 30, 9, 0, 0)),
        ("Message-ID", "<lvl3.20270830090000@medcom.example.dk>"),
    ], text("Kære Anne\n\nKan kommunerne nå at teste den nye standard før årsskiftet?\n\nJens\n",
            charset="iso-8859-1", cte="quoted-printable"))
    lvl2 = msg([
        ("From", ANNE),
        ("To", addr("Jens Kofoed", "jens.kofoed@medcom.example.dk")),
        ("Subject", subj("SV: Spørgsmål om standarder")),
        ("Date", date(2027, 8, 31, 10, 0, 0)),
        ("Message-ID", "<lvl2.20270831100000@kl.example.dk>"),
        ("In-Reply-To", "<lvl3.20270830090000@medcom.example.dk>"),
    ], multipart("mixed", "lvl2-boundary-0001", [
        text("Jeg tager det op i netværket.\n\nAnne\n", charset="utf-8", cte="8bit"),
        message_part(lvl3),
    ]))
    lvl1 = msg([
        ("From", addr("Jens Kofoed", "jens.kofoed@medcom.example.dk")),
        ("To", ANNE),
        ("Subject", subj("VS: Svar fra MedCom")),
        ("Date", date(2027, 9, 1, 8, 0, 0)),
        ("Message-ID", "<lvl1.20270901080000@medcom.example.dk>"),
    ], multipart("mixed", "lvl1-boundary-0001", [
        text("Til orientering, se tråden nedenfor.\n\nJens\n", charset="utf-8", cte="8bit"),
        message_part(lvl2),
    ]))
    add("post-nested-rfc822", msg([
        ("From", ANNE),
        ("To", LIST),
        ("Subject", subj("Til orientering: korrespondance med MedCom")),
        ("Date", date(2027, 9, 15, 15, 45, 0)),
        ("Message-ID", "<d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6@kl.example.dk>"),
        ("User-Agent", "Mozilla Thunderbird"),
    ], multipart("mixed", "------------0A1b2C3d4E5f6G7h8I9j0K1l", [
        text("Kære alle\n\nSe vedhæftede korrespondance – den går tre led tilbage.\n\nAnne\n",
             charset="utf-8", cte="8bit"),
        message_part(lvl1, filename="VS Svar fra MedCom.eml"),
    ])),
        category="post", network="it-netvaerk",
        subject="Til orientering: korrespondance med MedCom",
        body_contains=["Se vedhæftede korrespondance – den går tre led tilbage"],
        attachments=["VS Svar fra MedCom.eml"],
        notes="A message/rfc822 attachment containing a message/rfc822 containing a message/rfc822 "
              "(3 levels). Only the outer text is the post's body; inner texts must not leak into it.")

    # --- To it-teknik, Cc it-netvaerk
    add("post-it-teknik-cc", msg([
        ("From", LARS),
        ("To", LIST2),
        ("Cc", LIST),
        ("Subject", subj("Fælles test af ny MedCom-standard")),
        ("Date", date(2027, 9, 16, 9, 12, 0)),
        ("Message-ID", "<0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9@odense.example.dk>"),
        ("User-Agent", "Mozilla Thunderbird"),
    ], text("Hej teknikere (og netværket til orientering)\n\nVi planlægger en fælles test i uge 42.\n\nLars\n",
            charset="utf-8", cte="8bit")),
        category="post", network="it-teknik",
        subject="Fælles test af ny MedCom-standard",
        body_contains=["Vi planlægger en fælles test i uge 42"],
        notes="Cross-posted: To it-teknik, Cc it-netvaerk, no Delivered-To/X-Original-To. With nothing but the "
              "headers, To wins (it-teknik); with an SMTP envelope recipient it-netvaerk the copy is it-netvaerk's.")

    # --- undisclosed recipients, Delivered-To names the list
    add("post-undisclosed", msg([
        ("Return-Path", f"<{SOREN_ADDR}>"),
        ("Delivered-To", LIST),
        ("Received", received("mail.aarhus.example.dk", "192.0.2.10", "mx.example.dk", "4Wq5Ee1Fg2hi4", LIST,
                              date(2027, 9, 17, 10, 0, 3) + " (CEST)")),
        ("From", SOREN),
        ("To", "undisclosed-recipients:;"),
        ("Subject", subj("Invitation til temadag om velfærdsteknologi")),
        ("Date", date(2027, 9, 17, 10, 0, 0)),
        ("Message-ID", "<f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f@aarhus.example.dk>"),
    ], text("Kære alle\n\nI inviteres hermed til temadag om velfærdsteknologi den 25. november.\n\nSøren\n",
            charset="utf-8", cte="8bit")),
        category="post", network="it-netvaerk",
        subject="Invitation til temadag om velfærdsteknologi",
        body_contains=["temadag om velfærdsteknologi den 25. november"],
        notes="The list got it as Bcc: To is the empty group 'undisclosed-recipients:;'; only Delivered-To "
              "names the list.")

    # --- a genuine post carrying X-Auto-Response-Suppress (Outlook/Exchange adds it to ordinary mail)
    add("post-suppress", msg([
        ("Received", received("EX02.herning.example.dk", "192.0.2.20", "mx.example.dk", "4Wq6Ff2Gh3ij5", LIST,
                              date(2027, 9, 20, 8, 41, 2) + " (CEST)")),
        ("From", METTE),
        ("To", addr("IT-netværk", LIST)),
        ("Subject", subj("Spørgeskema om telemedicin – svar senest 1. november")),
        ("Thread-Topic", subj("Spørgeskema om telemedicin – svar senest 1. november")),
        ("Thread-Index", "AdmtQ1sT0h8wZ3VnSyGx2kQ1B9rNfg=="),
        ("Date", date(2027, 9, 20, 6, 41, 0, "+0000")),
        ("Message-ID", "<DB9PR07MB7193F1E2D3C4B5A69788@DB9PR07MB7193.eurprd07.prod.herning.example.dk>"),
        ("Accept-Language", "da-DK, en-US"),
        ("Content-Language", "da-DK"),
        ("X-MS-Has-Attach", ""),
        ("X-Auto-Response-Suppress", "All"),
        ("X-MS-Exchange-Organization-AuthAs", "Internal"),
    ], multipart("alternative", "_000_DB9PR07MB7193F1E2D3C4B5A69788DB9PR07MB7193eurp_", [
        text("Kære alle\n\nHusk at besvare spørgeskemaet om telemedicin senest den 1. november.\n\n"
             "Venlig hilsen\nMette Østergaard\n", charset="utf-8", cte="quoted-printable", quote_charset=True),
        text('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
             '<body><p class="MsoNormal">Kære alle</p><p class="MsoNormal">Husk at besvare spørgeskemaet om '
             "telemedicin senest den 1. november.</p><p class=\"MsoNormal\">Venlig hilsen<br>Mette Østergaard"
             "</p></body></html>\n", subtype="html", charset="utf-8", cte="quoted-printable", quote_charset=True),
    ])),
        category="post", network="it-netvaerk",
        subject="Spørgeskema om telemedicin – svar senest 1. november",
        body_contains=["Husk at besvare spørgeskemaet om telemedicin"],
        notes="An ordinary member post from Outlook/Exchange that carries X-Auto-Response-Suppress: All. "
              "That header asks others not to auto-reply; it does NOT make this mail an auto-reply.")


# --------------------------------------------------------------------------- answers

def inv_text(name: str) -> str:
    return (
        f"Kære {name}\n"
        "\n"
        f"Du inviteres til møde i {NETWORK_NAME}\n"
        "torsdag den 7. oktober 2027 kl. 10.00-13.00, KL, Weidekampsgade 10, København S.\n"
        "\n"
        "Svar på denne mail med ét ord øverst:\n"
        "Tilmeld – du deltager\n"
        "Afbud – du kan ikke deltage\n"
        "Måske – du ved det ikke endnu\n"
        "\n"
        "Mødet ligger også som kalenderinvitation i denne mail.\n"
        "\n"
        "Venlig hilsen\n"
        f"Kkrbot for {NETWORK_NAME}\n"
    )


def agenda_text(name: str) -> str:
    return (
        f"Kære {name}\n"
        "\n"
        "Hermed dagsorden til mødet torsdag den 7. oktober 2027 kl. 10.00-13.00.\n"
        "\n"
        "1. Godkendelse af dagsorden\n"
        "2. Status på FMK-udrulning\n"
        "3. Fælles it-arkitektur\n"
        "4. Eventuelt\n"
        "\n"
        "Svar Tilmeld, Afbud eller Måske øverst i dit svar.\n"
        "\n"
        "Venlig hilsen\n"
        f"Kkrbot for {NETWORK_NAME}\n"
    )


def draft_text() -> str:
    return (
        "Kære Anne Hansen\n"
        "\n"
        "Her er udkastet til dagsorden for mødet torsdag den 7. oktober 2027.\n"
        "\n"
        "1. Status på FMK-udrulning\n"
        "   Resumé: Regionerne har udrullet FMK-opdateringen; kommunerne følger i uge 44.\n"
        "2. Fælles it-arkitektur\n"
        "\n"
        "Svar Godkend for at godkende udkastet, eller Afvent hvis det skal vente.\n"
        "\n"
        "Venlig hilsen\n"
        "Kkrbot\n"
    )


def minutes_req_text() -> str:
    return (
        "Kære Anne Hansen\n"
        "\n"
        f"Mødet i {NETWORK_NAME} torsdag den 7. oktober 2027 er slut.\n"
        "Svar på denne mail med referatet (i teksten eller som .docx/.pdf).\n"
        "\n"
        "Venlig hilsen\n"
        "Kkrbot\n"
    )


def quote(t: str, bom: bool = False) -> str:
    out = []
    for i, line in enumerate(t.rstrip("\n").split("\n")):
        if i == 0 and bom:
            line = "\ufeff" + line
        out.append("> " + line if line else ">")
    return "\n".join(out) + "\n"


def h(t: str) -> str:
    return html.escape(t, quote=False)


def html_lines(t: str, sep: str = "<br>\n") -> str:
    return sep.join(h(line) for line in t.rstrip("\n").split("\n"))


def outlook_html(reply_html: str, block_html: str, orig: str) -> str:
    return (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns="http://www.w3.org/TR/REC-html40">\n'
        '<head>\n<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n'
        "<style><!--\np.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n"
        '\tfont-family:"Calibri",sans-serif;}\n--></style>\n</head>\n'
        '<body lang="DA" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">\n'
        '<div class="WordSection1">\n'
        + reply_html + block_html +
        '<p class="MsoNormal">' + html_lines(orig, "<br>\n") + "<o:p></o:p></p>\n"
        "</div>\n</body>\n</html>\n"
    )


def gmail_html(reply_html: str, attr: str, orig: str) -> str:
    return (
        f'<div dir="ltr">{reply_html}</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f"{attr}<br></div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
        'rgb(204,204,204);padding-left:1ex">' + html_lines(orig) + "</blockquote></div>\n"
    )


def reply_headers(subject: str, when: str, msgid: str, to: str = TOKEN_ADDR, refs: str | None = OUR_MSGID,
                  irt: str | None = OUR_MSGID, extra_top: Headers = (), extra: Headers = (),
                  charset: str = "utf-8", enc: str = "Q") -> Headers:
    hs = list(extra_top) + [
        ("From", "{{from}}"),
        ("To", to),
        ("Subject", subj(subject, charset, enc)),
        ("Date", when),
        ("Message-ID", msgid),
    ]
    if irt:
        hs.append(("In-Reply-To", irt))
    if refs:
        hs.append(("References", refs))
    return hs + list(extra)


def build_answers():
    # --- Outlook desktop (2010), "-----Oprindelig meddelelse-----", iso-8859-1 QP, text+HTML
    orig = inv_text("Søren Ærø")
    s = "SV: " + S_INVITATION
    plain = (
        "Tilmeld\n"
        "\n"
        "Mvh\n"
        "Søren\n"
        "\n"
        "-----Oprindelig meddelelse-----\n"
        "Fra: Kkrbot [mailto:it-netvaerk@lists.example.dk] \n"
        "Sendt: 5. august 2027 09:00\n"
        "Til: Søren Ærø\n"
        f"Emne: {S_INVITATION}\n"
        "\n" + orig
    )
    block = (
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
        "<div>\n<div style=\"border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm\">\n"
        '<p class="MsoNormal"><b><span lang="EN-US" style="font-size:10.0pt;font-family:&quot;Tahoma&quot;,'
        'sans-serif">Fra:</span></b><span lang="EN-US" style="font-size:10.0pt"> Kkrbot '
        "[mailto:it-netvaerk@lists.example.dk] <br>\n<b>Sendt:</b> 5. august 2027 09:00<br>\n"
        f"<b>Til:</b> Søren Ærø<br>\n<b>Emne:</b> {h(S_INVITATION)}<o:p></o:p></span></p>\n</div>\n</div>\n"
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
    )
    reply = ('<p class="MsoNormal">Tilmeld<o:p></o:p></p>\n<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
             '<p class="MsoNormal">Mvh<o:p></o:p></p>\n<p class="MsoNormal">Søren<o:p></o:p></p>\n')
    add("answer-outlook-oprindelig", msg(reply_headers(
        s, date(2027, 8, 5, 9, 47, 12), "<000601d88a2b$5c6d7e80$15967f00$@aarhus.example.dk>",
        to=f'"{TOKEN_ADDR}" <{TOKEN_ADDR}>', charset="iso-8859-1",
        extra=[("X-Mailer", "Microsoft Outlook 14.0"),
               ("Thread-Index", "AQHYiitcbX6AFZZ/AAAAAAAAAAAAAA=="),
               ("Content-Language", "da")]),
        multipart("alternative", "----=_NextPart_000_0007_01D88A3C.1F2E3D40", [
            text(plain, charset="windows-1252", cte="quoted-printable", quote_charset=True),
            text(outlook_html(reply, block, orig), subtype="html", charset="windows-1252",
                 cte="quoted-printable", quote_charset=True),
        ], preamble=b"This is a multipart message in MIME format.")),
        category="answer", network="it-netvaerk", first_word="tilmeld", subject=s,
        body_contains=["Tilmeld", "-----Oprindelig meddelelse-----", "Til: Søren Ærø"],
        notes="Outlook 2010 (Danish): answer on top, then '-----Oprindelig meddelelse-----' and an unquoted copy "
              "of the invitation (which itself lists Tilmeld/Afbud/Måske). windows-1252 QP body, iso-8859-1 subject, "
              "text+HTML. To is "
              "Outlook's '\"addr\" <addr>' form.")

    # --- Outlook desktop (365), "Fra: / Sendt: / Til: / Emne:" block, utf-8 QP, text+HTML; draft approval
    orig = draft_text()
    s = "SV: " + S_DRAFT
    plain = (
        "Godkend\n"
        "\n"
        "Venlig hilsen\n"
        "Anne Hansen\n"
        "Kontorchef, KL\n"
        "\n"
        "Fra: Kkrbot <it-netvaerk@lists.example.dk> \n"
        "Sendt: mandag den 27. september 2027 08.00\n"
        "Til: Anne Hansen <anne.hansen@kl.example.dk>\n"
        f"Emne: {S_DRAFT}\n"
        "\n" + orig
    )
    block = (
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n'
        '<p class="MsoNormal"><b>Fra:</b> Kkrbot &lt;it-netvaerk@lists.example.dk&gt; <br>\n'
        "<b>Sendt:</b> mandag den 27. september 2027 08.00<br>\n"
        "<b>Til:</b> Anne Hansen &lt;anne.hansen@kl.example.dk&gt;<br>\n"
        f"<b>Emne:</b> {h(S_DRAFT)}<o:p></o:p></p>\n</div>\n"
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
    )
    reply = ('<p class="MsoNormal">Godkend<o:p></o:p></p>\n<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
             '<p class="MsoNormal">Venlig hilsen<o:p></o:p></p>\n<p class="MsoNormal">Anne Hansen<o:p></o:p></p>\n'
             '<p class="MsoNormal">Kontorchef, KL<o:p></o:p></p>\n')
    add("answer-outlook-fra-sendt", msg(reply_headers(
        s, date(2027, 9, 27, 7, 12, 44, "+0000"),
        "<AM0PR07MB44170C9D8E7F6A5B4C3D2E1FA0B19@AM0PR07MB4417.eurprd07.prod.kl.example.dk>",
        refs=f"{OLD_MSGID}\n {OUR_MSGID}",
        extra=[("Thread-Topic", subj(S_DRAFT)),
               ("Thread-Index", "AQHYs0+1Xq2dR7cFQ0mZ3W1b6fYwFKl0fA=="),
               ("Accept-Language", "da-DK, en-US"),
               ("Content-Language", "da-DK"),
               ("X-MS-Has-Attach", ""),
               ("X-MS-TNEF-Correlator", "")]),
        multipart("alternative", "_000_AM0PR07MB44170C9D8E7F6A5B4C3D2E1FA0B19AM0PR07MB4417eurp_", [
            text(plain, charset="utf-8", cte="quoted-printable", quote_charset=True),
            text(outlook_html(reply, block, orig), subtype="html", charset="utf-8", cte="quoted-printable",
                 quote_charset=True),
        ])),
        category="answer", network="it-netvaerk", first_word="godkend", subject=s,
        body_contains=["Godkend", "Sendt: mandag den 27. september 2027 08.00"],
        notes="Outlook 365 desktop (Danish): answer on top, signature, then the 'Fra: / Sendt: / Til: / Emne:' "
              "header block and the unquoted draft (which contains 'Godkend' and 'Afvent' too). References "
              "holds an older bot Message-ID first; only In-Reply-To / the To token count.")

    # --- Outlook on the web: HTML only
    orig = inv_text("Lars Møller")
    s = "SV: " + S_INVITATION
    owa = (
        '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
        '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>\n'
        '</head>\n<body dir="ltr">\n'
        '<div class="elementToProof" style="font-family: Aptos, Aptos_EmbeddedFont, Aptos_MSFontService, '
        'Calibri, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);">\n'
        "Ja tak, jeg deltager.</div>\n"
        '<div class="elementToProof" style="font-family: Aptos, Calibri, Helvetica, sans-serif; '
        'font-size: 12pt; color: rgb(0, 0, 0);">\n<br>\n</div>\n'
        '<div id="appendonsend"></div>\n'
        '<hr style="display:inline-block;width:98%" tabindex="-1">\n'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" '
        'color="#000000"><b>Fra:</b> Kkrbot &lt;it-netvaerk@lists.example.dk&gt;<br>\n'
        "<b>Sendt:</b> torsdag den 5. august 2027 09:00<br>\n"
        "<b>Til:</b> Lars Møller &lt;lars.moeller@odense.example.dk&gt;<br>\n"
        f"<b>Emne:</b> {h(S_INVITATION)}</font>\n<div>&nbsp;</div>\n</div>\n"
        '<div>\n<div style="white-space: pre-wrap;">' + h(orig) + "</div>\n</div>\n"
        "</body>\n</html>\n"
    )
    add("answer-outlook-web", msg(reply_headers(
        s, date(2027, 8, 5, 11, 3, 51, "+0000"),
        "<DU0PR02MB9A1B2C3D4E5F60718293A4B5C6D7E8@DU0PR02MB9A1B.eurprd02.prod.odense.example.dk>",
        extra=[("Thread-Topic", subj(S_INVITATION)),
               ("Thread-Index", "AQHZ8a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p"),
               ("Accept-Language", "da-DK, en-US"),
               ("Content-Language", "da-DK"),
               ("X-MS-Has-Attach", ""),
               ("X-MS-TNEF-Correlator", ""),
               ("msip_labels", "")]),
        text(owa, subtype="html", charset="utf-8", cte="quoted-printable", quote_charset=True)),
        category="answer", network="it-netvaerk", first_word="ja", subject=s,
        body_contains=["Ja tak, jeg deltager.", "Emne: " + S_INVITATION],
        notes="Outlook on the web, HTML only (no text/plain). The answer is in the first div; the quoted "
              "invitation follows divRplyFwdMsg with a Danish Fra/Sendt/Til/Emne block.")

    # --- Gmail (Danish): wrapped attribution line, > quotes, text+HTML
    orig = agenda_text("Mette Østergaard")
    s = "Re: " + S_AGENDA
    attr_plain = "Den tor. 30. sep. 2027 kl. 08.00 skrev Kkrbot <\nit-netvaerk@lists.example.dk>:"
    attr_html = ('Den tor. 30. sep. 2027 kl. 08.00 skrev Kkrbot &lt;<a href="mailto:it-netvaerk@lists.example.dk">'
                 "it-netvaerk@lists.example.dk</a>&gt;:")
    plain = "Nej, desværre – jeg er forhindret.\n\nMvh Mette\n\n" + attr_plain + "\n\n" + quote(orig)
    reply = "Nej, desværre – jeg er forhindret.<div><br></div><div>Mvh Mette</div>"
    add("answer-gmail-da", msg(reply_headers(
        s, date(2027, 9, 30, 10, 12, 7),
        "<CAHx2vN3kP9qT0wXy8zA1bC2dE3fG4hJ5kL6mN7pQ8rS9tU0v@mail.gmail.example.com>",
        refs=f"{OLD_MSGID} {OUR_MSGID}", charset="UTF-8", enc="B"),
        multipart("alternative", "000000000000a1b2c3d4e5f60718", [
            text(plain, charset="UTF-8", cte="quoted-printable", quote_charset=True),
            text(gmail_html(reply, attr_html, orig), subtype="html", charset="UTF-8", cte="quoted-printable",
                 quote_charset=True),
        ])),
        category="answer", network="it-netvaerk", first_word="nej", subject=s,
        body_contains=["Nej, desværre – jeg er forhindret.", "> Kære Mette Østergaard"],
        notes="Gmail in Danish: 'Den tor. 30. sep. 2027 kl. 08.00 skrev Kkrbot <' wrapped onto a second line "
              "'it-netvaerk@lists.example.dk>:' (Gmail wraps plain text), then '>' quotes containing "
              "Tilmeld/Afbud/Måske. Subject is a UTF-8 B encoded-word. First word is followed by a comma.")

    # --- Gmail (English)
    orig = inv_text("Søren Ærø")
    s = "Re: " + S_INVITATION
    attr = "On Thu, Aug 5, 2027 at 9:00 AM Kkrbot <it-netvaerk@lists.example.dk> wrote:"
    plain = "Maybe – I will know next week.\n\n" + attr + "\n\n" + quote(orig)
    add("answer-gmail-en", msg(reply_headers(
        s, date(2027, 8, 5, 14, 30, 0),
        "<CAKp7rM1aB2cD3eF4gH5iJ6kL7mN8oP9qR0sT1uV2wX3yZ4@mail.gmail.example.com>", charset="UTF-8", enc="B"),
        multipart("alternative", "000000000000f1e2d3c4b5a69788", [
            text(plain, charset="UTF-8", cte="quoted-printable", quote_charset=True),
            text(gmail_html("Maybe – I will know next week.", h(attr).replace("&lt;", "&lt;"), orig),
                 subtype="html", charset="UTF-8", cte="quoted-printable", quote_charset=True),
        ])),
        category="answer", network="it-netvaerk", first_word="maybe", subject=s,
        body_contains=["Maybe – I will know next week.", "at 9:00 AM Kkrbot"],
        notes="Gmail in English: 'On Thu, Aug 5, 2027 at 9:00 AM Kkrbot <...> wrote:' then '>' quotes. "
              "English keyword Maybe (= Måske).")

    # --- Thunderbird: bottom-posting (the default), format=flowed, attribution "Den 30-09-2027 kl. 08:00 skrev"
    orig = agenda_text("Søren Ærø")
    s = "Re: " + S_AGENDA
    plain = (
        "Den 30-09-2027 kl. 08:00 skrev Kkrbot:\n"
        + quote(orig) +
        "\n"
        "Måske – det afhænger af et andet møde, som \n"
        "endnu ikke er fastlagt.\n"
        "\n"
        "Søren\n"
    )
    add("answer-thunderbird", msg(reply_headers(
        s, date(2027, 9, 30, 12, 1, 33), "<3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7@aarhus.example.dk>",
        refs=OUR_MSGID,
        extra=[("User-Agent", "Mozilla Thunderbird"), ("Content-Language", "da")]),
        text(plain, charset="UTF-8", cte="8bit", params="; format=flowed", quote_charset=False)),
        category="answer", network="it-netvaerk", first_word="måske", subject=s,
        body_contains=["Måske – det afhænger af et andet møde"],
        notes="Thunderbird, reply BELOW the quote (its default): the mail starts with 'Den 30-09-2027 kl. 08:00 "
              "skrev Kkrbot:' and '>' quotes that contain 'Svar Tilmeld, Afbud eller Måske'; the answer "
              "comes after. text/plain format=flowed (a soft line break after 'som ').")

    # --- Apple Mail (iPhone): "Sendt fra min iPhone", quoted attribution line, BOM in quote
    orig = inv_text("Søren Ærø")
    s = "Re: " + S_INVITATION
    plain = ("Tilmeld\n\nSendt fra min iPhone\n\n"
             "> Den 5. aug. 2027 kl. 09.00 skrev Kkrbot <it-netvaerk@lists.example.dk>:\n>\n"
             + quote(orig, bom=True))
    ahtml = ('<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
             '<body dir="auto"><div dir="ltr">Tilmeld</div><div dir="ltr"><br><div dir="ltr">Sendt fra min '
             'iPhone</div><div dir="ltr"><br><blockquote type="cite">Den 5. aug. 2027 kl. 09.00 skrev Kkrbot '
             '&lt;it-netvaerk@lists.example.dk&gt;:<br><br></blockquote></div><blockquote type="cite">'
             '<div dir="ltr">\ufeff' + html_lines(orig) + "</div></blockquote></div></body></html>\n")
    add("answer-apple-mail", msg(reply_headers(
        s, date(2027, 8, 5, 9, 12, 0), "<7A8B9C0D-1E2F-4A3B-8C4D-5E6F7A8B9C0D@aarhus.example.dk>",
        extra=[("X-Mailer", "iPhone Mail (21G93)")]),
        multipart("alternative", "Apple-Mail-4A1B2C3D-5E6F-4708-9A1B-2C3D4E5F6A7B", [
            text(plain, charset="utf-8", cte="quoted-printable"),
            text(ahtml, subtype="html", charset="utf-8", cte="quoted-printable"),
        ])).replace(b"MIME-Version: 1.0", b"Mime-Version: 1.0 (1.0)"),
        category="answer", network="it-netvaerk", first_word="tilmeld", subject=s,
        body_contains=["Tilmeld", "Sendt fra min iPhone"],
        notes="Apple Mail on iPhone (Danish): 'Sendt fra min iPhone', then the attribution 'Den 5. aug. 2027 kl. "
              "09.00 skrev ...:' itself '>'-quoted, and a U+FEFF at the start of the quoted text. "
              "'Mime-Version: 1.0 (1.0)'.")

    # --- greeting first
    orig = agenda_text("Lars Møller")
    s = "Re: " + S_AGENDA
    plain = ("Hej Anne,\n\nAfbud – jeg er på ferie.\n\nVh Lars\n\n"
             "Den 2027-09-30 08:00, Kkrbot skrev:\n" + quote(orig))
    add("answer-greeting", msg(reply_headers(
        s, date(2027, 9, 30, 19, 40, 2), "<a1f0c3e9b8d7c6b5a4f3e2d1c0b9a8f7@odense.example.dk>",
        extra=[("User-Agent", "Roundcube Webmail/1.6.5")]),
        text(plain, charset="UTF-8", cte="quoted-printable", params="; format=flowed", quote_charset=True)),
        category="answer", network="it-netvaerk", first_word="afbud", subject=s,
        body_contains=["Afbud – jeg er på ferie."],
        notes="Greeting line 'Hej Anne,' before the answer; Roundcube attribution 'Den 2027-09-30 08:00, Kkrbot "
              "skrev:'.")

    # --- "-- " signature between the answer and the quote
    orig = draft_text()
    s = "Re: " + S_DRAFT
    plain = ("Afvent\n\nVi mangler stadig punktet om økonomi.\n\n-- \nAnne Hansen\nKontorchef, KL\n"
             "Tlf. 3370 3370\n\n"
             "On Mon, Sep 27, 2027 at 08:00:00AM +0200, Kkrbot wrote:\n" + quote(orig))
    add("answer-signature", msg(reply_headers(
        s, date(2027, 9, 27, 9, 15, 0), "<20270927071500.GB2931@kl.example.dk>",
        extra=[("User-Agent", "Mutt/2.2.12 (2023-09-09)")]),
        text(plain, charset="utf-8", cte="8bit")),
        category="answer", network="it-netvaerk", first_word="afvent", subject=s,
        body_contains=["Vi mangler stadig punktet om økonomi."],
        notes="Mutt: answer, then a '-- ' signature (dash dash space), then the English attribution and '>' "
              "quotes of the draft (which mention Godkend).")

    # --- no In-Reply-To / References: recognised only by the +token address in To
    s = "SV: " + S_AGENDA
    add("answer-no-reply-headers", msg(reply_headers(
        s, date(2027, 10, 1, 7, 55, 0), "<000a01d9b6c7$d8e9f0a1$b2c3d4e5$@odense.example.dk>",
        to=f"Kkrbot <{TOKEN_ADDR}>", refs=None, irt=None,
        extra=[("X-Mailer", "Microsoft Windows Live Mail 16.4.3528.331")]),
        text("Afbud, desværre.\n\nMvh Lars\n", charset="iso-8859-1", cte="quoted-printable", quote_charset=True)),
        category="answer", network="it-netvaerk", first_word="afbud", subject=s,
        body_contains=["Afbud, desværre."],
        notes="No In-Reply-To and no References (client dropped them / a new mail to the Reply-To address). Only "
              "the +{{token}} in To links it to the bot mail. First word followed by a comma.")

    # --- unknown first word
    orig = inv_text("Søren Ærø")
    s = "Re: " + S_INVITATION
    attr = "Den tor. 5. aug. 2027 kl. 09.00 skrev Kkrbot <it-netvaerk@lists.example.dk>:"
    plain = "Hvornår er mødet?\n\n" + attr + "\n\n" + quote(orig)
    add("answer-unknown-word", msg(reply_headers(
        s, date(2027, 8, 6, 8, 0, 12), "<CAM9sQ4bC5dE6fG7hI8jK9lM0nO1pQ2rS3tU4vW5xY6z@mail.gmail.example.com>",
        charset="UTF-8", enc="B"),
        multipart("alternative", "0000000000009a8b7c6d5e4f3021", [
            text(plain, charset="UTF-8", cte="quoted-printable", quote_charset=True),
            text(gmail_html("Hvornår er mødet?", h(attr), orig), subtype="html", charset="UTF-8",
                 cte="quoted-printable", quote_charset=True),
        ])),
        category="answer", network="it-netvaerk", first_word="hvornår", subject=s,
        body_contains=["Hvornår er mødet?"],
        notes="An answer the bot does not understand: it gets the help text back and is never relayed to the "
              "list (even though the quote below contains Tilmeld/Afbud/Måske).")

    # --- the secretary's minutes, as a reply with a .docx (Outlook: RFC 2047 in the filename parameter)
    orig = minutes_req_text()
    s = "SV: " + S_MINUTES_REQ
    fname = "Referat it-netværk 7. oktober 2027.docx"
    enc_fn = "=?utf-8?B?" + base64.b64encode(fname.encode()).decode() + "?="
    docx = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + det_bytes("minutes.docx", 3000) + b"PK\x05\x06" + bytes(18)
    plain = ("Hermed referatet fra mødet den 7. oktober.\n\nVenlig hilsen\nAnne Hansen\n\n"
             "Fra: Kkrbot <it-netvaerk@lists.example.dk> \nSendt: torsdag den 7. oktober 2027 13.00\n"
             f"Til: Anne Hansen <anne.hansen@kl.example.dk>\nEmne: {S_MINUTES_REQ}\n\n" + orig)
    add("answer-minutes-docx", msg(reply_headers(
        s, date(2027, 10, 8, 12, 30, 0, "+0000"),
        "<AM0PR07MB4417D1C2B3A4958677A8B9C0D1E2@AM0PR07MB4417.eurprd07.prod.kl.example.dk>",
        extra=[("Thread-Topic", subj(S_MINUTES_REQ)), ("Content-Language", "da-DK"),
               ("X-MS-Has-Attach", "yes")]),
        multipart("mixed", "_004_AM0PR07MB4417D1C2B3A4958677A8B9C0D1E2AM0PR07MB4417eurp_", [
            multipart("alternative", "_000_AM0PR07MB4417D1C2B3A4958677A8B9C0D1E2AM0PR07MB4417eurp_", [
                text(plain, charset="utf-8", cte="quoted-printable", quote_charset=True),
                text(outlook_html('<p class="MsoNormal">Hermed referatet fra mødet den 7. oktober.<o:p></o:p></p>\n',
                                  "", orig), subtype="html", charset="utf-8", cte="quoted-printable",
                     quote_charset=True),
            ]),
            binary(docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                   fname, filename_hdr=f'filename="{enc_fn}"',
                   extra=[("Content-Description", enc_fn)]),
        ])),
        category="answer", network="it-netvaerk", first_word="hermed", subject=s,
        body_contains=["Hermed referatet fra mødet den 7. oktober."],
        attachments=[fname],
        notes="The secretary answers the minutes request (X-Kkrbot-Kind minutes-request) with the minutes as a "
              ".docx. Outlook-style RFC 2047 encoded-word inside the quoted filename/name parameters (not RFC "
              "2231). What counts is the kind of mail the token belongs to, not the first word.")


# --------------------------------------------------------------------------- iTIP replies

SUMMARY = f"Møde i {NETWORK_NAME}"
ORGANIZER = f"ORGANIZER:mailto:{TOKEN_ADDR}"

VTIMEZONE_MS = """\
BEGIN:VTIMEZONE
TZID:Romance Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""

VTIMEZONE_OLSON = """\
BEGIN:VTIMEZONE
TZID:Europe/Copenhagen
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
END:VTIMEZONE
"""


def ical_fold(content: str) -> str:
    """Fold iCalendar content lines at 75 octets (RFC 5545 3.1), never inside a
    UTF-8 sequence or a {{placeholder}}."""
    out = []
    for line in content.rstrip("\n").split("\n"):
        while len(line.encode()) > 75:
            cut = 75  # a continuation line's leading space counts too
            # back off to a character boundary and out of placeholders
            while len(line[:cut].encode()) > 75:
                cut -= 1
            i = line.rfind("{{", 0, cut)
            if i > 1 and line.find("}}", i) + 2 > cut:
                cut = i
            out.append(line[:cut])
            line = " " + line[cut:]
        out.append(line)
    return "\n".join(out) + "\n"


def outlook_reply_ics(partstat: str, summary_prefix: str, comment: str, stamp: str) -> str:
    return ical_fold(
        "BEGIN:VCALENDAR\n"
        "METHOD:REPLY\n"
        "PRODID:Microsoft Exchange Server 2010\n"
        "VERSION:2.0\n"
        + VTIMEZONE_MS +
        "BEGIN:VEVENT\n"
        f"ATTENDEE;PARTSTAT={partstat}:mailto:{{{{from_addr}}}}\n"
        f"COMMENT;LANGUAGE=da-DK:{comment}\\n\n"
        f"SUMMARY;LANGUAGE=da-DK:{summary_prefix}: {SUMMARY}\n"
        "DTSTART;TZID=Romance Standard Time:20271007T100000\n"
        "DTEND;TZID=Romance Standard Time:20271007T130000\n"
        f"UID:{UID}\n"
        f"{ORGANIZER}\n"
        "CLASS:PUBLIC\n"
        "PRIORITY:5\n"
        f"DTSTAMP:{stamp}\n"
        "TRANSP:OPAQUE\n"
        "STATUS:CONFIRMED\n"
        "SEQUENCE:0\n"
        "LOCATION;LANGUAGE=da-DK:KL\\, Weidekampsgade 10\\, København S\n"
        "X-MICROSOFT-CDO-APPT-SEQUENCE:0\n"
        "X-MICROSOFT-CDO-OWNERAPPTID:2120853467\n"
        f"X-MICROSOFT-CDO-BUSYSTATUS:{'FREE' if partstat == 'DECLINED' else 'BUSY'}\n"
        "X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY\n"
        "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\n"
        "X-MICROSOFT-CDO-IMPORTANCE:1\n"
        "X-MICROSOFT-CDO-INSTTYPE:0\n"
        "X-MICROSOFT-DONOTFORWARDMEETING:FALSE\n"
        "X-MICROSOFT-DISALLOW-COUNTER:FALSE\n"
        "END:VEVENT\n"
        "END:VCALENDAR\n")


def calendar_part(ics: str, cte: str = "8bit", ctype_tail: str = "; method=REPLY; charset=utf-8"):
    if cte == "base64":
        raise ValueError("no placeholders in base64")
    return [("Content-Type", "text/calendar" + ctype_tail),
            ("Content-Transfer-Encoding", cte)], encode_body(ics.encode(), cte)


def build_itip():
    # --- Outlook Accept: no text, just the calendar part; no In-Reply-To
    s = f"Accepteret: {SUMMARY}"
    ics = outlook_reply_ics("ACCEPTED", "Accepteret", "", "20270805T074512Z")
    add("itip-outlook-accept", msg(reply_headers(
        s, date(2027, 8, 5, 9, 45, 12), "<AM0PR07MB44171A2B3C4D5E6F708192A3B4C5@AM0PR07MB4417.eurprd07.prod.aarhus.example.dk>",
        to=f"Kkrbot <{TOKEN_ADDR}>", refs=None, irt=None,
        extra=[("Thread-Topic", subj(SUMMARY)),
               ("Thread-Index", "AQHZ0m1Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr0St1Uv2Wx3Yz4A=="),
               ("Accept-Language", "da-DK, en-US"),
               ("Content-Language", "da-DK"),
               ("X-MS-Has-Attach", ""),
               ("X-MS-TNEF-Correlator", ""),
               ("Content-class", "urn:content-classes:calendarmessage")]),
        multipart("alternative", "_000_AM0PR07MB44171A2B3C4D5E6F708192A3B4C5AM0PR07MB4417eurp_", [
            text("\n", charset="utf-8", cte="base64", quote_charset=True),
            text('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
                 "<body></body></html>\n", subtype="html", charset="utf-8", cte="base64", quote_charset=True),
            calendar_part(ics, "8bit"),
        ])),
        category="itip-reply", network="it-netvaerk", partstat="ACCEPTED", subject=s,
        notes="Outlook 'Accept' without a comment: multipart/alternative with empty text and HTML and a "
              "text/calendar METHOD:REPLY part, PARTSTAT=ACCEPTED, ORGANIZER carries the +{{token}} address; "
              "no In-Reply-To/References. Real Outlook base64-encodes the calendar part; here it is 8bit so the "
              "placeholders can be substituted.")

    # --- Outlook Decline with a comment
    s = f"Afvist: {SUMMARY}"
    comment = "Jeg er på ferie den uge."
    ics = outlook_reply_ics("DECLINED", "Afvist", comment, "20270806T120301Z")
    add("itip-outlook-decline", msg(reply_headers(
        s, date(2027, 8, 6, 14, 3, 1), "<DB9PR07MB7193A0B1C2D3E4F5A6B7C8D9E0F1@DB9PR07MB7193.eurprd07.prod.herning.example.dk>",
        to=f"Kkrbot <{TOKEN_ADDR}>",
        extra=[("Thread-Topic", subj(SUMMARY)),
               ("Thread-Index", "AQHZ0m1Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr0St1Uv2Wx3Yz4AgAAB1C2"),
               ("Accept-Language", "da-DK, en-US"),
               ("Content-Language", "da-DK"),
               ("X-MS-Has-Attach", ""),
               ("Content-class", "urn:content-classes:calendarmessage")]),
        multipart("alternative", "_000_DB9PR07MB7193A0B1C2D3E4F5A6B7C8D9E0F1DB9PR07MB7193eurp_", [
            text(comment + "\n", charset="utf-8", cte="quoted-printable", quote_charset=True),
            text('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
                 f'<body><div class="elementToProof">{h(comment)}</div></body></html>\n', subtype="html",
                 charset="utf-8", cte="quoted-printable", quote_charset=True),
            calendar_part(ics, "8bit"),
        ])),
        category="itip-reply", network="it-netvaerk", partstat="DECLINED", subject=s,
        body_contains=["Jeg er på ferie den uge."],
        notes="Outlook 'Decline' with a comment: the comment is in the text part and in COMMENT; "
              "PARTSTAT=DECLINED. In-Reply-To/References present.")

    # --- Thunderbird tentative, with an application/ics attachment
    s = f"Foreløbigt accepteret: {SUMMARY}"
    ics = ical_fold(
        "BEGIN:VCALENDAR\n"
        "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\n"
        "VERSION:2.0\n"
        "METHOD:REPLY\n"
        + VTIMEZONE_OLSON +
        "BEGIN:VEVENT\n"
        "CREATED:20270805T090000Z\n"
        "LAST-MODIFIED:20270930T101500Z\n"
        "DTSTAMP:20270930T101500Z\n"
        f"UID:{UID}\n"
        f"SUMMARY:{SUMMARY}\n"
        f"{ORGANIZER}\n"
        "ATTENDEE;RSVP=TRUE;PARTSTAT=TENTATIVE;ROLE=REQ-PARTICIPANT:mailto:{{from_addr}}\n"
        "REQUEST-STATUS:2.0;Success\n"
        "DTSTART;TZID=Europe/Copenhagen:20271007T100000\n"
        "DTEND;TZID=Europe/Copenhagen:20271007T130000\n"
        "LOCATION:KL\\, Weidekampsgade 10\\, København S\n"
        "SEQUENCE:1\n"
        "END:VEVENT\n"
        "END:VCALENDAR\n")
    add("itip-thunderbird-tentative", msg(reply_headers(
        s, date(2027, 9, 30, 12, 15, 0), "<9c8b7a6f-5e4d-4c3b-a291-807f6e5d4c3b@aarhus.example.dk>",
        refs=None, irt=None,
        extra=[("User-Agent", "Mozilla Thunderbird"), ("Content-Language", "da")]),
        multipart("mixed", "------------Xq1Wz2Ev3Rc4Tb5Yn6Um7Il8", [
            multipart("alternative", "------------Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8", [
                text("{{from_addr}} har accepteret denne begivenhed med forbehold.\n", charset="UTF-8",
                     cte="8bit", quote_charset=False),
                calendar_part(ics, "8bit", "; charset=UTF-8; method=REPLY"),
            ]),
            ([("Content-Type", 'application/ics; name="invite.ics"'),
              ("Content-Disposition", 'attachment; filename="invite.ics"'),
              ("Content-Transfer-Encoding", "8bit")], ics.encode()),
        ])),
        category="itip-reply", network="it-netvaerk", partstat="TENTATIVE", subject=s,
        attachments=["invite.ics"],
        notes="Thunderbird tentative: multipart/mixed( multipart/alternative(text/plain, text/calendar "
              "METHOD:REPLY), application/ics 'invite.ics' ). ORGANIZER/ATTENDEE as usual, no In-Reply-To. "
              "The .ics copy is 8bit (real Thunderbird uses base64) so placeholders can be substituted. The "
              "Danish subject wording is approximate.")

    # --- Google Calendar accept
    s = f"Accepteret: {SUMMARY} @ tor. 7. okt. 2027 10.00 - 13.00 (CEST)"
    ics = ical_fold(
        "BEGIN:VCALENDAR\n"
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN\n"
        "VERSION:2.0\n"
        "CALSCALE:GREGORIAN\n"
        "METHOD:REPLY\n"
        "BEGIN:VEVENT\n"
        "DTSTART:20271007T080000Z\n"
        "DTEND:20271007T110000Z\n"
        "DTSTAMP:20270805T101500Z\n"
        f"ORGANIZER;CN=Kkrbot:mailto:{TOKEN_ADDR}\n"
        f"UID:{UID}\n"
        "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;X-NUM-GUESTS=0:mailto:{{from_addr}}\n"
        "CREATED:20270805T100000Z\n"
        "LAST-MODIFIED:20270805T101500Z\n"
        "LOCATION:KL\\, Weidekampsgade 10\\, København S\n"
        "SEQUENCE:0\n"
        "STATUS:CONFIRMED\n"
        f"SUMMARY:{SUMMARY}\n"
        "TRANSP:OPAQUE\n"
        "END:VEVENT\n"
        "END:VCALENDAR\n")
    gplain = (f"{{{{from_addr}}}} har accepteret denne invitation.\n\n{SUMMARY}\n"
              "torsdag 7. okt. 2027 10.00 - 13.00 (Centraleuropæisk sommertid - København)\n\n"
              "Invitation fra Google Kalender\n")
    add("itip-google-accept", msg(reply_headers(
        s, date(2027, 8, 5, 10, 15, 0, "+0000"), "<0000000000001f2e3d4c5b6a7988@google.example.com>",
        to=TOKEN_ADDR, refs=None, irt=None,
        extra_top=[("Sender", "Google Kalender <calendar-notification@google.example.com>")],
        charset="UTF-8", enc="B"),
        multipart("mixed", "0000000000001a2b3c4d5e6f7081", [
            multipart("alternative", "0000000000001a2b3c4d5e6f7080", [
                text(gplain, charset="UTF-8", cte="quoted-printable", params="; format=flowed; delsp=yes",
                     quote_charset=True),
                text(f'<span itemscope itemtype="http://schema.org/InformAction">\n<p>{{{{from_addr}}}} har '
                     f"accepteret denne invitation.</p><h3>{h(SUMMARY)}</h3></span>\n", subtype="html",
                     charset="UTF-8", cte="quoted-printable", quote_charset=True),
                calendar_part(ics, "quoted-printable", '; charset="UTF-8"; method=REPLY'),
            ]),
            ([("Content-Type", 'application/ics; name="invite.ics"'),
              ("Content-Disposition", 'attachment; filename="invite.ics"'),
              ("Content-Transfer-Encoding", "quoted-printable")], encode_body(ics.encode(), "quoted-printable")),
        ])),
        category="itip-reply", network="it-netvaerk", partstat="ACCEPTED", subject=s,
        attachments=["invite.ics"],
        notes="Google Calendar accept: From is the user, Sender is Google's notification address; the ATTENDEE "
              "line is folded (RFC 5545) in the middle of a parameter; calendar part and invite.ics are "
              "quoted-printable here (Google uses 7bit/base64) so placeholders can be substituted.")


# --------------------------------------------------------------------------- auto-replies

def build_autoreplies():
    s_ag = S_AGENDA

    # --- RFC 3834 (Sieve vacation): Auto-Submitted is the only signal
    add("autoreply-rfc3834-da", msg([
        ("Return-Path", "<>"),
        ("From", "{{from}}"),
        ("To", BOUNCE_ADDR),
        ("Subject", subj("Jeg er på ferie")),
        ("Date", date(2027, 9, 30, 8, 0, 9)),
        ("Message-ID", "<dovecot-sieve-1727676009-123456-0@mail.aarhus.example.dk>"),
        ("In-Reply-To", OUR_MSGID),
        ("References", OUR_MSGID),
        ("Auto-Submitted", "auto-replied (vacation)"),
    ], text("Tak for din mail.\n\nJeg er på ferie til og med mandag den 11. oktober 2027 og læser ikke mail.\n"
            "Haster det, så kontakt Mette Østergaard.\n\nSøren Ærø\n", charset="utf-8", cte="8bit")),
        category="auto-reply", network="it-netvaerk", subject="Jeg er på ferie",
        body_contains=["Jeg er på ferie til og med mandag den 11. oktober 2027"],
        notes="Sieve vacation (RFC 3834/5230): 'Auto-Submitted: auto-replied (vacation)' (with a comment) is the "
              "only signal; sent to the VERP bounce address (Return-Path), null envelope sender. Never answered.")

    # --- Exchange OOF: "Automatisk svar:" + X-Auto-Response-Suppress, base64 bodies, no Auto-Submitted
    oof = ("Tak for din mail. Jeg er fraværende indtil den 11. oktober 2027 med begrænset adgang til mail.\n\n"
           "I akutte sager kontakt venligst servicedesk på 9628 2800.\n\nMed venlig hilsen\nMette Østergaard\n")
    s = "Automatisk svar: " + s_ag
    add("autoreply-exchange", msg([
        ("From", "{{from}}"),
        ("To", TOKEN_ADDR),
        ("Subject", subj(s)),
        ("Thread-Topic", subj(s_ag)),
        ("Thread-Index", "AQHZ9x1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q=="),
        ("Date", date(2027, 9, 30, 6, 0, 11, "+0000")),
        ("Message-ID", "<DB9PR07MB71930A1B2C3D4E5F60718293A4B5@DB9PR07MB7193.eurprd07.prod.herning.example.dk>"),
        ("In-Reply-To", OUR_MSGID),
        ("References", OUR_MSGID),
        ("Accept-Language", "da-DK, en-US"),
        ("Content-Language", "da-DK"),
        ("X-MS-Has-Attach", ""),
        ("X-MS-Exchange-Inbox-Rules-Loop", METTE_ADDR),
        ("X-Auto-Response-Suppress", "All"),
    ], multipart("alternative", "_000_DB9PR07MB71930A1B2C3D4E5F60718293A4B5DB9PR07MB7193eurp_", [
        text(oof, charset="utf-8", cte="base64", quote_charset=True),
        text('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>'
             + html_lines(oof) + "</body></html>\n", subtype="html", charset="utf-8", cte="base64",
             quote_charset=True),
    ])),
        category="auto-reply", network="it-netvaerk", subject=s,
        body_contains=["Jeg er fraværende indtil den 11. oktober 2027"],
        notes="Exchange out-of-office, Danish: subject 'Automatisk svar:', X-Auto-Response-Suppress: All and "
              "X-MS-Exchange-Inbox-Rules-Loop, no Auto-Submitted; base64 text+HTML. (X-Auto-Response-Suppress "
              "alone is not an auto-reply signal: see post-suppress.)")

    simple = [
        # name, headers, subject, body, notes
        ("autoreply-x-autoreply", [("X-Autoreply", "yes")], "Re: " + S_INVITATION,
         "Tak for din henvendelse. Jeg er på kursus og svarer, når jeg er tilbage mandag.\n",
         "'X-Autoreply: yes' is the only signal; the subject looks like an ordinary reply and the first word "
         "('Tak') would otherwise be an unknown answer that gets the help text back -> mail loop.",
         BOUNCE_ADDR),
        ("autoreply-x-autorespond", [("X-Autorespond", "Tak for din mail")], "Tak for din mail",
         "Tak for din mail. Din henvendelse er modtaget og bliver besvaret hurtigst muligt.\n",
         "'X-Autorespond:' (any value) is the only signal.", BOUNCE_ADDR),
        ("autoreply-autosvar-subject", [], "Autosvar: " + s_ag,
         "Jeg er ikke på kontoret før den 11. oktober.\n",
         "Subject prefix 'Autosvar:' and nothing else: no Auto-Submitted, no X-Auto* headers, no Precedence.",
         TOKEN_ADDR),
        ("autoreply-fravaerende-subject", [], "Fraværende: " + S_INVITATION,
         "Jeg er fraværende frem til den 16. august 2027.\n",
         "Subject prefix 'Fraværende:' (encoded-word) and nothing else.", TOKEN_ADDR),
        ("autoreply-out-of-office-subject", [], "Out of Office: " + S_INVITATION,
         "I am out of the office until 16 August 2027 with limited access to e-mail.\n",
         "Subject prefix 'Out of Office:' and nothing else (English).", TOKEN_ADDR),
        ("autoreply-automatic-reply-subject", [], "Automatic reply: " + s_ag,
         "I am away until 11 October. For urgent matters, please contact the service desk.\n",
         "Subject prefix 'Automatic reply:' (Outlook in English) and nothing else.", TOKEN_ADDR),
        ("autoreply-norwegian-subject", [], "Fravær: " + s_ag,
         "Jeg er på ferie til 11. oktober og har begrenset tilgang til e-post.\n",
         "Norwegian Outlook: subject prefix 'Fravær:' and nothing else.", TOKEN_ADDR),
    ]
    for i, (name, extra, s, body, notes, to) in enumerate(simple):
        add(name, msg([
            ("From", "{{from}}"),
            ("To", to),
            ("Subject", subj(s)),
            ("Date", date(2027, 9, 30, 8, 1 + i, 0) if "Invitation" not in s else date(2027, 8, 5, 9, 1 + i, 0)),
            ("Message-ID", f"<autoreply.{det_hex(name, 16)}@{'aarhus' if i % 2 else 'odense'}.example.dk>"),
            ("In-Reply-To", OUR_MSGID),
            ("References", OUR_MSGID),
        ] + extra, text(body, charset="utf-8", cte="quoted-printable")),
            category="auto-reply", network="it-netvaerk", subject=s,
            body_contains=[body.split(".")[0]], notes=notes)

    # --- Precedence: bulk / junk (helpdesk auto-acknowledgements of a list post)
    for prec, num, sender, when in [("bulk", "48213", "IT-servicedesk <servicedesk@herning.example.dk>",
                                     date(2027, 9, 2, 9, 15, 1)),
                                    ("junk", "7731", "Odense Kommune <noreply@odense.example.dk>",
                                     date(2027, 9, 2, 9, 15, 4))]:
        s = f"[Sag #{num}] Re: Erfaringer med deling af plejeforløbsplaner"
        body = (f"Vi har modtaget din henvendelse og oprettet sag #{num}.\n\n"
                "Du hører fra os inden for to arbejdsdage.\n\nDenne mail kan ikke besvares.\n")
        add(f"autoreply-precedence-{prec}", msg([
            ("Return-Path", "<>"),
            ("From", sender),
            ("To", LIST),
            ("Subject", subj(s)),
            ("Date", when),
            ("Message-ID", f"<helpdesk.{num}.{det_hex(prec, 12)}@{sender.split('@')[1].rstrip('>')}>"),
            ("In-Reply-To", "<8f2c1e7a-3b4d-4c5e-9f60-1a2b3c4d5e6f@aarhus.example.dk>"),
            ("Precedence", prec),
        ], text(body, charset="utf-8", cte="8bit")),
            category="auto-reply", network="it-netvaerk", subject=s,
            body_contains=[f"oprettet sag #{num}"],
            notes=f"A helpdesk's automatic acknowledgement of a list post, sent to the list address; "
                  f"'Precedence: {prec}' is the only signal. Never relayed (that would loop).")

    # --- read receipt (MDN)
    s = "Læst: " + s_ag
    add("autoreply-read-receipt", msg([
        ("From", "{{from}}"),
        ("To", TOKEN_ADDR),
        ("Subject", subj(s)),
        ("Thread-Topic", subj(s_ag)),
        ("Date", date(2027, 9, 30, 8, 14, 55, "+0000")),
        ("Message-ID", "<AM0PR07MB4417MDN1A2B3C4D5E6F@AM0PR07MB4417.eurprd07.prod.aarhus.example.dk>"),
        ("References", OUR_MSGID),
        ("Content-Language", "da-DK"),
    ], multipart("report", "_003_AM0PR07MB4417MDN1A2B3C4D5E6F_", [
        text("Din meddelelse\n\n"
             "  Til: Søren Ærø\n"
             f"  Emne: {s_ag}\n"
             "  Sendt: torsdag den 30. september 2027 08:00:00 (UTC+01:00) Bruxelles, København, Madrid, Paris\n\n"
             "blev læst torsdag den 30. september 2027 10:14:55 (UTC+01:00) Bruxelles, København, Madrid, Paris.\n",
             charset="utf-8", cte="quoted-printable"),
        ([("Content-Type", "message/disposition-notification")],
         ("Reporting-UA: AM0PR07MB4417.eurprd07.prod.aarhus.example.dk; Microsoft Exchange Server\n"
          "Final-Recipient: rfc822;{{from_addr}}\n"
          f"Original-Message-ID: {OUR_MSGID}\n"
          "Disposition: manual-action/MDN-sent-manually; displayed\n").encode()),
    ], params="; report-type=disposition-notification")),
        category="auto-reply", network="it-netvaerk", subject=s,
        body_contains=["blev læst torsdag den 30. september 2027"],
        notes="Read receipt (RFC 8098 MDN): multipart/report; report-type=disposition-notification, subject "
              "'Læst:'. No Auto-Submitted. Never answered, never relayed, not a bounce.")

    # --- successful delivery report (DSN with Action: delivered)
    add("autoreply-delivery-report", msg([
        ("Return-Path", "<>"),
        ("Delivered-To", BOUNCE_ADDR),
        ("Date", date(2027, 9, 30, 8, 0, 6) + " (CEST)"),
        ("From", "MAILER-DAEMON@mx.odense.example.dk (Mail Delivery System)"),
        ("Subject", "Successful Mail Delivery Report"),
        ("To", BOUNCE_ADDR),
        ("Auto-Submitted", "auto-replied"),
        ("Message-Id", "<20270930060006.4Wq8Hh4Jk5lm7@mx.odense.example.dk>"),
    ], multipart("report", "4Wq8Hh4Jk5lm7.1727676006/mx.odense.example.dk", [
        ([("Content-Description", "Notification"), ("Content-Type", "text/plain; charset=us-ascii")],
         b"This is the mail system at host mx.odense.example.dk.\n\n"
         b"Your message was successfully delivered to the destination(s)\n"
         b"listed below. If the message was delivered to mailbox you will\n"
         b"receive no further notifications. Otherwise you may still receive\n"
         b"notifications of mail delivery errors from other systems.\n\n"
         b"                   The mail system\n\n"
         b"<lars.moeller@odense.example.dk>: delivery via local: delivered to mailbox\n"),
        ([("Content-Description", "Delivery report"), ("Content-Type", "message/delivery-status")],
         b"Reporting-MTA: dns; mx.odense.example.dk\n"
         b"X-Postfix-Queue-ID: 4Wq8Hh4Jk5lm7\n"
         b"X-Postfix-Sender: rfc822; it-netvaerk+bounce-{{token}}@lists.example.dk\n"
         b"Arrival-Date: Thu, 30 Sep 2027 08:00:05 +0200 (CEST)\n\n"
         b"Final-Recipient: rfc822; lars.moeller@odense.example.dk\n"
         b"Original-Recipient: rfc822;lars.moeller@odense.example.dk\n"
         b"Action: delivered\n"
         b"Status: 2.0.0\n"
         b"Diagnostic-Code: X-Postfix; delivery via local: delivered to mailbox\n"),
        ([("Content-Description", "Message Headers"), ("Content-Type", "text/rfc822-headers")],
         hdr_bytes(bot_mail_headers(LARS, "agenda", S_AGENDA, date(2027, 9, 30, 8, 0, 0))) + b"\n"),
    ], params="; report-type=delivery-status", preamble=b"This is a MIME-encapsulated message.")),
        category="auto-reply", network="it-netvaerk", subject="Successful Mail Delivery Report",
        notes="A successful delivery report: multipart/report; report-type=delivery-status with Action: "
              "delivered, Status 2.0.0, Auto-Submitted: auto-replied, to the VERP address. Never answered, and "
              "must NOT be counted as a bounce.")


# --------------------------------------------------------------------------- bounces and loops

def bot_mail_headers(to: str, kind: str, subject: str, when: str) -> Headers:
    """Headers of the bot's own mail as they come back inside a bounce."""
    return [
        ("Return-Path", f"<{BOUNCE_ADDR}>"),
        ("Received", "from kkrbot.lists.example.dk (kkrbot.lists.example.dk [192.0.2.2])\n"
                     f"\tby mx.example.dk (Postfix) with ESMTPS id 4Wq0Aa1Bb2cd3\n\tfor <{to.split('<')[-1].rstrip('>')}>; "
                     f"{when}"),
        ("From", BOT_FROM),
        ("Reply-To", TOKEN_ADDR),
        ("To", to),
        ("Subject", subj(subject)),
        ("Date", when),
        ("Message-ID", OUR_MSGID),
        ("Auto-Submitted", "auto-generated"),
        ("X-Kkrbot-Kind", kind),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "8bit"),
    ]


def bot_mail(to: str, kind: str, subject: str, when: str, body: str) -> bytes:
    return render((bot_mail_headers(to, kind, subject, when), body.encode()))


POSTFIX_NOTICE = (
    "This is the mail system at host mx.example.dk.\n\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients. It's attached below.\n\n"
    "For further assistance, please send mail to postmaster.\n\n"
    "If you do so, please include this problem report. You can\n"
    "delete your own text from the attached returned message.\n\n"
    "                   The mail system\n\n"
)


def build_bounces():
    when = date(2027, 9, 30, 8, 0, 0)

    # --- Postfix RFC 3464 DSN, 5.1.1
    add("bounce-postfix-dsn", msg([
        ("Return-Path", "<>"),
        ("Delivered-To", BOUNCE_ADDR),
        ("Received", "by mx.example.dk (Postfix)\n\tid 4Wq9Ii5Kl6mn8; Thu, 30 Sep 2027 08:00:07 +0200 (CEST)"),
        ("Date", date(2027, 9, 30, 8, 0, 7) + " (CEST)"),
        ("From", "MAILER-DAEMON@mx.example.dk (Mail Delivery System)"),
        ("Subject", "Undelivered Mail Returned to Sender"),
        ("To", BOUNCE_ADDR),
        ("Auto-Submitted", "auto-replied"),
        ("Message-Id", "<20270930060007.4Wq9Ii5Kl6mn8@mx.example.dk>"),
    ], multipart("report", "4Wq9Ii5Kl6mn8.1727676007/mx.example.dk", [
        ([("Content-Description", "Notification"), ("Content-Type", "text/plain; charset=utf-8")],
         (POSTFIX_NOTICE +
          "<soren.aero@aarhus.example.dk>: host mx.aarhus.example.dk[192.0.2.25] said:\n"
          "    550 5.1.1 <soren.aero@aarhus.example.dk>: Recipient address rejected:\n"
          "    User unknown in virtual mailbox table (in reply to RCPT TO command)\n").encode()),
        ([("Content-Description", "Delivery report"), ("Content-Type", "message/delivery-status")],
         ("Reporting-MTA: dns; mx.example.dk\n"
          "X-Postfix-Queue-ID: 4Wq9Ii5Kl6mn8\n"
          f"X-Postfix-Sender: rfc822; {BOUNCE_ADDR}\n"
          "Arrival-Date: Thu, 30 Sep 2027 08:00:05 +0200 (CEST)\n\n"
          "Final-Recipient: rfc822; soren.aero@aarhus.example.dk\n"
          "Original-Recipient: rfc822;soren.aero@aarhus.example.dk\n"
          "Action: failed\n"
          "Status: 5.1.1\n"
          "Remote-MTA: dns; mx.aarhus.example.dk\n"
          "Diagnostic-Code: smtp; 550 5.1.1 <soren.aero@aarhus.example.dk>: Recipient\n"
          "    address rejected: User unknown in virtual mailbox table\n").encode()),
        ([("Content-Description", "Undelivered Message"), ("Content-Type", "message/rfc822")],
         bot_mail(SOREN, "agenda", S_AGENDA, when, agenda_text("Søren Ærø"))),
    ], params="; report-type=delivery-status", preamble=b"This is a MIME-encapsulated message.",
        extra=[("Content-Transfer-Encoding", "8bit")])),
        category="bounce", network="it-netvaerk", bounce_address=SOREN_ADDR,
        subject="Undelivered Mail Returned to Sender",
        notes="Postfix RFC 3464 DSN (5.1.1 user unknown) to the VERP address, with the returned message as "
              "message/rfc822 (which itself carries Auto-Submitted and our Message-ID). Has Auto-Submitted: "
              "auto-replied too: bounce detection must come before auto-reply detection.")

    # --- Exchange NDR, Danish human-readable part
    human = (
        "Levering til disse modtagere eller grupper mislykkedes:\n\n"
        "mette.ostergaard@herning.example.dk\n"
        "Den e-mailadresse, du har indtastet, blev ikke fundet. Kontrollér modtagerens e-mailadresse, og prøv "
        "at sende meddelelsen igen. Kontakt din mailadministrator, hvis problemet fortsætter.\n\n\n\n\n\n"
        "Diagnosticeringsoplysninger for administratorer:\n\n"
        "Genererende server: EX01.herning.example.dk\n\n"
        "mette.ostergaard@herning.example.dk\n"
        "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP "
        "address lookup'\n"
    )
    s = "Ikke leveret: " + S_AGENDA
    add("bounce-exchange-ndr", msg([
        ("Return-Path", "<>"),
        ("From", addr("Microsoft Outlook", "postmaster@herning.example.dk")),
        ("To", BOUNCE_ADDR),
        ("Date", date(2027, 9, 30, 6, 0, 9, "+0000")),
        ("Subject", subj(s)),
        ("Thread-Topic", subj(S_AGENDA)),
        ("Message-ID", "<2a3b4c5d-6e7f-4081-92a3-b4c5d6e7f809@EX01.herning.example.dk>"),
        ("In-Reply-To", OUR_MSGID),
        ("References", OUR_MSGID),
        ("Content-Language", "da-DK"),
        ("Auto-Submitted", "auto-replied"),
        ("X-MS-Exchange-Message-Is-Ndr", ""),
        ("X-MS-PublicTrafficType", "Email"),
    ], multipart("report", "2a3b4c5d-6e7f-4081-92a3-b4c5d6e7f809", [
        multipart("alternative", "a1b2c3d4-e5f6-4789-8abc-def012345678", [
            text(human, charset="utf-8", cte="base64", quote_charset=True),
            text("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head>"
                 "<body><p><b><font color=\"#000066\" size=\"3\" face=\"Arial\">"
                 + html_lines(human) + "</font></b></p></body></html>\n", subtype="html", charset="utf-8",
                 cte="base64", quote_charset=True),
        ]),
        ([("Content-Type", "message/delivery-status")],
         b"Reporting-MTA: dns;EX01.herning.example.dk\n"
         b"Received-From-MTA: dns;mx.example.dk\n"
         b"Arrival-Date: Thu, 30 Sep 2027 06:00:08 +0000\n\n"
         b"Final-Recipient: rfc822;mette.ostergaard@herning.example.dk\n"
         b"Action: failed\n"
         b"Status: 5.1.10\n"
         b"Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup\n"),
        ([("Content-Type", "text/rfc822-headers")],
         hdr_bytes(bot_mail_headers(METTE, "agenda", S_AGENDA, when)) + b"\n"),
    ], params="; report-type=delivery-status")),
        category="bounce", network="it-netvaerk", bounce_address=METTE_ADDR, subject=s,
        body_contains=["Den e-mailadresse, du har indtastet, blev ikke fundet."],
        notes="Exchange NDR: Danish human-readable part (base64 text+HTML inside multipart/alternative), "
              "message/delivery-status with Status 5.1.10 (three-digit detail), text/rfc822-headers. Subject "
              "'Ikke leveret:' + original subject.")

    # --- Google "Delivery Status Notification (Failure)"
    gtext = (
        "\n** Address not found **\n\n"
        "Your message wasn't delivered to lars.moeller@odense.example.dk because the address couldn't be "
        "found, or is unable to receive mail.\n\n"
        "Learn more here: https://support.google.example.com/mail/?p=NoSuchUser\n\n"
        "The response from the remote server was:\n"
        "550 5.1.1 <lars.moeller@odense.example.dk>: Recipient address rejected: User unknown\n"
    )
    add("bounce-google-dsn", msg([
        ("Return-Path", "<>"),
        ("Delivered-To", BOUNCE_ADDR),
        ("From", addr("Mail Delivery Subsystem", "mailer-daemon@googlemail.example.com")),
        ("To", BOUNCE_ADDR),
        ("Auto-Submitted", "auto-replied"),
        ("Subject", "Delivery Status Notification (Failure)"),
        ("References", OUR_MSGID),
        ("In-Reply-To", OUR_MSGID),
        ("X-Failed-Recipients", LARS_ADDR),
        ("Message-ID", "<66f9a7b3.050a0220.1c2d3e.0001.GMR@mx.google.example.com>"),
        ("Date", "Wed, 29 Sep 2027 23:00:11 -0700 (PDT)"),
    ], multipart("report", "000000000000d4e5f6a7b8c9d0e1", [
        multipart("alternative", "000000000000d4e5f6a7b8c9d0e0", [
            text(gtext, charset="UTF-8", cte="7bit", quote_charset=True),
            text("<html><head><style>* { font-family:Roboto, \"Helvetica Neue\", Helvetica, Arial, sans-serif; }"
                 "</style></head><body><table cellpadding=\"0\" cellspacing=\"0\" class=\"email-wrapper\" "
                 "style=\"padding-top:32px;background-color:#ffffff;\"><tbody><tr><td><h1>Address not found</h1>"
                 "<p>Your message wasn't delivered to <a style='color:#212121;text-decoration:none'><b>"
                 "lars.moeller@odense.example.dk</b></a> because the address couldn't be found, or is unable to "
                 "receive mail.</p></td></tr></tbody></table></body></html>\n", subtype="html", charset="UTF-8",
                 cte="7bit", quote_charset=True),
        ]),
        ([("Content-Type", "message/delivery-status")],
         b"Reporting-MTA: dns; googlemail.example.com\n"
         b"Received-From-MTA: dns; kkrbot.lists.example.dk\n"
         b"Arrival-Date: Wed, 29 Sep 2027 23:00:05 -0700 (PDT)\n"
         b"X-Original-Message-ID: <{{token}}.x7k2@lists.example.dk>\n\n"
         b"Final-Recipient: rfc822; lars.moeller@odense.example.dk\n"
         b"Action: failed\n"
         b"Status: 5.1.1\n"
         b"Remote-MTA: dns; mx.odense.example.dk. (192.0.2.31, the server for the domain odense.example.dk.)\n"
         b"Diagnostic-Code: smtp; 550 5.1.1 <lars.moeller@odense.example.dk>: Recipient address rejected: User\n"
         b" unknown\n"
         b"Last-Attempt-Date: Wed, 29 Sep 2027 23:00:11 -0700 (PDT)\n"),
        ([("Content-Type", "message/rfc822")],
         bot_mail(LARS, "agenda", S_AGENDA, when, agenda_text("Lars Møller"))),
    ], params="; report-type=delivery-status")),
        category="bounce", network="it-netvaerk", bounce_address=LARS_ADDR,
        subject="Delivery Status Notification (Failure)",
        body_contains=["Address not found"],
        notes="Google-style DSN: multipart/report with multipart/alternative human part, message/delivery-status "
              "(folded Diagnostic-Code), message/rfc822; also X-Failed-Recipients.")

    # --- qmail, non-standard, no Auto-Submitted
    orig = bot_mail(SOREN, "agenda", S_AGENDA, when, agenda_text("Søren Ærø"))
    add("bounce-qmail", msg([
        ("Return-Path", "<>"),
        ("Delivered-To", BOUNCE_ADDR),
        ("Received", "(qmail 12345 invoked for bounce); 30 Sep 2027 06:00:12 -0000"),
        ("Date", "30 Sep 2027 06:00:12 -0000"),
        ("From", "MAILER-DAEMON@mail.aarhus.example.dk"),
        ("To", BOUNCE_ADDR),
        ("Subject", "failure notice"),
    ], mime=False, body=(
        b"Hi. This is the qmail-send program at mail.aarhus.example.dk.\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        b"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        b"<soren.aero@aarhus.example.dk>:\n"
        b"Sorry, no mailbox here by that name. (#5.1.1)\n\n"
        b"--- Below this line is a copy of the message.\n\n" + orig)),
        category="bounce", network="it-netvaerk", bounce_address=SOREN_ADDR, subject="failure notice",
        body_contains=["<soren.aero@aarhus.example.dk>:", "Sorry, no mailbox here by that name."],
        notes="qmail bounce (not RFC 3464): plain text, no MIME, no Message-ID, and NO Auto-Submitted (real "
              "qmail adds none). Recognised by the null sender / MAILER-DAEMON / 'qmail-send program' text; "
              "the failed address is the '<addr>:' line. The returned copy contains 8bit UTF-8.")

    # --- Exim, non-standard
    add("bounce-exim", msg([
        ("Return-path", "<>"),
        ("Envelope-to", BOUNCE_ADDR),
        ("Delivery-date", date(2027, 9, 30, 8, 0, 15)),
        ("X-Failed-Recipients", SOREN_ADDR),
        ("Auto-Submitted", "auto-replied"),
        ("From", "Mail Delivery System <Mailer-Daemon@relay.example.net>"),
        ("To", BOUNCE_ADDR),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "8bit"),
        ("Subject", "Mail delivery failed: returning message to sender"),
        ("Message-Id", "<E1sXyZa-000AbC-12@relay.example.net>"),
        ("Date", date(2027, 9, 30, 8, 0, 14)),
    ], body=(
        b"This message was created automatically by mail delivery software.\n\n"
        b"A message that you sent could not be delivered to one or more of its\n"
        b"recipients. This is a permanent error. The following address(es) failed:\n\n"
        b"  soren.aero@aarhus.example.dk\n"
        b"    host mx.aarhus.example.dk [192.0.2.25] said: 550 5.1.1 <soren.aero@aarhus.example.dk>:\n"
        b"    Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)\n\n"
        b"------ This is a copy of the message, including all the headers. ------\n\n" + orig)),
        category="bounce", network="it-netvaerk", bounce_address=SOREN_ADDR,
        subject="Mail delivery failed: returning message to sender",
        body_contains=["The following address(es) failed:", "soren.aero@aarhus.example.dk"],
        notes="Exim bounce (not RFC 3464): text/plain without MIME-Version, the failed address indented on its "
              "own line, then 'host ... said: 550 ...'. Carries X-Failed-Recipients and Auto-Submitted.")

    # --- delayed (warning only)
    add("bounce-delayed", msg([
        ("Return-Path", "<>"),
        ("Delivered-To", BOUNCE_ADDR),
        ("Date", date(2027, 9, 30, 12, 5, 0) + " (CEST)"),
        ("From", "MAILER-DAEMON@mx.example.dk (Mail Delivery System)"),
        ("Subject", "Delayed Mail (still being retried)"),
        ("To", BOUNCE_ADDR),
        ("Auto-Submitted", "auto-replied"),
        ("Message-Id", "<20270930100500.4WqAJj6Lm7no9@mx.example.dk>"),
    ], multipart("report", "4WqAJj6Lm7no9.1727690700/mx.example.dk", [
        ([("Content-Description", "Notification"), ("Content-Type", "text/plain; charset=us-ascii")],
         b"####################################################################\n"
         b"# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
         b"####################################################################\n\n"
         b"This is the mail system at host mx.example.dk.\n\n"
         b"Your message could not be delivered for more than 4 hour(s).\n"
         b"It will be retried until it is 5 day(s) old.\n\n"
         b"                   The mail system\n\n"
         b"<mette.ostergaard@herning.example.dk>: connect to mx.herning.example.dk[192.0.2.21]:25:\n"
         b"    Connection timed out\n"),
        ([("Content-Description", "Delivery report"), ("Content-Type", "message/delivery-status")],
         ("Reporting-MTA: dns; mx.example.dk\n"
          "X-Postfix-Queue-ID: 4WqAJj6Lm7no9\n"
          f"X-Postfix-Sender: rfc822; {BOUNCE_ADDR}\n"
          "Arrival-Date: Thu, 30 Sep 2027 08:00:05 +0200 (CEST)\n\n"
          "Final-Recipient: rfc822; mette.ostergaard@herning.example.dk\n"
          "Original-Recipient: rfc822;mette.ostergaard@herning.example.dk\n"
          "Action: delayed\n"
          "Status: 4.4.7\n"
          "Diagnostic-Code: X-Postfix; connect to mx.herning.example.dk[192.0.2.21]:25:\n"
          "    Connection timed out\n"
          "Will-Retry-Until: Tue, 5 Oct 2027 08:00:05 +0200 (CEST)\n").encode()),
        ([("Content-Description", "Undelivered Message Headers"), ("Content-Type", "text/rfc822-headers")],
         hdr_bytes(bot_mail_headers(METTE, "agenda", S_AGENDA, when)) + b"\n"),
    ], params="; report-type=delivery-status", preamble=b"This is a MIME-encapsulated message.")),
        category="bounce-delayed", network="it-netvaerk", bounce_address=METTE_ADDR,
        subject="Delayed Mail (still being retried)",
        notes="Postfix delay warning: Action: delayed, Status 4.4.7. Not a failure: must not count as a hard "
              "bounce, never answered.")


def build_loops():
    add("loop-x-loop", msg([
        ("Return-Path", f"<{BOUNCE_ADDR}>"),
        ("Delivered-To", LIST),
        ("From", SOREN),
        ("To", LIST),
        ("Subject", subj("Erfaringer med deling af plejeforløbsplaner")),
        ("Date", date(2027, 9, 2, 9, 14, 3)),
        ("Message-ID", "<8f2c1e7a-3b4d-4c5e-9f60-1a2b3c4d5e6f@aarhus.example.dk>"),
        ("List-Id", addr("Kommunalt it-netværk på sundhedsområdet", "it-netvaerk.lists.example.dk")),
        ("List-Post", f"<mailto:{LIST}>"),
        ("X-Loop", LIST),
    ], text("Kære alle\n\nI Aarhus har vi nu kørt med den nye løsning i tre måneder.\n\nSøren\n",
            charset="utf-8", cte="8bit")),
        category="loop", network="it-netvaerk", subject="Erfaringer med deling af plejeforløbsplaner",
        notes="A list post the bot relayed, coming back to the list address (a member's forwarding rule): "
              "'X-Loop: it-netvaerk@lists.example.dk'. Must be dropped, never relayed again.")

    add("loop-own-message-id", msg([
        ("Delivered-To", LIST),
        ("Received", "from mail.odense.example.dk (mail.odense.example.dk [192.0.2.30])\n"
                     "\tby mx.example.dk (Postfix) with ESMTPS id 4WqBKk7Mn8op0\n"
                     f"\tfor <{LIST}>; Thu, 30 Sep 2027 08:00:31 +0200 (CEST)"),
        ("From", BOT_FROM),
        ("Reply-To", TOKEN_ADDR),
        ("To", LIST),
        ("Subject", subj(S_AGENDA)),
        ("Date", date(2027, 9, 30, 8, 0, 0)),
        ("Message-ID", OUR_MSGID),
    ], text(agenda_text("Lars Møller"), charset="utf-8", cte="8bit")),
        category="loop", network="it-netvaerk", subject=S_AGENDA,
        body_contains=["Hermed dagsorden til mødet"],
        notes="The bot's own agenda redirected back to the list address by a forwarding rule that stripped "
              "Auto-Submitted and X-Kkrbot-Kind: the Message-ID <{{token}}.x7k2@lists.example.dk> (ours) is "
              "the only signal.")


# --------------------------------------------------------------------------- commands

def rfc2231(value: str) -> str:
    out = []
    for b in value.encode():
        ch = chr(b)
        out.append(ch if b < 128 and (ch.isalnum() or ch in "!#$&+-.^_`|~") else f"%{b:02X}")
    return "UTF-8''" + "".join(out)


def build_commands():
    # --- hjælp
    add("command-hjaelp", msg([
        ("From", SOREN),
        ("To", LIST),
        ("Subject", subj("hjælp")),
        ("Date", date(2027, 9, 1, 10, 0, 0)),
        ("Message-ID", "<c0a1b2c3-d4e5-4f60-8172-93a4b5c6d7e8@aarhus.example.dk>"),
        ("User-Agent", "Mozilla Thunderbird"),
    ], text("\n-- \nSøren Ærø\nSundheds-it, Aarhus Kommune\n", charset="UTF-8", cte="8bit",
            params="; format=flowed")),
        category="command", network="it-netvaerk", command="hjælp", subject="hjælp",
        notes="Subject is the command (UTF-8 Q encoded-word); body is only a signature.")

    # --- Help (English, from an outsider: anyone may ask for help)
    add("command-help", msg([
        ("From", OUTSIDER),
        ("To", LIST),
        ("Subject", "Help"),
        ("Date", date(2027, 9, 1, 11, 0, 0)),
        ("Message-ID", "<CAD5tU6vW7xY8zA9bC0dE1fG2hI3jK4lM5nO6pQ7@mail.gmail.example.com>"),
    ], multipart("alternative", "000000000000b1c2d3e4f5061728", [
        text("\n", charset="UTF-8", cte="7bit", quote_charset=True),
        text('<div dir="ltr"><br></div>\n', subtype="html", charset="UTF-8", cte="7bit", quote_charset=True),
    ])),
        category="command", network="it-netvaerk", command="help", subject="Help",
        notes="English 'Help' from a non-member (someone@gmail.example.com); anyone may ask for help. Empty "
              "Gmail body.")

    # --- kontakter (Outlook text+HTML with a signature)
    sig = "Venlig hilsen\nMette Østergaard\nNæstformand, Herning Kommune\n"
    add("command-kontakter", msg([
        ("From", METTE),
        ("To", addr("IT-netværk", LIST)),
        ("Subject", "kontakter"),
        ("Thread-Topic", "kontakter"),
        ("Date", date(2027, 9, 1, 12, 0, 0, "+0000")),
        ("Message-ID", "<DB9PR07MB7193C0D1E2F3A4B5C6D7E8F9A0B1@DB9PR07MB7193.eurprd07.prod.herning.example.dk>"),
        ("Content-Language", "da-DK"),
        ("X-Auto-Response-Suppress", "All"),
    ], multipart("alternative", "_000_DB9PR07MB7193C0D1E2F3A4B5C6D7E8F9A0B1DB9PR07MB7193eurp_", [
        text("\n\n" + sig, charset="utf-8", cte="quoted-printable", quote_charset=True),
        text(outlook_html('<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n', "", sig), subtype="html",
             charset="utf-8", cte="quoted-printable", quote_charset=True),
    ])),
        category="command", network="it-netvaerk", command="kontakter", subject="kontakter",
        notes="'kontakter' from Outlook (text+HTML, signature only, X-Auto-Response-Suppress: All).")

    # --- SV: afmeld
    add("command-sv-afmeld", msg([
        ("From", LARS),
        ("To", LIST),
        ("Subject", "SV: afmeld"),
        ("Date", date(2027, 9, 2, 8, 0, 0)),
        ("Message-ID", "<000b01d9c7d8$e9f0a1b2$c3d4e5f6$@odense.example.dk>"),
        ("X-Mailer", "Microsoft Outlook 16.0"),
    ], text("Jeg vil gerne afmeldes listen.\n\nLars\n", charset="iso-8859-1", cte="quoted-printable",
            quote_charset=True)),
        category="command", network="it-netvaerk", command="afmeld", subject="SV: afmeld",
        notes="'afmeld' behind a reply prefix 'SV:' (stripped). Leads to a confirmation request, not an "
              "immediate opt-out.")

    # --- unsubscribe
    add("command-unsubscribe", msg([
        ("From", ANNE),
        ("To", LIST),
        ("Subject", "unsubscribe"),
        ("Date", date(2027, 9, 2, 9, 0, 0)),
        ("Message-ID", "<20270902070000.GC1234@kl.example.dk>"),
        ("User-Agent", "Mutt/2.2.12 (2023-09-09)"),
    ], text("", charset="us-ascii", cte="7bit")),
        category="command", network="it-netvaerk", command="unsubscribe", subject="unsubscribe",
        notes="English 'unsubscribe' with an empty body.")

    # --- Dagsordenspunkt with the three sections
    s = "Dagsordenspunkt: Status på FMK-udrulning"
    body = (
        "Resumé: Kort status på udrulningen af FMK-opdateringen i kommunerne.\n"
        "\n"
        "Sagsfremstilling:\n"
        "Kommunerne i Region Midtjylland er i gang med udrulningen. Tre kommuner\n"
        "mangler test af integrationen til omsorgssystemet, og MedCom har rykket\n"
        "tidsplanen to uger.\n"
        "\n"
        "Indstilling:\n"
        "Det indstilles, at netværket tager orienteringen til efterretning.\n"
        "\n"
        "Mvh\n"
        "Mette\n"
    )
    add("command-dagsordenspunkt", msg([
        ("From", METTE),
        ("To", LIST),
        ("Subject", subj(s)),
        ("Date", date(2027, 9, 17, 10, 0, 0)),
        ("Message-ID", "<5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d@herning.example.dk>"),
        ("User-Agent", "Mozilla Thunderbird"),
    ], text(body, charset="UTF-8", cte="8bit", params="; format=flowed")),
        category="command", network="it-netvaerk", command="dagsordenspunkt",
        command_arg="Status på FMK-udrulning", subject=s,
        body_contains=["Kort status på udrulningen af FMK-opdateringen",
                       "Kommunerne i Region Midtjylland er i gang med udrulningen.",
                       "Det indstilles, at netværket tager orienteringen til efterretning."],
        notes="Agenda item with sections: 'Resumé:' with its text on the same line, 'Sagsfremstilling:' and "
              "'Indstilling:' on their own lines followed by text; ends with a sign-off that belongs to no "
              "section.")

    # --- Dagsordenspunkt, "Resume:" without accent, .docx (RFC 2231 name) and .pdf
    s = "Dagsordenspunkt: Fælles it-arkitektur"
    body = (
        "Resume:\n"
        "Forslag om en fælles it-arkitektur for de kommunale sundhedssystemer.\n"
        "\n"
        "Sagsfremstilling:\n"
        "Se bilag 1 og arkitekturskitsen.\n"
        "\n"
        "Indstilling:\n"
        "Netværket drøfter forslaget og nedsætter en arbejdsgruppe.\n"
    )
    docx_name = "Bilag 1 – Fælles it-arkitektur.docx"
    docx = (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + det_bytes("bilag1.docx", 1800)
            + b"PK\x05\x06" + bytes(18))
    pdf = (b"%PDF-1.5\n%\xb5\xb5\xb5\xb5\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
           + det_bytes("arkitektur.pdf", 2400) + b"\n%%EOF\n")
    add("command-dagsordenspunkt-bilag", msg([
        ("From", SOREN),
        ("To", LIST),
        ("Subject", subj(s)),
        ("Date", date(2027, 9, 17, 11, 0, 0)),
        ("Message-ID", "<6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e@aarhus.example.dk>"),
        ("User-Agent", "Mozilla Thunderbird"),
    ], multipart("mixed", "------------m1N2o3P4q5R6s7T8u9V0w1X2", [
        text(body, charset="UTF-8", cte="8bit", params="; format=flowed"),
        ([("Content-Type", "application/vnd.openxmlformats-officedocument.wordprocessingml.document;\n"
                           f' name="{ew(docx_name, "UTF-8", "Q", first_room=60)}"'),
          ("Content-Disposition", f"attachment;\n filename*={rfc2231(docx_name)}"),
          ("Content-Transfer-Encoding", "base64")], base64.encodebytes(docx)),
        binary(pdf, "application/pdf", "Arkitekturskitse.pdf"),
    ], preamble=b"This is a multi-part message in MIME format.")),
        category="command", network="it-netvaerk", command="dagsordenspunkt",
        command_arg="Fælles it-arkitektur", subject=s,
        body_contains=["Forslag om en fælles it-arkitektur", "nedsætter en arbejdsgruppe"],
        attachments=[docx_name, "Arkitekturskitse.pdf"],
        notes="'Resume:' without accent. Two appendices (bilag): a .docx whose non-ASCII filename is RFC 2231 "
              "(filename*=UTF-8''...) in Content-Disposition and an encoded-word in the Content-Type name "
              "(Thunderbird style), and a plain-named .pdf.")

    # --- Agenda item (English)
    s = "Agenda item: Shared booking"
    add("command-agenda-item", msg([
        ("From", LARS),
        ("To", LIST),
        ("Subject", s),
        ("Date", date(2027, 9, 17, 12, 0, 0)),
        ("Message-ID", "<CAE6uV7wX8yZ9aB0cD1eF2gH3iJ4kL5mN6oP7qR8@mail.gmail.example.com>"),
    ], text("A shared booking solution for rehabilitation appointments across the municipalities.\n\n"
            "Lars Møller\n", charset="UTF-8", cte="quoted-printable", quote_charset=True)),
        category="command", network="it-netvaerk", command="agenda item", command_arg="Shared booking",
        subject=s, body_contains=["A shared booking solution for rehabilitation appointments"],
        notes="English 'Agenda item:' with a title and a body without section headings.")

    # --- a post that merely starts with a command word
    s = "Hjælp til FMK-opsætning"
    add("post-command-lookalike", msg([
        ("From", LARS),
        ("To", LIST),
        ("Subject", subj(s)),
        ("Date", date(2027, 9, 18, 9, 0, 0)),
        ("Message-ID", "<CAF7vW8xY9zA0bC1dE2fG3hI4jK5lM6nO7pQ8rS9@mail.gmail.example.com>"),
    ], text("Hej alle\n\nEr der nogen, der kan hjælpe med opsætningen af FMK i vores omsorgssystem?\n\n"
            "Lars\n", charset="UTF-8", cte="quoted-printable", quote_charset=True)),
        category="post", network="it-netvaerk", subject=s,
        body_contains=["kan hjælpe med opsætningen af FMK"],
        notes="Subject starts with 'Hjælp' but is not the whole command: an ordinary list post.")


# --------------------------------------------------------------------------- broken input

def build_broken():
    # --- missing final boundary (truncated multipart)
    pdf = b"%PDF-1.4\n" + det_bytes("broken-final-boundary.pdf", 1500) + b"\n%%EOF\n"
    add("broken-missing-final-boundary", msg([
        ("From", SOREN),
        ("To", LIST),
        ("Subject", "Referat fra arbejdsgruppen"),
        ("Date", date(2027, 9, 21, 9, 0, 0)),
        ("Message-ID", "<7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f@aarhus.example.dk>"),
    ], multipart("mixed", "------------bRoKeN0000000000000000001", [
        text("Hej alle\n\nHer er referatet fra arbejdsgruppens møde i går.\n\nSøren\n", charset="utf-8",
             cte="8bit"),
        binary(pdf, "application/pdf", "Referat arbejdsgruppe.pdf"),
    ], close=False)),
        category="post", network="it-netvaerk", subject="Referat fra arbejdsgruppen",
        body_contains=["Her er referatet fra arbejdsgruppens møde i går."],
        attachments=["Referat arbejdsgruppe.pdf"], defects=True,
        notes="multipart/mixed whose closing boundary ('--b--') is missing; both parts are otherwise complete "
              "and should be recovered.")

    # --- declared boundary never appears
    raw_body = (
        b"--=_other_boundary_2\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: 8bit\n\n"
        b"Opdateret deltagerliste til m\xc3\xb8det den 7. oktober.\n"
        b"--=_other_boundary_2--\n"
    )
    add("broken-boundary-never-appears", msg([
        ("From", METTE),
        ("To", LIST),
        ("Subject", "Opdateret deltagerliste"),
        ("Date", date(2027, 9, 21, 10, 0, 0)),
        ("Message-ID", "<8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e0f1a@herning.example.dk>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/mixed; boundary="=_declared_boundary_1"'),
    ], body=raw_body),
        category="post", network="it-netvaerk", subject="Opdateret deltagerliste", defects=True,
        notes="Content-Type declares boundary '=_declared_boundary_1' but the body uses '=_other_boundary_2': "
              "no part can be found. Must not crash; outcome is logged (text, if any, is a best effort).")

    # --- invalid base64
    good = base64.b64encode("Kære alle\r\n\r\nBudgettet for 2028 er vedlagt i teksten herunder.\r\n\r\nAnne\r\n".encode())
    bad = good[:20] + b"*%" + good[20:48] + b"!" + good[48:].rstrip(b"=") + b"A"
    add("broken-invalid-base64", msg([
        ("From", ANNE),
        ("To", LIST),
        ("Subject", "Budget 2028"),
        ("Date", date(2027, 9, 21, 11, 0, 0)),
        ("Message-ID", "<9e0f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b@kl.example.dk>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "base64"),
    ], body=bad + b"\n"),
        category="post", network="it-netvaerk", subject="Budget 2028",
        body_contains=["Kære alle", "Budgettet for 2028"], defects=True,
        notes="base64 body with characters outside the alphabet ('*', '%', '!'), padding removed and one stray "
              "trailing character. A lenient decoder skips the junk and recovers the text.")

    # --- raw 8-bit UTF-8 in the Subject header
    s = "Referat fra mødet i Århus"
    add("broken-8bit-subject", msg([
        ("From", SOREN),
        ("To", LIST),
        ("Subject", s.encode("utf-8")),
        ("Date", date(2027, 9, 22, 9, 0, 0)),
        ("Message-ID", "<0f1a2b3c-4d5e-4f6a-9b7c-8d9e0f1a2b3c@aarhus.example.dk>"),
    ], text("Referatet følger i næste uge.\n", charset="utf-8", cte="8bit")),
        category="post", network="it-netvaerk", subject=s,
        body_contains=["Referatet følger i næste uge."], defects=True,
        notes="Raw UTF-8 bytes in the Subject header (no encoded-word, no SMTPUTF8). The right decoding is "
              "UTF-8 (fall back to windows-1252 if that fails).")

    # --- raw 8-bit windows-1252 in the Subject header
    s = "Mødeplan for Århus – udkast"
    add("broken-8bit-subject-cp1252", msg([
        ("From", SOREN_L1),
        ("To", LIST),
        ("Subject", s.encode("cp1252")),
        ("Date", date(2027, 9, 22, 9, 30, 0)),
        ("Message-ID", "<AA0123.2027092209300000@old.aarhus.example.dk>"),
        ("X-Mailer", "Lotus Notes Release 8.5.3"),
    ], text("Udkastet følger.\n", charset="windows-1252", cte="8bit")),
        category="post", network="it-netvaerk", subject=s,
        body_contains=["Udkastet følger."], defects=True,
        notes="Raw windows-1252 bytes in the Subject header (0xF8 ø, 0xC5 Å, 0x96 en dash). Not valid UTF-8, so "
              "the right decoding is the windows-1252 fallback.")

    # --- malformed From
    add("broken-malformed-from", msg([
        ("From", "=?utf-8?q?S=C3=B8ren?= <soren at aarhus>"),
        ("To", LIST),
        ("Subject", subj("Spørgsmål om næste møde")),
        ("Date", date(2027, 9, 22, 10, 0, 0)),
        ("Message-ID", "<1a2b3c4d-5e6f-4a7b-8c8d-9e0f1a2b3c4d@aarhus.example.dk>"),
    ], text("Hvornår er næste møde?\n", charset="utf-8", cte="8bit")),
        category="reject", network="it-netvaerk", subject="Spørgsmål om næste møde", defects=True,
        notes="From is 'Søren <soren at aarhus>': no usable address. Cannot be attributed to anyone; never "
              "relayed, nothing to answer; logged.")

    # --- From with two addresses and no Sender
    add("broken-two-from", msg([
        ("From", f"{SOREN},\n {LARS}"),
        ("To", LIST),
        ("Subject", subj("Fælles indstilling")),
        ("Date", date(2027, 9, 22, 11, 0, 0)),
        ("Message-ID", "<2b3c4d5e-6f7a-4b8c-9d9e-0f1a2b3c4d5e@aarhus.example.dk>"),
    ], text("Vi foreslår i fællesskab, at punktet udskydes.\n\nSøren og Lars\n", charset="utf-8", cte="8bit")),
        category="reject", network="it-netvaerk", subject="Fælles indstilling", defects=True,
        notes="Two mailboxes in From and no Sender header (RFC 5322 requires Sender then). There is no single "
              "author to authorise: never act on it or relay it as a member's mail.")

    # --- no Message-ID
    add("broken-no-message-id", msg([
        ("From", METTE),
        ("To", LIST),
        ("Subject", "Forslag til temadag"),
        ("Date", date(2027, 9, 22, 12, 0, 0)),
    ], text("Skal vi holde en temadag om velfærdsteknologi i foråret?\n\nMette\n", charset="utf-8", cte="8bit")),
        category="post", network="it-netvaerk", subject="Forslag til temadag",
        body_contains=["temadag om velfærdsteknologi i foråret"],
        notes="No Message-ID at all. Still a valid post; the bot needs its own stable id (e.g. a hash of the "
              "bytes) for de-duplication and must give the relayed copy a Message-ID.")

    # --- headers only, no blank line, no body
    add("broken-headers-only", msg([
        ("From", LARS),
        ("To", LIST),
        ("Subject", subj("Mødedato?")),
        ("Date", date(2027, 9, 22, 13, 0, 0)),
        ("Message-ID", "<3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f@odense.example.dk>"),
    ], body=None),
        category="post", network="it-netvaerk", subject="Mødedato?",
        notes="Headers only: no empty line and no body (legal in RFC 5322, but there is no text at all).")

    # --- unknown charset (with a raw non-ASCII byte in the parameter)
    add("broken-unknown-charset", msg([
        ("From", SOREN),
        ("To", LIST),
        ("Subject", subj("Nyt fra økonomigruppen")),
        ("Date", date(2027, 9, 22, 14, 0, 0)),
        ("Message-ID", "<4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a@aarhus.example.dk>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="x-unknown-ø"'.encode("utf-8")),
        ("Content-Transfer-Encoding", "8bit"),
    ], body="Kære alle\n\nNyt fra økonomigruppen: budgetmodellen er klar til høring.\n".encode("utf-8")),
        category="post", network="it-netvaerk", subject="Nyt fra økonomigruppen",
        body_contains=["Kære alle", "Nyt fra økonomigruppen: budgetmodellen er klar til høring."], defects=True,
        notes="charset=\"x-unknown-ø\" (raw UTF-8 byte in the header parameter): unknown to any codec registry. "
              "The body bytes are UTF-8; fall back (utf-8, then windows-1252) instead of failing.")

    # --- header injection via an encoded-word
    inj = "Møde i morgen\r\nBcc: evil@example.org"
    add("broken-header-injection", msg([
        ("From", OUTSIDER),
        ("To", LIST),
        ("Subject", "=?utf-8?q?M=C3=B8de_i_morgen=0D=0ABcc=3A_evil=40example=2Eorg?="),
        ("Date", date(2027, 9, 22, 15, 0, 0)),
        ("Message-ID", "<CAG8wX9yZ0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0@mail.gmail.example.com>"),
    ], text("Se emnelinjen.\n", charset="utf-8", cte="8bit")),
        category="post", network="it-netvaerk", subject=inj.replace("\r\n", " "),
        notes="The encoded-word subject decodes to 'Møde i morgen' CR LF 'Bcc: evil@example.org'. Anywhere the "
              "bot reuses the subject (relay, 'Re:' answers, moderation request) CR/LF must become a space: no "
              "Bcc header may ever appear in outgoing mail. From a non-member, so it goes to moderation.")

    # --- unknown network address
    add("broken-unknown-network", msg([
        ("Delivered-To", "ukendt@lists.example.dk"),
        ("From", SOREN),
        ("To", "ukendt@lists.example.dk"),
        ("Subject", subj("Spørgsmål til netværket")),
        ("Date", date(2027, 9, 22, 16, 0, 0)),
        ("Message-ID", "<5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b@aarhus.example.dk>"),
    ], text("Er det her den rigtige adresse?\n", charset="utf-8", cte="8bit")),
        category="reject", network="", subject="Spørgsmål til netværket",
        notes="Sent (and delivered) to ukendt@lists.example.dk, which is no network's address: refused, not "
              "relayed anywhere.")


# --------------------------------------------------------------------------- DMARC

def build_dmarc():
    add("dmarc-fail", msg([
        ("Authentication-Results", "mx.example.dk;\n\tspf=softfail smtp.mailfrom=gmail.example.com;\n"
                                   "\tdkim=none;\n\tdmarc=fail (p=reject) header.from=gmail.example.com"),
        ("Received", received("203-0-113-7.dyn.example.net", "203.0.113.7", "mx.example.dk", "4WqCLl8No9pq1",
                              LIST, date(2027, 9, 23, 9, 0, 2) + " (CEST)")),
        ("From", OUTSIDER),
        ("To", LIST),
        ("Subject", "Vigtig opdatering af jeres adgangskode"),
        ("Date", date(2027, 9, 23, 9, 0, 0)),
        ("Message-ID", "<CAH9xY0zA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1@mail.gmail.example.com>"),
    ], text("Klik her for at bekræfte jeres konto.\n", charset="utf-8", cte="8bit")),
        category="post", network="it-netvaerk", subject="Vigtig opdatering af jeres adgangskode", dmarc="fail",
        body_contains=["Klik her for at bekræfte jeres konto."],
        notes="The trusted server mx.example.dk reports dmarc=fail (p=reject) for the From domain: even if the "
              "sender is a member, hold for moderation instead of relaying.")

    add("dmarc-forged-and-trusted", msg([
        ("Authentication-Results", "mx.example.dk;\n\tdkim=pass header.d=aarhus.example.dk;\n"
                                   "\tspf=pass smtp.mailfrom=aarhus.example.dk;\n"
                                   "\tdmarc=pass header.from=aarhus.example.dk"),
        ("Received", received("mail.aarhus.example.dk", "192.0.2.10", "mx.example.dk", "4WqDMm9Op0qr2", LIST,
                              date(2027, 9, 23, 10, 0, 2) + " (CEST)")),
        ("Authentication-Results", "evil.example.org; dmarc=pass"),
        ("From", SOREN),
        ("To", LIST),
        ("Subject", subj("Næste skridt for fælles sprog")),
        ("Date", date(2027, 9, 23, 10, 0, 0)),
        ("Message-ID", "<6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c@aarhus.example.dk>"),
    ], text("Kære alle\n\nForslag til næste skridt følger på mødet.\n\nSøren\n", charset="utf-8", cte="8bit")),
        category="post", network="it-netvaerk", subject="Næste skridt for fælles sprog", dmarc="pass",
        body_contains=["Forslag til næste skridt følger på mødet."],
        notes="Two Authentication-Results: the trusted one from mx.example.dk (on top, dmarc=pass) and one "
              "from evil.example.org further down (ignored). Result: pass.")

    add("dmarc-forged-pass-trusted-fail", msg([
        ("Authentication-Results", "mx.example.dk;\n\tdkim=fail header.d=aarhus.example.dk;\n"
                                   "\tspf=fail smtp.mailfrom=aarhus.example.dk;\n"
                                   "\tdmarc=fail (p=quarantine) header.from=aarhus.example.dk"),
        ("Received", received("203-0-113-9.dyn.example.net", "203.0.113.9", "mx.example.dk", "4WqENn0Pq1rs3", LIST,
                              date(2027, 9, 23, 11, 0, 2) + " (CEST)")),
        ("Authentication-Results", "evil.example.org;\n\tdkim=pass header.d=aarhus.example.dk;\n"
                                   "\tdmarc=pass header.from=aarhus.example.dk"),
        ("From", SOREN),
        ("To", LIST),
        ("Subject", subj("Ny bankkonto til fakturaer")),
        ("Date", date(2027, 9, 23, 11, 0, 0)),
        ("Message-ID", "<7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d@aarhus.example.dk>"),
    ], text("Kære alle\n\nFremover skal fakturaer betales til en ny konto.\n", charset="utf-8", cte="8bit")),
        category="post", network="it-netvaerk", subject="Ny bankkonto til fakturaer", dmarc="fail",
        body_contains=["Fremover skal fakturaer betales til en ny konto."],
        notes="Spoofed member address: the trusted mx.example.dk says dmarc=fail; a forged header from "
              "evil.example.org (the last Authentication-Results in the file) says pass and must be ignored. "
              "Hold for moderation.")


# --------------------------------------------------------------------------- manifest

KEY_ORDER = ["category", "network", "first_word", "partstat", "command", "command_arg", "bounce_address",
             "subject", "body_contains", "attachments", "defects", "dmarc", "notes"]
CATEGORIES = {"loop", "bounce", "bounce-delayed", "itip-reply", "auto-reply", "answer", "command", "post", "reject"}


def toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


MANIFEST_HEAD = '''\
# Generated by _make_corpus.py -- do not edit by hand; edit the generator and re-run it.
#
# One table per file.  Keys (only those that apply are present):
#   category        loop | bounce | bounce-delayed | itip-reply | auto-reply | answer | command | post | reject
#   network         slug of the network the mail is for ("" = none / unknown address)
#   first_word      answers: the lowercased first word the bot should read
#   partstat        iTIP REPLY: ACCEPTED | DECLINED | TENTATIVE
#   command         canonical lowercase command word ("dagsordenspunkt", "agenda item", ...)
#   command_arg     the title after the colon (Dagsordenspunkt / Agenda item)
#   bounce_address  the recipient address that bounced (or is delayed)
#   subject         the subject exactly as a correct decoder gives it, after placeholder
#                   substitution (CR/LF in decoded text folded to one space)
#   body_contains   substrings of the correctly decoded text body (or text rendering of HTML);
#                   they only match if the charset is handled right
#   attachments     filenames of the top-level attachments, decoded
#   defects         true: a parser should record at least one defect (absent: no claim)
#   dmarc           "pass" / "fail" as reported by the trusted authserv-id mx.example.dk
#   notes           what the case is about
#
# Placeholders in the .eml files: {{token}}, {{from}} (top-level From only) and {{from_addr}};
# see _make_corpus.py and _check_corpus.py.
'''


def write_manifest() -> bytes:
    lines = [MANIFEST_HEAD]
    for name, _, meta in sorted(CASES, key=lambda c: c[0]):
        unknown = set(meta) - set(KEY_ORDER)
        if unknown:
            raise ValueError(f"{name}: unknown keys {unknown}")
        if meta.get("category") not in CATEGORIES:
            raise ValueError(f"{name}: bad category {meta.get('category')!r}")
        lines.append(f'\n[files."{name}.eml"]\n')
        for k in KEY_ORDER:
            if k in meta:
                lines.append(f"{k} = {toml_value(meta[k])}\n")
    return "".join(lines).encode("utf-8")


def sanity(name: str, raw: bytes) -> None:
    head, _, _ = raw.partition(b"\r\n\r\n")
    if b"{{from}}" in raw[len(head):]:
        raise ValueError(f"{name}: {{{{from}}}} outside the top-level headers")
    # every placeholder must be intact (not split by QP or folding) and one of ours
    found = re.findall(rb"\{\{[^}]*\}\}", raw)
    if raw.count(b"{{") != len(found) or any(f not in (b"{{token}}", b"{{from}}", b"{{from_addr}}") for f in found):
        raise ValueError(f"{name}: broken or unknown placeholder")


def main() -> int:
    for builder in [v for k, v in sorted(globals().items()) if k.startswith("build_")]:
        builder()
    produced = set()
    for name, raw, _ in CASES:
        sanity(name, raw)
        path = HERE / f"{name}.eml"
        produced.add(path.name)
        if not path.exists() or path.read_bytes() != raw:
            path.write_bytes(raw)
    for stale in HERE.glob("*.eml"):
        if stale.name not in produced:
            stale.unlink()
    (HERE / "MANIFEST.toml").write_bytes(write_manifest())
    print(f"wrote {len(CASES)} .eml files and MANIFEST.toml to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
