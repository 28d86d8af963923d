"""`kkrbot gdpr export`: everything stored about a person, as JSON, table by table.

A table's rows about the person are what its policy selects plus any row whose text
names one of their addresses, so nothing the person appears in is left out because a
policy forgot a column. Bodies (raw mail, files) only with `with_bodies`.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import or_, select
from sqlmodel import Session

from bot.privacy.person import Person, find_person
from bot.privacy.policy import POLICIES, policy
from bot.privacy.redact import pattern
from bot.privacy.tables import key_of, mentions, row_dict, select_about, tables, text_columns
from bot.store.audit import ADMIN, audit


def rows_about(session: Session, person: Person, table) -> list:
    """The table's rows about the person: its policy's, and those whose text names an address of theirs
    (as a whole address: exporting `lm@x.dk` must not hand over the rows of `kalm@x.dk`)."""
    selected = _policy_condition(person, table)
    named = mentions(table, person.addresses)
    conditions = [c for c in (selected, named) if c is not None]
    if not conditions:
        return []
    rows = session.execute(select_about(table, or_(*conditions)).order_by(*key_of(table))).all()
    if named is None:
        return rows
    chosen = _keys(session, table, selected) if selected is not None else set()
    found = pattern(person.addresses)
    return [row for row in rows if _key(table, row) in chosen or _names(table, row, found)]


def _keys(session: Session, table, condition) -> set[tuple]:
    return {tuple(row) for row in session.execute(select(*key_of(table)).where(condition))}


def _key(table, row) -> tuple:
    return tuple(row._mapping[c.name] for c in key_of(table))


def _names(table, row, found) -> bool:
    return any(found.search(row._mapping[c.name] or "") for c in text_columns(table))


def _policy_condition(person: Person, table):
    rows = policy(table.name).rows
    return rows(person) if rows else None


def export_person(session: Session, email: str, now: datetime, with_bodies: bool = False) -> dict:
    """The person's data by table (tables with nothing about them are left out); audited."""
    person = find_person(session, email)
    data = {}
    for table in sorted(tables(), key=_reading_order):
        rows = rows_about(session, person, table)
        if rows:
            data[table.name] = [row_dict(table, row, with_bodies) for row in rows]
    audit(session, now, ADMIN, "gdpr-export", detail=f"for {person.addresses[0]}")
    return {"person": {"addresses": list(person.addresses), "name": person.name},
            "exported_at": now.isoformat(), "with_bodies": with_bodies, "tables": data}


def _reading_order(table) -> int:
    """The policy table's order (the contact first), not the schema's."""
    names = list(POLICIES)
    return names.index(table.name) if table.name in names else len(names)


def to_json(export: dict) -> str:
    return json.dumps(export, ensure_ascii=False, indent=2, default=str) + "\n"
