"""Replace a person's name and addresses wherever they are written in a kept row.

Minutes name who attended, an administrator event names an address, another member's
refusal quotes it: the rows stay (the year's agendas and minutes still render), the words
naming the person become "tidligere medlem" in the row's network's language (templates/).
"""
from __future__ import annotations

import json
import re

from sqlalchemy import String, cast, or_, select, update
from sqlmodel import Session

from bot.outbound.templates import former_member
from bot.privacy.tables import json_columns, key_of, text_columns, tables
from bot.store.models import Meeting, Network

MIN_NAME_CHARS = 3
# The person's own contact row is anonymised by forget; another contact's row never names them
# (their own name may be the same: it must stay theirs).
NOT_SWEPT = ("contact",)  # a shorter "name" would replace parts of unrelated words


def needles(addresses: tuple[str, ...], name: str) -> tuple[str, ...]:
    """What names the person: their addresses, and their full name when it is long enough."""
    name = " ".join(name.split())
    return tuple(addresses) + ((name,) if len(name) >= MIN_NAME_CHARS else ())


# A word is found whole: "lm@herning.dk" is not in "kalm@herning.dk", "Anne Hansen" not in "Marianne Hansen".
BEFORE, AFTER = r"(?<![\w.+-])", r"(?![\w-]|\.\w)"


def pattern(words: tuple[str, ...]) -> re.Pattern:
    """Any of `words` as a whole word, whatever the case; longest first, so an address is not cut by
    a name in it."""
    ordered = sorted(words, key=len, reverse=True)
    alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ordered)
    return re.compile(f"{BEFORE}(?:{alternatives}){AFTER}", re.IGNORECASE)


def sweep(session: Session, words: tuple[str, ...], default_lang: str) -> int:
    """Rewrite every kept text and JSON value that names the person; return how many rows changed."""
    if not words:
        return 0
    found, changed = pattern(words), 0
    languages = _languages(session)
    for table in tables():
        if table.name in NOT_SWEPT:
            continue
        columns = text_columns(table) + json_columns(table)
        condition = _prefilter(columns, words)
        if condition is None:
            continue
        for row in session.execute(select(*table.columns).where(condition)).all():
            changed += _rewrite(session, table, row, columns, found, _lang(row, languages, default_lang))
    return changed


def _prefilter(columns: list, words: tuple[str, ...]):
    """Rows that may name the person (SQLite's LIKE folds ASCII case only, so a few spellings)."""
    variants = {v for w in words for v in (w, w.lower(), w.upper(), w.title())}
    terms = [cast(c, String).contains(v, autoescape=True) for c in columns for v in variants]
    return or_(*terms) if terms else None


def _rewrite(session: Session, table, row, columns: list, found: re.Pattern, lang: str) -> int:
    replacement = former_member(lang)
    values = {}
    for column in columns:
        value = getattr(row, column.name)
        new = _replaced(value, found, replacement)
        if new != value:
            values[column.name] = new
    if not values:
        return 0
    keys = key_of(table)
    session.execute(update(table).where(*(k == getattr(row, k.name) for k in keys)).values(**values))
    return 1


def _replaced(value, found: re.Pattern, replacement: str):
    if isinstance(value, str):
        return found.sub(replacement, value)
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
        new = found.sub(replacement, text)
        return value if new == text else json.loads(new)
    return value


def _languages(session: Session) -> dict[str, dict]:
    networks = {slug: lang for slug, lang in session.execute(select(Network.slug, Network.language))}
    meetings = {mid: networks.get(slug, "da") for mid, slug in session.execute(
        select(Meeting.id, Network.slug).join(Network, Network.id == Meeting.network_id))}
    return {"network": networks, "meeting": meetings}


def _lang(row, languages: dict[str, dict], default: str) -> str:
    mapping = row._mapping
    if mapping.get("network_slug") in languages["network"]:
        return languages["network"][mapping["network_slug"]]
    if mapping.get("meeting_id") in languages["meeting"]:
        return languages["meeting"][mapping["meeting_id"]]
    return default
