"""Handle: what the bot does with each kind of mail, after it is classified.

Every handler returns an Outcome; its effects (rows, outbox mail) are in the same
transaction, committed together with the outcome. Kinds whose handling belongs to
a later stage of the project are held with the reason "no handler yet": kept,
visible in `kkrbot inbox`, never dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from sqlmodel import Session

from bot.actions import agenda_items, member_commands, moderation
from bot.actions.bounces import bounced_address, record_bounce
from bot.actions.list_post import relay
from bot.actions.meeting_answers import draft_answer, minutes, rsvp
from bot.actions.opt_out import opt_out
from bot.actions.outcomes import HANDLED, HELD, IGNORED, NO_HANDLER, REJECTED, Outcome
from bot.actions.replies import refusal, reply
from bot.app import App
from bot.config.networks import NetworkConfig
from bot.inbound.parse import ParsedMail
from bot.inbound.reply_text import first_word
from bot.meetings.attendance import STATUS_BY_ANSWER, STATUS_BY_PARTSTAT
from bot.outbound.compose import Recipient
from bot.outbound.tokens import token_in_message_id, token_in_tag
from bot.people.recipients import post_recipients, recipient
from bot.rules import answers, authorize
from bot.rules.classify import (
    ANSWER,
    AUTO_REPLY,
    BOUNCE,
    BOUNCE_DELAYED,
    COMMAND,
    ITIP_REPLY,
    LOOP,
    POST,
    Classification,
    Inbound,
)
from bot.rules.classify import command as classify_command
from bot.store.audit import audit
from bot.store.models import Contact, InboundMessage


@dataclass
class Context:
    app: App
    session: Session
    row: InboundMessage
    mail: ParsedMail
    network: NetworkConfig
    inbound: Inbound
    classification: Classification

    def outcome(self, outcome: str, reason: str = "", kind: str | None = None) -> Outcome:
        return Outcome(outcome, reason, self.classification.rule, kind or self.classification.kind)

    def audit(self, action: str, detail: str = "") -> None:
        """An audit entry for what this mail's sender did, in the same transaction as the change."""
        audit(self.session, self.app.clock.now(), self.mail.from_address, action, network=self.network.slug,
              message_id=self.row.message_id, detail=detail)


def ignore(ctx: Context) -> Outcome:
    """Loops, auto-replies and delay notices are never answered and never relayed."""
    return ctx.outcome(IGNORED, f"{ctx.classification.kind} ({ctx.classification.rule})")


def bounce(ctx: Context) -> Outcome:
    detail = ctx.classification.detail
    address = bounced_address(ctx.session, detail.get("token"))
    named = ", ".join(detail.get("addresses", [])[:3])
    record_bounce(ctx.app, ctx.session, address, source="dsn", inbound_id=ctx.row.id,
                  detail=f"{ctx.classification.rule}; names {named or 'no address'}")
    who = address or f"no mail of ours (names {named or 'no address'}; counted against nobody)"
    return ctx.outcome(IGNORED, f"bounce for {who}")


def itip_reply(ctx: Context) -> Outcome:
    """Outlook's Accept/Decline: authorized by the token in the ORGANIZER address it was sent to."""
    from bot.outbound.calendar_invites import parse_reply

    token = token_in_tag(ctx.inbound.address.tag) or token_in_message_id(ctx.mail.in_reply_to)
    if token is None:
        return ctx.outcome(REJECTED, f"{authorize.UNKNOWN_TOKEN}: the calendar reply carries no reply token")
    verdict = authorize.answer_verdict(ctx.session, ctx.network.slug, ctx.mail.from_address, token, None)
    if not verdict.allowed:
        return ctx.outcome(REJECTED, f"{verdict.code}: {verdict.reason}")
    itip = parse_reply(ctx.classification.detail["calendar"])
    if itip is None:
        return ctx.outcome(REJECTED, "unreadable calendar reply")
    matched = authorize.meeting_matches(ctx.session, verdict.issued, itip.uid, ctx.network.domain)
    if not matched.allowed:
        return ctx.outcome(REJECTED, f"{matched.code}: {matched.reason}")
    kind = f"answer:{verdict.issued.kind}"
    status = STATUS_BY_PARTSTAT.get(itip.partstat)
    if status is None:
        return ctx.outcome(IGNORED, f"a calendar reply that answers nothing ({itip.partstat.lower()})", kind=kind)
    return rsvp(ctx, verdict, status, kind)


def answer(ctx: Context) -> Outcome:
    """A reply to a bot mail: authorized by its token, then read by its first word."""
    detail = ctx.classification.detail
    verdict = authorize.answer_verdict(ctx.session, ctx.network.slug, ctx.mail.from_address, detail["token"],
                                       detail.get("reply_token"))
    if not verdict.allowed:
        told = verdict.code == authorize.WRONG_SENDER and tell_token_owner(ctx, verdict.issued)
        return ctx.outcome(REJECTED, f"{verdict.code}: {verdict.reason}" + ("; the owner was told" if told else ""))
    issued = verdict.issued
    kind = f"answer:{issued.kind}"
    if issued.kind in answers.AUTOMATIC:
        return command_in_reply(ctx) or ctx.outcome(
            IGNORED, "a reply to an automatic mail of ours: not answered again", kind=kind)
    if issued.kind == "list-unsubscribe":  # the List-Unsubscribe address: opted out at once
        return unsubscribe(ctx, verdict, kind)
    word = first_word(ctx.mail.text)
    meaning = answers.intent(issued.kind, word)
    if meaning is None:
        sent = refusal(ctx, "not-understood", detail=word)
        return ctx.outcome(HANDLED, f"answer not understood (first word {word!r}): {_said(sent, 'help sent')}",
                           kind=kind)
    if issued.kind == "unsubscribe-confirm":
        return unsubscribe(ctx, verdict, kind)
    return ANSWER_HANDLERS.get(issued.kind, held_answer)(ctx, verdict, meaning, kind)


def command_in_reply(ctx: Context) -> Outcome | None:
    """A reply to the help text (or another automatic mail) with a command as its subject, as the help
    text tells people to write, is that command. None of our automatic mails has a command as its
    subject, so an auto-responder answering one ("SV: Hjælp: <network>") is still not answered."""
    found = classify_command(ctx.inbound)
    return command(replace(ctx, classification=found)) if found else None


def held_answer(ctx: Context, verdict: authorize.Verdict, meaning: str, kind: str) -> Outcome:
    return ctx.outcome(HELD, f"{NO_HANDLER} ({meaning})", kind=kind)


def meeting_answer(ctx: Context, verdict: authorize.Verdict, meaning: str, kind: str) -> Outcome:
    return rsvp(ctx, verdict, STATUS_BY_ANSWER[meaning], kind)


# What an understood answer does, by the kind of mail it answers.
ANSWER_HANDLERS: dict[str, Callable[..., Outcome]] = {
    **{k: meeting_answer for k in ("invitation", "agenda", "meeting-update", "reminder", "rsvp-ack")},
    "draft": draft_answer, "draft-reminder": draft_answer,
    "call": lambda ctx, verdict, meaning, kind: agenda_items.propose_by_answer(ctx, verdict, kind),
    "item-ack": lambda ctx, verdict, meaning, kind: agenda_items.correct(ctx, verdict, kind),
    "late-item-approval": lambda ctx, verdict, meaning, kind: agenda_items.take_in_late(ctx, verdict, kind),
    "minutes-request": lambda ctx, verdict, meaning, kind: minutes(ctx, verdict, kind),
    "minutes-reminder": lambda ctx, verdict, meaning, kind: minutes(ctx, verdict, kind),
    "moderation-request": moderation.answer,
}


def tell_token_owner(ctx: Context, issued) -> bool:
    """A reply with someone else's token: they are told which address tried, at their registered
    address; the address that tried gets nothing (it may be forged)."""
    owner = ctx.session.get(Contact, issued.contact_id) if issued.contact_id else None
    to = recipient(owner) if owner else Recipient(issued.address)
    return refusal(ctx, "wrong-sender", detail=ctx.mail.from_address, to=to)


def unsubscribe(ctx: Context, verdict: authorize.Verdict, kind: str) -> Outcome:
    if verdict.contact is None or not opt_out(ctx.session, verdict.contact, ctx.network.slug, ctx.app.clock.now()):
        return ctx.outcome(HANDLED, "already opted out (or not a member)", kind=kind)
    ctx.audit("opt-out", f"opted out of {ctx.network.slug}")
    reply(ctx, "unsubscribe-done")
    return ctx.outcome(HANDLED, f"opted out of {ctx.network.slug}", kind=kind)


def command(ctx: Context) -> Outcome:
    name = ctx.classification.detail["command"]
    kind = f"command:{name}"
    if name == "help":
        return ctx.outcome(HANDLED, _said(reply(ctx, "help"), "help sent"), kind=kind)
    roles = authorize.CONTACT_LIST_ROLES if name == "contacts" else authorize.MEMBER_ROLES
    contact = authorize.member(ctx.session, ctx.network.slug, ctx.mail.from_address, roles)
    if contact is None:
        return ctx.outcome(REJECTED, f"not a member of {ctx.network.slug}: "
                                     + _said(refusal(ctx, "not-member"), "refusal sent"), kind=kind)
    if name == "unsubscribe":  # asks to confirm: a forged From cannot opt somebody out
        return ctx.outcome(HANDLED, _said(reply(ctx, "unsubscribe-confirm"), "confirmation requested"), kind=kind)
    if name == "agenda-item":
        return agenda_items.propose_by_command(ctx, ctx.classification.detail["title"], contact, kind)
    if name == "contacts":
        return member_commands.send_contact_list(ctx, kind)
    if name in member_commands.SETTINGS:
        return member_commands.change_setting(ctx, contact, name, kind)
    return ctx.outcome(HELD, NO_HANDLER, kind=kind)


def _said(queued: bool, what: str) -> str:
    """The outcome's words for an answer: what was sent, or that it was not (a limit stopped it)."""
    return what if queued else f"{what.split()[0]} not sent (daily limit, or no one to answer)"


def post(ctx: Context) -> Outcome:
    """A member's post goes to every member (not those who paused list posts, nor the author who asked
    for no copy); anything doubtful waits for a person (bot/actions/moderation.py)."""
    author = authorize.member(ctx.session, ctx.network.slug, ctx.mail.from_address)
    why = moderation.why_held(ctx, author)
    if why is not None:
        return moderation.hold(ctx, why)
    recipients = post_recipients(ctx.session, ctx.network.slug, author)
    queued = relay(ctx.app, ctx.session, ctx.network, ctx.row.id, ctx.mail.raw, ctx.mail.from_name, ctx.mail.from_address,
                   ctx.mail.subject, recipients, post_key=f"post:{ctx.row.id}")
    return ctx.outcome(HANDLED, f"relayed to {queued} members")


HANDLERS: dict[str, Callable[[Context], Outcome]] = {
    LOOP: ignore, AUTO_REPLY: ignore, BOUNCE_DELAYED: ignore, BOUNCE: bounce,
    ITIP_REPLY: itip_reply, ANSWER: answer, COMMAND: command, POST: post,
}


PERSONAL_KINDS = (ITIP_REPLY, ANSWER, COMMAND, POST)  # mail a person wrote: we must know who
ACTING_KINDS = (ITIP_REPLY, ANSWER, COMMAND)  # mail that asks the bot to do or answer something


def handle(ctx: Context) -> Outcome:
    if ctx.classification.kind in PERSONAL_KINDS and not _single_sender(ctx.mail):
        return ctx.outcome(REJECTED, "no single valid From address: cannot tell who wrote it")
    if ctx.classification.kind in ACTING_KINDS and ctx.row.dmarc == "fail":
        # The trusted server says the From is forged: nothing is done and nobody is answered.
        return ctx.outcome(REJECTED, "the sender's domain failed DMARC: not acted on, not answered")
    return HANDLERS[ctx.classification.kind](ctx)


def _single_sender(mail: ParsedMail) -> bool:
    return bool(mail.from_address) and not {"NoSingleFromAddress", "UnparsableFrom"} & set(mail.defects)
