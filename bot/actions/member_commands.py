"""Commands a member sends for themselves: the contact list, and their own list settings.

`kontakter` answers with the network's contact list: a table by region in the mail and a
CSV file that Danish Excel opens. `ingen kopi` / `kopi` and `pause` / `genoptag` change the
sender's own memberships of the network the mail was sent to (list posts only: meeting and
role mail never pause). Every answer goes to the contact's registered address, never to
the From as written, so a forged From gets neither the list nor a confirmation; and a
setting changes only together with its confirmation, so a member always learns of a
change someone else made in their name and can undo it with one mail.
"""
from __future__ import annotations

from sqlmodel import select

from bot.actions.outcomes import HANDLED, REJECTED, Outcome
from bot.actions.replies import refusal, reply
from bot.people.contact_list import contact_list_letter
from bot.people.recipients import MEMBER_MAIL_ROLES
from bot.store.models import Contact, Membership, Network

# command -> (the membership's column, its new value)
SETTINGS = {"no-copy": ("no_copy", True), "copy": ("no_copy", False),
            "pause": ("paused", True), "resume": ("paused", False)}


def send_contact_list(ctx, kind: str) -> Outcome:
    """The network's contact list to the asker, as a table by region and a CSV attachment."""
    context, attachment = contact_list_letter(ctx.session, ctx.network.slug, ctx.network.language)
    if reply(ctx, "contacts", context, attachments=(attachment,)):
        return ctx.outcome(HANDLED, f"contact list sent ({context['count']} contacts)", kind=kind)
    return ctx.outcome(HANDLED, "contact list not sent (daily limit, or no one to answer)", kind=kind)


def change_setting(ctx, contact: Contact, name: str, kind: str) -> Outcome:
    """Apply `no-copy`, `copy`, `pause` or `resume` to the sender's list memberships of this network,
    only if its confirmation can be sent (the daily limit may stop it)."""
    memberships = _list_memberships(ctx, contact)
    if not memberships:
        sent = refusal(ctx, "not-member")
        return ctx.outcome(REJECTED, f"not on the list of {ctx.network.slug}: "
                                     f"{'refusal sent' if sent else 'refusal not sent (daily limit)'}", kind=kind)
    column, value = SETTINGS[name]
    opted_out = all(m.opted_out for m in memberships)
    if not reply(ctx, "settings", {"setting": name, "opted_out": opted_out}, tag=name):
        return ctx.outcome(HANDLED, f"{name} not applied: its confirmation could not be sent (daily limit)",
                           kind=kind)
    already = all(getattr(m, column) == value for m in memberships)
    for membership in memberships:
        setattr(membership, column, value)
        if column == "paused":
            membership.paused_at = ctx.app.clock.now() if value else None
    ctx.session.flush()  # a post later in the same batch must see it
    ctx.audit(f"setting-{name}", f"{name} for {ctx.network.slug}{' (already so)' if already else ''}")
    return ctx.outcome(HANDLED, f"{name} for {ctx.network.slug}{' (already so)' if already else ''}: "
                                "confirmation sent", kind=kind)


def _list_memberships(ctx, contact: Contact) -> list[Membership]:
    query = (select(Membership).join(Network).where(Network.slug == ctx.network.slug,
                                                    Membership.contact_id == contact.id,
                                                    Membership.active == True,  # noqa: E712
                                                    Membership.role.in_(MEMBER_MAIL_ROLES)))
    return list(ctx.session.exec(query))
