"""Whose address is this: a contact's own e-mail or one of their aliases.

Every check of a sender (authorization, bounces, role holders in config) asks this
one question, so an alias counts everywhere the main address does.
"""
from __future__ import annotations

from sqlmodel import Session, or_, select

from bot.store.models import Alias, Contact


def find_contact(session: Session, address: str) -> Contact | None:
    """The contact owning an address, by their e-mail or one of their aliases."""
    return session.exec(select(Contact).where(owns(address.lower()))).first()


def owns(address: str):
    """A condition on Contact: `address` (lowercase) is the contact's e-mail or one of its aliases."""
    return or_(Contact.email == address, Contact.id.in_(select(Alias.contact_id).where(Alias.address == address)))
