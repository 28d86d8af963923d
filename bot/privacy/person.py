"""The person a GDPR request is about: every address the database knows them by.

A person is a contact (their e-mail and aliases) or a stranger whose mail the bot stored
(only the address asked about).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session, select

from bot.people.addresses import find_contact
from bot.store.models import Alias, Contact

ADDRESS = re.compile(r"[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+")


class Refused(Exception):
    """The request cannot be done as asked; the message (one line) says why and what to do."""


@dataclass(frozen=True)
class Person:
    addresses: tuple[str, ...]  # lowercase: the one asked about first
    contact_id: int | None = None
    name: str = ""


def find_person(session: Session, email: str) -> Person:
    """The person an address belongs to (a contact's alias names the contact)."""
    email = email.strip().lower()
    if not ADDRESS.fullmatch(email):  # "" or "%" would match every row's text
        raise Refused(f"{email!r} is not an e-mail address")
    contact = find_contact(session, email)
    if contact is None:
        return Person((email,))
    aliases = session.exec(select(Alias.address).where(Alias.contact_id == contact.id)).all()
    addresses = tuple(dict.fromkeys([email, contact.email, *sorted(aliases)]))
    return Person(addresses, contact.id, contact.name)


def contact_of(session: Session, person: Person) -> Contact | None:
    return session.get(Contact, person.contact_id) if person.contact_id else None
