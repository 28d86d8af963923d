"""The mail corpus in tests/data/mail: real-looking messages and what a correct bot makes of them."""
from __future__ import annotations

import tomllib
from email.header import Header
from email.utils import formataddr
from functools import lru_cache
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "data" / "mail"
DEFAULT_TOKEN = "abcdefghijklmnopqrstuvwx"
DEFAULT_SENDER = ("Søren Ærø", "soren.aero@aarhus.example.dk")


@lru_cache(maxsize=1)
def manifest() -> dict[str, dict]:
    return tomllib.loads((CORPUS / "MANIFEST.toml").read_text(encoding="utf-8"))["files"]


def names(category: str | None = None) -> list[str]:
    return sorted(n for n, e in manifest().items() if category is None or e["category"] == category)


def load(name: str, token: str = DEFAULT_TOKEN, sender: tuple[str, str] = DEFAULT_SENDER) -> bytes:
    """The raw bytes with the placeholders filled in: the token and the sender a test chooses."""
    raw = (CORPUS / name).read_bytes()
    display = formataddr((str(Header(sender[0], "utf-8")), sender[1]))
    return (raw.replace(b"{{token}}", token.encode()).replace(b"{{from}}", display.encode())
            .replace(b"{{from_addr}}", sender[1].encode()))


def sent_by(raw: bytes, sender: tuple[str, str]) -> bytes:
    """The same mail with its top-level From replaced (for corpus files with a fixed sender)."""
    head, sep, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    eol = b"\r\n" if sep == b"\r\n\r\n" else b"\n"
    lines, out, skipping = head.split(eol), [], False
    for line in lines:
        if line.lower().startswith(b"from:"):
            out.append(b"From: " + formataddr((str(Header(sender[0], "utf-8")), sender[1])).encode())
            skipping = True
            continue
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = False
        out.append(line)
    return eol.join(out) + sep + body
