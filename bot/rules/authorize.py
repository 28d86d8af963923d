"""Who may act. Every check fails closed and says why.

A reply acts only if the token in the address it was sent to (else in In-Reply-To)
was issued by us, for this network, to the address in From (or one of that
person's aliases). Tokens deeper in References are never looked at. A forged From,
a token replayed by another sender, a token of another network or one that names a
different bot mail acts on nothing and is never relayed.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from bot.outbound import tokens
from bot.outbound.calendar_invites import calendar_uid
from bot.people.addresses import find_contact, owns
from bot.store.models import Contact, IssuedToken, Meeting, Membership, Network

UNKNOWN_TOKEN = "unknown-token"
OTHER_NETWORK = "token-of-another-network"
WRONG_SENDER = "wrong-sender"
TOKEN_MISMATCH = "token-mismatch"
OTHER_MEETING = "token-for-another-meeting"
MEMBER_ROLES = ("member", "kl", "medcom", "chair", "vice-chair", "secretary")
CONTACT_LIST_ROLES = (*MEMBER_ROLES, "kkr-consultant")  # the KKR consultants get the minutes: they are on it


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    code: str = ""
    reason: str = ""
    issued: IssuedToken | None = None
    contact: Contact | None = None


def refuse(code: str, reason: str, issued: IssuedToken | None = None) -> Verdict:
    return Verdict(False, code, reason, issued=issued)


def answer_verdict(session: Session, network_slug: str, sender: str, token: str,
                   reply_token: str | None) -> Verdict:
    """May `sender` act on the bot mail that `token` was issued for?"""
    issued = tokens.lookup(session, token)
    if issued is None:
        return refuse(UNKNOWN_TOKEN, "the reply token was not issued by this bot")
    if issued.network_slug != network_slug:
        return refuse(OTHER_NETWORK, f"the reply token belongs to network {issued.network_slug}, "
                                     f"not {network_slug}")
    if reply_token and reply_token != token and tokens.lookup(session, reply_token) is not None:
        return refuse(TOKEN_MISMATCH, "the reply address and In-Reply-To name different bot mails")
    if not tokens.belongs_to(session, issued, sender):
        return refuse(WRONG_SENDER, f"the reply token was issued to another address, not "
                                    f"{sender or 'an unreadable From'}", issued=issued)
    contact = session.get(Contact, issued.contact_id) if issued.contact_id else find_contact(session, sender)
    return Verdict(True, issued=issued, contact=contact)


def meeting_matches(session: Session, issued: IssuedToken, uid: str, domain: str) -> Verdict:
    """An iTIP reply must be about the meeting its token was issued for."""
    meeting = session.get(Meeting, issued.meeting_id) if issued.meeting_id else None
    if meeting is None or calendar_uid(meeting.series_id, domain) != uid:
        return refuse(OTHER_MEETING, "the calendar reply is about another meeting than the invitation its "
                                     "token was issued for")
    return Verdict(True, issued=issued)


def member(session: Session, network_slug: str, sender: str, roles: tuple[str, ...] = MEMBER_ROLES) -> Contact | None:
    """The active contact behind `sender` with an active membership in the network (in one of
    `roles`), else None. An opted-out member is still a member."""
    if not sender:
        return None
    query = (select(Contact).join(Membership, Membership.contact_id == Contact.id).join(Network)
             .where(owns(sender.lower()), Contact.active == True, Network.slug == network_slug,  # noqa: E712
                    Membership.active == True, Membership.role.in_(roles)))  # noqa: E712
    return session.exec(query.limit(1)).first()


def holds_role(session: Session, network_slug: str, contact_id: int, roles: tuple[str, ...]) -> bool:
    """Does the contact hold one of the roles in this network now (not only when our mail was sent)?"""
    query = (select(Membership.id).join(Network).where(Network.slug == network_slug,
                                                        Membership.contact_id == contact_id,
                                                        Membership.active == True,  # noqa: E712
                                                        Membership.role.in_(roles)))
    return session.exec(query).first() is not None
