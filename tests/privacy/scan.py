"""Walk every table of the schema and look at every value: the tests' independent view of the data."""
from __future__ import annotations

import json
from email import message_from_bytes
from email import policy as email_policy

from sqlalchemy import select
from sqlmodel import Session, SQLModel


def as_text(value) -> str:
    """A stored value as the text a person could read in it (a mail's bytes decoded too)."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        text = data.decode("utf-8", errors="replace")
        try:
            message = message_from_bytes(data, policy=email_policy.default)
            parts = [str(v) for v in message.values()]
            parts += [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
            text += "\n".join(str(p) for p in parts)
        except Exception:  # noqa: BLE001 - not a mail: its bytes are enough
            pass
        return text
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def all_rows(engine) -> dict[str, list]:
    with Session(engine) as session:
        return {t.name: list(session.execute(select(*t.columns))) for t in SQLModel.metadata.sorted_tables}


def naming(engine, needles: list[str]) -> dict[str, list]:
    """Every row, by table, with a value that contains one of `needles` (any case)."""
    found = {}
    for table, rows in all_rows(engine).items():
        hits = [row for row in rows if any(n.lower() in as_text(v).lower() for v in row for n in needles)]
        if hits:
            found[table] = hits
    return found


def about(engine, addresses: list[str], contact_id: int) -> dict[str, set]:
    """The primary keys of rows about the person: rows whose text names an address, the contact row,
    and (to a fixed point) rows that point by a foreign key at a row about them."""
    tables = {t.name: t for t in SQLModel.metadata.sorted_tables}
    rows = all_rows(engine)
    keys = {name: set() for name in tables}
    keys["contact"].add((contact_id,))

    def key(table, row) -> tuple:
        return tuple(row._mapping[c.name] for c in table.primary_key.columns)

    for name, table in tables.items():
        for row in rows[name]:
            if any(a in str(v).lower() for v in row if isinstance(v, str) for a in addresses):
                keys[name].add(key(table, row))
    changed = True
    while changed:
        changed = False
        for name, table in tables.items():
            for fk in table.foreign_keys:
                parent = fk.column.table.name
                for row in rows[name]:
                    value = row._mapping[fk.parent.name]
                    if value is not None and (value,) in keys[parent] and key(table, row) not in keys[name]:
                        keys[name].add(key(table, row))
                        changed = True
    return {name: found for name, found in keys.items() if found}
