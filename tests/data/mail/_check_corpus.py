#!/usr/bin/env python3
"""Sanity check for the raw e-mail corpus (pure stdlib).

Run:  python3 tests/data/mail/_check_corpus.py [-v]

Hard checks (exit status 1 if any fails):
  * every .eml file is listed in MANIFEST.toml and every listed file exists;
  * after placeholder substitution, ``email.message_from_bytes(raw,
    policy=email.policy.default)`` does not raise, nor do reading the main
    headers and walking the parts;
  * for every file not named ``broken-*``, the stdlib decodes the Subject to
    exactly the manifest's ``subject``.

Informational (printed, never fatal): where the stdlib's own decoding differs
from what the manifest says a correct parser gives -- subjects of broken
files, body text (``body_contains``), attachment filenames, defects.  Those
are the cases kkrbot's parser must handle itself.
"""

from __future__ import annotations

import email
import email.policy
import html
import pathlib
import re
import sys
import tomllib

HERE = pathlib.Path(__file__).resolve().parent

TOKEN = "abcdefghijklmnopqrstuvwx"
FROM_NAME = "Søren Ærø"
FROM_ADDR = "soren.aero@aarhus.example.dk"
# RFC 2047 form of {{from}} for use in a header.
FROM_HEADER = "=?utf-8?q?S=C3=B8ren_=C3=86r=C3=B8?= <soren.aero@aarhus.example.dk>"


def substitute(raw: bytes) -> bytes:
    return (raw.replace(b"{{token}}", TOKEN.encode())
               .replace(b"{{from_addr}}", FROM_ADDR.encode())
               .replace(b"{{from}}", FROM_HEADER.encode()))


def substitute_text(s: str) -> str:
    return (s.replace("{{token}}", TOKEN).replace("{{from_addr}}", FROM_ADDR)
             .replace("{{from}}", f"{FROM_NAME} <{FROM_ADDR}>"))


def fold_crlf(s: str) -> str:
    return re.sub(r"[\r\n]+", " ", s)


def html_to_text(s: str) -> str:
    s = re.sub(r"(?is)<(style|script|head)\b.*?</\1>", " ", s)
    s = re.sub(r"(?s)<!--.*?-->", " ", s)
    s = re.sub(r"(?s)<[^>]+>", " ", s)
    s = html.unescape(s).replace("\xa0", " ")
    return re.sub(r"[ \t\r\n]+", " ", s)


def stdlib_text(msg) -> tuple[str, list[str]]:
    """All text the stdlib can decode from text/* leaves that are not attachments."""
    chunks, problems = [], []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_content_disposition() == "attachment":
            continue
        try:
            content = part.get_content()
        except Exception as exc:  # noqa: BLE001 - we report what the stdlib does
            problems.append(f"get_content() on {part.get_content_type()} raised {type(exc).__name__}: {exc}")
            payload = part.get_payload(decode=True) or b""
            content = payload.decode("utf-8", "replace")
        if not isinstance(content, str):
            content = str(content)
        if part.get_content_subtype() == "html":
            content = html_to_text(content)
        chunks.append(content)
    return "\n".join(chunks), problems


def all_defects(msg) -> list[str]:
    out = []
    for part in msg.walk():
        out += [type(d).__name__ for d in part.defects]
        for name in ("subject", "from", "to", "cc", "message-id", "content-type"):
            h = part.get(name)
            if h is not None and getattr(h, "defects", None):
                out += [f"{name}:{type(d).__name__}" for d in h.defects]
    return out


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    manifest = tomllib.loads((HERE / "MANIFEST.toml").read_text("utf-8"))["files"]
    on_disk = {p.name for p in HERE.glob("*.eml")}
    errors: list[str] = []
    gaps: list[str] = []

    for name in sorted(on_disk - set(manifest)):
        errors.append(f"{name}: not listed in MANIFEST.toml")
    for name in sorted(set(manifest) - on_disk):
        errors.append(f"{name}: listed in MANIFEST.toml but missing")

    for name in sorted(on_disk & set(manifest)):
        meta = manifest[name]
        raw = substitute((HERE / name).read_bytes())
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            subject = msg["subject"]
            subject = "" if subject is None else str(subject)
            for h in ("from", "to", "cc", "message-id", "in-reply-to", "references", "date"):
                v = msg.get(h)
                if v is not None:
                    str(v)
                    if h in ("from", "to", "cc"):
                        _ = v.addresses
            parts = list(msg.walk())
            for part in parts:
                part.get_content_type()
                part.get_filename()
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{name}: stdlib crashed: {type(exc).__name__}: {exc}")
            continue

        want_subject = fold_crlf(substitute_text(meta.get("subject", "")))
        if "subject" in meta and subject != want_subject:
            line = f"{name}: subject {subject!r} != manifest {want_subject!r}"
            if name.startswith("broken-"):
                gaps.append("subject  " + line)
            elif fold_crlf(subject) == want_subject:
                gaps.append("subject  " + line + " (differs only in CR/LF)")
            else:
                errors.append(line)

        body, problems = stdlib_text(msg)
        for p in problems:
            gaps.append(f"content  {name}: {p}")
        norm_body = re.sub(r"\s+", " ", body)
        for needle in meta.get("body_contains", []):
            if re.sub(r"\s+", " ", substitute_text(needle)) not in norm_body:
                gaps.append(f"body     {name}: stdlib text lacks {needle!r}")

        if "attachments" in meta:
            try:
                got = [p.get_filename() for p in msg.iter_attachments()]
            except Exception as exc:  # noqa: BLE001
                got = [f"<{type(exc).__name__}>"]
            if got != meta["attachments"]:
                gaps.append(f"attach   {name}: stdlib filenames {got!r} != {meta['attachments']!r}")

        defects = all_defects(msg)
        if meta.get("defects") and not defects:
            gaps.append(f"defects  {name}: stdlib records no defect")
        if verbose:
            print(f"{name}: subject={subject!r} defects={defects}")

    print(f"{len(on_disk)} .eml files, {len(manifest)} manifest entries")
    if gaps:
        print("\nWhere the stdlib's own decoding falls short (kkrbot's parser must handle these):")
        for g in gaps:
            print("  " + g)
    if errors:
        print("\nERRORS:")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
