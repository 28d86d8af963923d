"""Who gets what: members, role holders and KKR consultants of a network, as mail recipients.

Member mail skips people who opted out, are inactive, or whose delivery is disabled
by bounces. List posts also skip members who paused them ("pause"), and the author
when they asked for no copy of their own posts ("ingen kopi"); meeting mail does not. Role mail (minutes to a KKR consultant, the draft to the chair, requests
to the secretary) still goes to a role holder who opted out or bounces, because the
role needs someone.
"""
from __future__ import annotations

from sqlmodel import Session, or_, select

from bot.outbound.compose import Recipient
from bot.people.addresses import find_contact
from bot.store.models import Contact, Membership, Network

MEMBER_MAIL_ROLES = ("member", "kl", "medcom")
ROLE_HOLDER_ROLES = ("chair", "vice-chair", "secretary", "kkr-consultant")


def recipient(contact: Contact) -> Recipient:
    return Recipient(address=contact.email, name=contact.name, contact_id=contact.id)


def sender_recipient(session: Session, address: str, name: str = "") -> Recipient:
    """Whoever wrote to us, as a recipient: the contact when we know them."""
    contact = find_contact(session, address)
    return recipient(contact) if contact else Recipient(address=address.lower(), name=name)


def members(session: Session, network_slug: str) -> list[Contact]:
    """Everyone who should get the network's member mail (list posts, invitations, agendas)."""
    query = (select(Contact).join(Membership, Membership.contact_id == Contact.id).join(Network)
             .where(Network.slug == network_slug, Membership.active == True, Membership.opted_out == False,  # noqa: E712
                    Membership.role.in_(MEMBER_MAIL_ROLES), Contact.active == True,  # noqa: E712
                    Contact.delivery_disabled == False)  # noqa: E712
             .distinct().order_by(Contact.id))
    return list(session.exec(query))


def post_recipients(session: Session, network_slug: str, author: Contact | None) -> list[Contact]:
    """The members a list post goes to: not those who paused list posts, nor the author who asked
    for no copy of their own posts."""
    query = (select(Membership.contact_id).join(Network)
             .where(Network.slug == network_slug, Membership.role.in_(MEMBER_MAIL_ROLES),
                    Membership.active == True,  # noqa: E712
                    or_(Membership.paused == True,  # noqa: E712
                        (Membership.no_copy == True) & (Membership.contact_id == (author.id if author else -1)))))  # noqa: E712
    left_out = set(session.exec(query))
    return [c for c in members(session, network_slug) if c.id not in left_out]


def role_holders(session: Session, network_slug: str, role: str) -> list[Contact]:
    query = (select(Contact).join(Membership, Membership.contact_id == Contact.id).join(Network)
             .where(Network.slug == network_slug, Membership.active == True, Membership.role == role,  # noqa: E712
                    Contact.active == True)  # noqa: E712
             .order_by(Contact.id))
    return list(session.exec(query))


def holds_a_role(session: Session, contact: Contact) -> bool:
    query = select(Membership.id).where(Membership.contact_id == contact.id, Membership.active == True,  # noqa: E712
                                        Membership.role.in_(ROLE_HOLDER_ROLES))
    return session.exec(query).first() is not None


def networks_of(session: Session, contact: Contact) -> list[str]:
    query = (select(Network.slug).join(Membership).where(Membership.contact_id == contact.id,
                                                          Membership.active == True).distinct())  # noqa: E712
    return list(session.exec(query))
