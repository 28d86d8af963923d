"""Find what a person actually wrote at the top of a reply.

An answer is "the first word of the first line that is not a greeting, quoted
text or a quote header" (SPEC.md). Outlook's quoted original ("-----Oprindelig
meddelelse-----", "Fra: … Sendt: …") and a `-- ` signature end the written part;
Gmail/Thunderbird/Apple attributions ("Den … skrev …:", "On … wrote:") and `>`
lines are skipped, so bottom-posted answers are found too; greeting lines
("Hej Anne,", "Kære alle", "Hi") are skipped.
"""
from __future__ import annotations

import re

# Outlook quotes the original without '>' below a separator or header block: cut there.
CUT_MARKERS = [
    re.compile(r"^-{2,}\s*(Oprindelig meddelelse|Original Message|Opprinnelig melding|Ursprüngliche Nachricht)\s*-{2,}", re.I),
    re.compile(r"^_{10,}\s*$"),  # Outlook web's separator line before "Fra:"
    re.compile(r"^\*?(Fra|From|Von)\s*:\*?\s.+", re.I),  # Outlook's header block: Fra: … Sendt: …
]
# Gmail, Thunderbird and Apple write an attribution line and quote with '>': skip both and read on,
# because a bottom-posted answer (Thunderbird's default) comes after the quote.
ATTRIBUTION = [
    re.compile(r"^(Den|On|Le|Am|Op|El)\b.{4,200}\b(skrev|wrote|skreiv|écrit|schrieb|schreef|escribió)\b", re.I),
    re.compile(r"^.{4,200}\s(skrev|wrote|skreiv)\s*:\s*$", re.I),
    re.compile(r"^\S*@\S+>?\s*:\s*$"),  # the end of an attribution wrapped onto a second line
]
SIGNATURE = re.compile(r"^--\s?$")
GREETING = re.compile(
    r"^(hej|hejsa|hello|hi|hey|kære|dear|god ?morgen|goddag|good morning|hei|kjære)\b[^.!?]{0,60}[,!.:]?\s*$", re.I)
WORD = re.compile(r"[\wæøåÆØÅ]+", re.UNICODE)


def written_part(text: str) -> str:
    """The reply's own text: without quoted lines, attributions, Outlook's quoted original or a signature."""
    kept = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.strip().lstrip("\ufeff")
        if SIGNATURE.match(line.rstrip()) or any(p.match(stripped) for p in CUT_MARKERS):
            break
        if stripped.startswith(">") or any(p.match(stripped) for p in ATTRIBUTION):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def first_line(text: str) -> str:
    """The first line of the written part that is not empty and not a greeting."""
    for line in written_part(text).split("\n"):
        stripped = line.strip()
        if stripped and not GREETING.match(stripped):
            return stripped
    return ""


def first_word(text: str) -> str:
    """The first word of that line, lowercased ("" if there is none)."""
    found = WORD.search(first_line(text))
    return found.group(0).lower() if found else ""
