"""The schema as data: every table of the models, its text columns, and rows that mention an address.

Export and forget both walk `tables()`, so a table added to bot/store/models.py is seen by both
(and refused by `policy()` until it is classified).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, String, Table, func, or_, select
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString



def tables() -> list[Table]:
    """Every table, parents before children (deletes go the other way)."""
    return list(SQLModel.metadata.sorted_tables)


def text_columns(table: Table) -> list:
    """Columns that hold text: where a name or an address can be written."""
    return [c for c in table.columns if isinstance(c.type, (String, AutoString)) and not c.primary_key]


def json_columns(table: Table) -> list:
    return [c for c in table.columns if isinstance(c.type, JSON)]


def mentions(table: Table, needles: tuple[str, ...]):
    """A condition: some text column may contain one of `needles` (lowercase): a prefilter, since SQL
    cannot tell a whole address from part of a longer one (the caller checks with redact.pattern)."""
    columns = text_columns(table)
    if not columns or not needles:
        return None
    return or_(*(func.lower(c).contains(n, autoescape=True) for c in columns for n in needles))


def key_of(table: Table):
    return tuple(table.primary_key.columns)


def plain(value: object, with_bodies: bool) -> object:
    """A column's value as JSON: bytes as text only with bodies, else their size."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return data.decode("utf-8", errors="replace") if with_bodies else {"bytes": len(data)}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def row_dict(table: Table, row, with_bodies: bool) -> dict:
    return {c.name: plain(getattr(row, c.name), with_bodies) for c in table.columns}


def select_about(table: Table, condition):
    return select(*table.columns).where(condition)
