"""Every table, and what `gdpr export` shows of it and `gdpr forget` does with it: one place.

`POLICIES` names every table of bot/store/models.py; a test walks the schema and fails on a
table missing here, so a new table cannot hold personal data unnoticed. `rows` says which
rows are about the person (None: none by its keys; `gdpr export` adds, for every table, the rows
whose text names one of their addresses); `forget` is what happens to
them: `delete`, `anonymise` (the row stays, what names the person is cleared) or `keep`
(nothing in it names the person by itself). Whatever the policy, `gdpr forget` also
replaces the person's name and addresses wherever they appear in a kept text column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import String, cast, false, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from bot.privacy.person import Person
from bot.store.models import (
    AgendaItem,
    Alias,
    Appendix,
    Attendance,
    AuditLog,
    Bounce,
    Contact,
    HeldPost,
    InboundMessage,
    InboundRaw,
    IssuedToken,
    Membership,
    Minutes,
    OutboxMessage,
    OutboxPart,
    SendJob,
)

DELETE, ANONYMISE, KEEP = "delete", "anonymise", "keep"
Rows = Callable[[Person], ColumnElement[bool]]


@dataclass(frozen=True)
class Policy:
    rows: Rows | None  # which rows are about the person; None: none is
    forget: str  # delete, anonymise or keep
    export: str  # what `gdpr export` shows (for the README's table)
    why: str  # what `gdpr forget` does and why (for the README's table)


def _lower_in(column, person: Person) -> ColumnElement[bool]:
    return func.lower(column).in_(person.addresses)


def _is_contact(column, person: Person) -> ColumnElement[bool]:
    return column == person.contact_id if person.contact_id is not None else false()


def their_inbound(person: Person):
    """The ids of the mail the person sent (by the From or the envelope sender)."""
    return select(InboundMessage.id).where(or_(_lower_in(InboundMessage.from_address, person),
                                               _lower_in(InboundMessage.envelope_from, person)))


def their_jobs(person: Person):
    return select(SendJob.id).where(SendJob.inbound_id.in_(their_inbound(person)))


def their_held(person: Person):
    """Their posts held for moderation (by the From, or as mail they sent)."""
    return select(HeldPost.id).where(or_(_lower_in(HeldPost.sender, person), HeldPost.inbound_id.in_(their_inbound(person))))


def _requests_about_their_posts(person: Person):
    """The moderation requests that quote their held posts (keyed `moderation-request:<held id>:<moderator>`)."""
    key = literal("moderation-request:") + cast(HeldPost.id, String) + literal(":%")
    return (select(OutboxMessage.id).join(HeldPost, OutboxMessage.dedupe_key.like(key))
            .where(HeldPost.id.in_(their_held(person))))


def their_outbox(person: Person):
    """Mail to them, the copies of their own relayed posts, and the requests that quote their held posts."""
    return select(OutboxMessage.id).where(or_(_lower_in(OutboxMessage.recipient, person),
                                              OutboxMessage.job_id.in_(their_jobs(person)),
                                              OutboxMessage.id.in_(_requests_about_their_posts(person))))




POLICIES: dict[str, Policy] = {
    "network": Policy(None, KEEP, "-", "kept: a network names no person"),
    "contact": Policy(lambda p: _is_contact(Contact.id, p), ANONYMISE, "the contact row",
                      "anonymised: name and e-mail cleared, shown as \"tidligere medlem\"; organisation, "
                      "municipality and region stay for the attendance report"),
    "alias": Policy(lambda p: _is_contact(Alias.contact_id, p), DELETE, "their aliases", "deleted"),
    "membership": Policy(lambda p: _is_contact(Membership.contact_id, p), DELETE,
                         "memberships, roles and opt-outs", "deleted"),
    "meeting": Policy(None, KEEP, "-", "kept: a meeting names no person"),
    "cyclestep": Policy(None, KEEP, "-", "kept: counts and reasons, no person"),
    "agendaitem": Policy(lambda p: _is_contact(AgendaItem.submitter_id, p), KEEP, "items they proposed",
                         "kept for the agendas and minutes; the proposer shows as \"tidligere medlem\""),
    "appendix": Policy(lambda p: Appendix.agenda_item_id.in_(select(AgendaItem.id).where(
        _is_contact(AgendaItem.submitter_id, p))), KEEP, "the files of their items (bytes with --with-bodies)",
        "kept: bilag of the agendas (their contents are not searched)"),
    "attendance": Policy(lambda p: _is_contact(Attendance.contact_id, p), KEEP, "RSVPs and attendance",
                         "kept for the attendance report, counted under \"tidligere medlem\""),
    "minutes": Policy(lambda p: Minutes.inbound_id.in_(their_inbound(p)), KEEP, "minutes they sent",
                      "kept; their name and addresses in the text are replaced"),
    "inboundmessage": Policy(lambda p: InboundMessage.id.in_(their_inbound(p)), DELETE,
                             "mails they sent: headers, outcome, reason", "deleted"),
    "inboundraw": Policy(lambda p: InboundRaw.inbound_id.in_(their_inbound(p)), DELETE,
                         "the raw mails they sent (with --with-bodies)",
                         "deleted; so is another sender's raw mail that names them, once handled"),
    "imapcursor": Policy(None, KEEP, "-", "kept: a mailbox position"),
    "issuedtoken": Policy(lambda p: or_(_is_contact(IssuedToken.contact_id, p), _lower_in(IssuedToken.address, p)),
                          DELETE, "reply tokens issued to them", "deleted: replies to old mail no longer act"),
    "sendjob": Policy(lambda p: SendJob.inbound_id.in_(their_inbound(p)), DELETE, "their relayed posts",
                      "deleted, with copies not yet sent"),
    "sharedcontent": Policy(None, KEEP, "-", "kept: appendix bytes shared by queued mail, dropped once sent"),
    "outboxpart": Policy(lambda p: OutboxPart.outbox_id.in_(their_outbox(p)), DELETE,
                         "where shared files go into their mail", "deleted"),
    "outboxmessage": Policy(lambda p: OutboxMessage.id.in_(their_outbox(p)), DELETE,
                            "mails to them, and the moderation requests quoting their held posts: kind, date, "
                            "status (text of queued ones with --with-bodies)",
                            "deleted"),
    "bounce": Policy(lambda p: or_(_lower_in(Bounce.address, p), _is_contact(Bounce.contact_id, p)), DELETE,
                     "bounces of their addresses", "deleted"),
    "adminevent": Policy(None, KEEP, "administrator events naming them",
                         "kept; their name and addresses in the text are replaced"),
    "auditlog": Policy(lambda p: _lower_in(AuditLog.actor, p), ANONYMISE, "audit entries naming them",
                       "anonymised: the actor becomes \"erased\", the Message-ID is cleared"),
    "heldpost": Policy(lambda p: HeldPost.id.in_(their_held(p)),
                       DELETE, "their posts held for moderation: reason, status, dates",
                       "deleted with the mail they sent; a moderator's address in a kept row is replaced"),
    "lease": Policy(None, KEEP, "-", "kept: which process holds shared work (a mailbox, a job), no person"),
    "configgeneration": Policy(None, KEEP, "-", "kept: digests of config files"),
    "erasure": Policy(None, KEEP, "-", "kept: the record of the erasure, an HMAC of each address"),
}


def policy(table: str) -> Policy:
    """The table's policy; a table nobody classified is an error, never a silent pass."""
    try:
        return POLICIES[table]
    except KeyError:
        raise KeyError(f"table {table!r} has no data-protection policy in bot/privacy/policy.py") from None
