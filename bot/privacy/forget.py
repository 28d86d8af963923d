"""`kkrbot gdpr forget`: erase a person everywhere, keeping the year's agendas and minutes whole.

One transaction: rows about the person are deleted or anonymised as their table's policy
says (bot/privacy/policy.py); every kept text naming them is rewritten ("tidligere medlem");
another sender's raw mail that names them is dropped once handled; their copies in the
outbound Maildir are removed once the database change is committed. The erasure itself is
recorded by an HMAC of each address under the token secret, never an address.
"""
from __future__ import annotations

import mailbox
from dataclasses import dataclass, field
from datetime import datetime
from email import policy as email_policy
from email.parser import BytesHeaderParser
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlmodel import Session

from bot.config.settings import Settings
from bot.people.forgotten import address_hmac
from bot.privacy.person import Person, Refused, contact_of, find_person
from bot.privacy.policy import DELETE, policy
from bot.privacy.raw_mentions import others_raw_naming, still_needed
from bot.privacy.redact import needles, pattern, sweep
from bot.privacy.tables import key_of, tables
from bot.store.audit import ADMIN, audit
from bot.store.models import AuditLog, Contact, Erasure, InboundRaw

ERASED_ACTOR = "erased"
# The headers that make a file in the outbound Maildir theirs: mail to them, or a copy of their post.
ADDRESS_HEADERS = ("Delivered-To", "To", "Cc", "From", "Reply-To", "X-Original-From")


@dataclass
class Erased:
    """What a forget did, by table (counts only: the report is printed and audited)."""

    erasure_ids: list[int] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)
    anonymised: dict[str, int] = field(default_factory=dict)
    rewritten: int = 0
    raw_dropped: int = 0
    files_removed: int = 0
    addresses: tuple[str, ...] = ()


def refuse_role_holder(settings: Settings, person: Person) -> None:
    """A person named as chair, vice-chair or secretary in networks.toml stays until the file names another."""
    for network in settings.networks:
        for role, address in network.role_addresses.items():
            if address in person.addresses:
                raise Refused(f"{person.addresses[0]} is {role} of {network.slug} in networks.toml; name someone "
                              "else there and run `kkrbot config reload` first")


def scan_raw(session: Session, email: str) -> list[int]:
    """Other senders' handled mail that names the person, found before forget's transaction: reading
    every stored mail takes a while, and holding the write lock meanwhile would hold up arriving mail."""
    person = find_person(session, email)
    theirs = _keys(session, _table("inboundraw"), person)
    return others_raw_naming(session, person, _words(session, person), exclude=theirs)


def forget(session: Session, settings: Settings, secret: bytes, email: str, now: datetime,
           raw_naming: list[int] | None = None) -> Erased:
    """Erase the person in this session (the caller commits), or raise Refused. `raw_naming` is what
    scan_raw found (None: scan now)."""
    person = find_person(session, email)
    refuse_role_holder(settings, person)
    if not secret:
        raise Refused("no token secret: start the bot once (it makes one) or set TOKEN_SECRET")
    result = Erased(addresses=person.addresses)
    words = _words(session, person)
    doomed = {t.name: _keys(session, t, person) for t in tables() if policy(t.name).forget == DELETE}
    theirs = doomed.get("inboundraw", [])
    if raw_naming is None:
        raw_naming = others_raw_naming(session, person, words, exclude=theirs)
    else:  # a post relayed since the scan may need its bytes now
        skip = {key[0] for key in theirs} | still_needed(session)
        raw_naming = [inbound_id for inbound_id in raw_naming if inbound_id not in skip]
    _anonymise(session, person, now, result)
    _delete(session, doomed, result)
    result.raw_dropped = _drop_raw(session, raw_naming)
    result.rewritten = sweep(session, words, _default_lang(settings))
    for address in person.addresses:
        result.erasure_ids.append(_record_erasure(session, address_hmac(secret, address), now))
    audit(session, now, ADMIN, "gdpr-forget", detail=f"erasure #{result.erasure_ids[0]}: "
          f"{sum(result.deleted.values())} rows deleted, {result.rewritten} rewritten")
    return result


def _words(session: Session, person: Person) -> tuple[str, ...]:
    return needles(person.addresses, "" if _name_shared(session, person) else person.name)


def _table(name: str):
    return next(table for table in tables() if table.name == name)


def _name_shared(session: Session, person: Person) -> bool:
    """Another contact has the same name: text naming it may mean them, so only addresses are replaced."""
    query = select(Contact.id).where(func.lower(Contact.name) == person.name.strip().lower(),
                                     Contact.id != person.contact_id)
    return bool(person.name.strip()) and session.execute(query).first() is not None


def _record_erasure(session: Session, key: str, now: datetime) -> int:
    """One Erasure row per address, however often it is forgotten (a stranger may write again)."""
    known = session.execute(select(Erasure.id).where(Erasure.address_hmac == key)).scalar()
    if known is not None:
        return known
    erasure = Erasure(address_hmac=key, at=now)
    session.add(erasure)
    session.flush()
    return erasure.id


def _keys(session: Session, table, person: Person) -> list[tuple]:
    condition = policy(table.name).rows(person)
    return [tuple(row) for row in session.execute(select(*key_of(table)).where(condition))]


def _anonymise(session: Session, person: Person, now: datetime, result: Erased) -> None:
    contact = contact_of(session, person)
    if contact is not None:
        contact.name, contact.email = "", f"erased-{contact.id}"
        contact.active, contact.delivery_disabled = False, True
        contact.erased_at = contact.updated_at = now
        result.anonymised["contact"] = 1
    changed = session.execute(update(AuditLog).where(AuditLog.actor.in_(person.addresses))
                              .values(actor=ERASED_ACTOR, message_id=""))
    result.anonymised["auditlog"] = changed.rowcount or 0  # detail text naming them: the sweep rewrites it


def _delete(session: Session, doomed: dict[str, list[tuple]], result: Erased) -> None:
    """Detach kept rows from the rows going (nullable references), then delete children first."""
    by_name = {t.name: t for t in tables()}
    for name, keys in doomed.items():
        _detach(session, by_name[name], keys)
    for table in reversed(tables()):
        keys = doomed.get(table.name)
        if keys:
            _delete_rows(session, table, keys)
            result.deleted[table.name] = len(keys)


def _delete_rows(session: Session, table, keys: list[tuple]) -> None:
    columns = key_of(table)
    if len(columns) == 1:
        session.execute(delete(table).where(columns[0].in_([key[0] for key in keys])))
        return
    for key in keys:  # a composite key (outboxpart): few rows per person
        session.execute(delete(table).where(*(column == value for column, value in zip(columns, key))))


def _detach(session: Session, target, keys: list[tuple]) -> None:
    """Kept rows that point at a row about to go lose the pointer (an item keeps its text, not its mail)."""
    if not keys or len(key_of(target)) != 1:
        return
    ids = [k[0] for k in keys]
    for table in tables():
        for fk in table.foreign_keys:
            if fk.column.table is target and fk.parent.nullable:
                session.execute(update(table).where(fk.parent.in_(ids)).values({fk.parent.name: None}))


def _drop_raw(session: Session, inbound_ids: list[int]) -> int:
    if inbound_ids:
        session.execute(delete(InboundRaw).where(InboundRaw.inbound_id.in_(inbound_ids)))
    return len(inbound_ids)


def _default_lang(settings: Settings) -> str:
    return settings.networks[0].language if settings.networks else "da"


def remove_sent_files(maildir_path: Path, addresses: tuple[str, ...]) -> int:
    """The person's mail in the outbound Maildir (to them, or their relayed posts); after the commit."""
    if not maildir_path.is_dir():
        return 0
    box, removed, found = mailbox.Maildir(maildir_path, create=False), 0, pattern(addresses)
    parser = BytesHeaderParser(policy=email_policy.compat32)
    for key in list(box.keys()):
        try:
            with box.get_file(key) as handle:
                headers = parser.parse(handle)
        except (OSError, KeyError):  # gone meanwhile (a mail client moved it)
            continue
        named = " ".join(str(headers.get(h, "")) for h in ADDRESS_HEADERS)
        if found.search(named):
            box.discard(key)
            removed += 1
    return removed

