"""Hostile mail, generated: hypothesis strategies for what parse() and classify() must survive.

A generated mail is built from parts a hostile or broken sender would use: header
values with CR, LF, NUL and 8-bit bytes, RFC 2047 words with unknown charsets,
MIME trees nested deep (multipart and message/rfc822), bad boundaries, broken
base64, calendar parts, delivery reports, and odd line endings. `read_all` is what
the bot does with a received mail short of the database: parse, read the body,
route, classify. It must never raise.
"""
from __future__ import annotations

from hypothesis import strategies as st

from bot.inbound.parse import dmarc_result, parse
from bot.inbound.routing import route
from bot.rules.classify import Inbound, classify

LIST = "it-netvaerk@lists.example.dk"
NAMES = ["From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type",
         "Content-Transfer-Encoding", "Content-Disposition", "Auto-Submitted", "X-Loop", "Precedence",
         "Authentication-Results", "Return-Path", "X-Auto-Response-Suppress", "Delivered-To", "X-Weird"]
NASTY = [b"\r", b"\n", b"\r\n", b"\x00", b"\x1b", b"\xff", b"\xc3\xa6", b"\xe6", b"=?utf-8?q?=C3=A6?=",
         b"=?x-unknown?b?AAAA?=", b"=?utf-8?b?====?=", b"<", b">", b"@", b",", b";", b"\"", b" ", b"\t",
         b"boundary=", b"dmarc=pass", b"mx.example.dk;", b"it-netvaerk+", b"bounce-", b"\xe2\x80\xa8"]
TYPES = ["text/plain", "text/html", "text/calendar", "application/ics", "message/rfc822", "multipart/mixed",
         "multipart/alternative", "multipart/report", "message/delivery-status", "application/pdf", "x/y"]


def header_values() -> st.SearchStrategy[bytes]:
    return st.lists(st.one_of(st.sampled_from(NASTY), st.binary(max_size=20),
                              st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass"))),
                    max_size=8).map(b"".join)


def headers() -> st.SearchStrategy[bytes]:
    line = st.tuples(st.sampled_from(NAMES), header_values()).map(lambda nv: nv[0].encode() + b": " + nv[1])
    return st.lists(line, max_size=10).map(lambda lines: b"\r\n".join(lines) + b"\r\n")


def bodies(depth: int = 0) -> st.SearchStrategy[bytes]:
    leaf = st.tuples(st.sampled_from(TYPES), st.sampled_from(["base64", "quoted-printable", "8bit", "x-bad"]),
                     st.binary(max_size=200)).map(
        lambda t: f"Content-Type: {t[0]}; charset=x-unknown\r\nContent-Transfer-Encoding: {t[1]}\r\n\r\n".encode()
        + t[2])
    if depth >= 3:
        return leaf
    nested = st.lists(bodies(depth + 1), max_size=3).map(
        lambda parts: b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        + b"".join(b"--b\r\n" + p + b"\r\n" for p in parts) + b"--b--\r\n")
    forwarded = bodies(depth + 1).map(lambda inner: b"Content-Type: message/rfc822\r\n\r\n" + inner)
    return st.one_of(leaf, nested, forwarded)


def deep_nesting() -> st.SearchStrategy[bytes]:
    return st.integers(min_value=50, max_value=2000).map(
        lambda n: b"Content-Type: message/rfc822\r\n\r\n" * n + b"Subject: bottom\r\n\r\nx")


def mails() -> st.SearchStrategy[bytes]:
    endings = st.sampled_from([b"\r\n", b"\n", b"\r"])
    body = st.one_of(bodies(), deep_nesting(), st.binary(max_size=300))
    return st.tuples(headers(), body, endings).map(
        lambda hbe: (hbe[0] + b"\r\n" + hbe[1]).replace(b"\r\n", hbe[2]))


def read_all(raw: bytes, settings) -> None:
    """Everything the bot does with a received mail before it touches the database."""
    mail = parse(raw)
    mail.body  # noqa: B018 - the whole body, as a rule or handler may ask for it
    assert isinstance(mail.subject, str) and "\n" not in mail.subject and "\r" not in mail.subject
    dmarc_result(mail, "mx.example.dk")
    address = route(LIST, settings.networks)
    classify(Inbound(mail=mail, network=settings.network(address.network), address=address, null_sender=False))
