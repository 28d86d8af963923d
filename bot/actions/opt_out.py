"""Opting out of a network's member mail (list posts, invitations, agendas).

Role mail continues (minutes to a KKR consultant, the draft to the chair, requests to
the secretary), and the administrator is told, since the role needs someone else.
An opt-out is never undone by a contacts import.
"""
from __future__ import annotations

from sqlmodel import Session, select

from bot.people.recipients import MEMBER_MAIL_ROLES, holds_a_role
from bot.store.models import AdminEvent, Contact, Membership, Network


def opt_out(session: Session, contact: Contact, network_slug: str, now) -> bool:
    """Opt the contact out of the network's member mail; False if they were not on it."""
    query = (select(Membership).join(Network).where(Network.slug == network_slug,
                                                    Membership.contact_id == contact.id,
                                                    Membership.role.in_(MEMBER_MAIL_ROLES)))
    memberships = [m for m in session.exec(query) if not m.opted_out]
    for membership in memberships:
        membership.opted_out, membership.opted_out_at = True, now
    if memberships and holds_a_role(session, contact):
        session.add(AdminEvent(at=now, kind="role-holder-opted-out",
                               detail=f"{contact.name} <{contact.email}> opted out of {network_slug} but holds a "
                                      "role there or elsewhere; role mail still reaches them"))
    session.flush()  # later mail in the same batch must see the change
    return bool(memberships)
