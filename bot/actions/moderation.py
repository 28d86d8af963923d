"""Moderation: a held post waits for the network's secretary, who answers Godkend or Afvis.

Holding a post records a HeldPost and, in the same transaction, asks the secretary: a
`moderation-request` with the post's text quoted and its attachments named (never attached:
a stranger's file should not reach anyone before a person has looked), carrying a token that
points to this one held post. Strangers cause these mails, so at most REQUESTS_PER_DAY go out
per network and local day; the day's other held posts are listed in one `moderation-digest`
once the day is over (`tick`), which points to `kkrbot held`.

`decide` is the one place a held post is approved or rejected, whether by reply or from the
command line: an approved post is relayed exactly as a member's post is (the same relay, From
rewriting and dedupe key), a rejected one is answered with a polite `moderation-result`. Posts
nobody decides on expire after the network's `moderation_days`, and the sender is told once
(one dedupe key for every result, so rejected-then-expired cannot both be told). The sender is
never told when their mail failed DMARC (the From may be forged: that would be backscatter),
and a stranger at most once a day, as every answer (bot/actions/replies.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from bot.actions.list_post import relay
from bot.actions.outcomes import HANDLED, HELD, REJECTED, Outcome
from bot.actions.replies import refusal, suppresses_acknowledgements, within_daily_limit
from bot.app import App
from bot.config.networks import NetworkConfig
from bot.core.logs import log_event
from bot.inbound.parse import ParsedMail, ParseLimits, parse
from bot.inbound.reply_text import GREETING, WORD, written_part
from bot.outbound.compose import AUTO_REPLIED, Letter, compose
from bot.outbound.outbox import enqueue
from bot.people.recipients import post_recipients, recipient, role_holders, sender_recipient
from bot.rules import authorize
from bot.rules.answers import APPROVE
from bot.store.audit import audit
from bot.store.blobs import read_raw
from bot.store.db import session_scope
from bot.store.models import Contact, HeldPost, InboundMessage, IssuedToken

REQUESTS_PER_DAY = 10  # moderation requests per network and day; the rest go in the day's digest
EXCERPT_CHARS = 8000  # of the post's text quoted in the request
DIGEST_ROWS = 100  # posts listed in a digest; a flood's rest is counted, and `kkrbot held` lists it
DMARC_FAIL, NON_MEMBER, UNVERIFIED, TOO_LARGE = "dmarc-fail", "non-member", "unverified", "too-large"
WAITING, APPROVED, REJECTED_POST, EXPIRED = "held", "approved", "rejected", "expired"
REF_PREFIX = "held:"  # IssuedToken.ref of a moderation request: which held post it asks about


class ModerationError(Exception):
    """A decision that cannot be made (no such held post, or it is decided already); one line."""


@dataclass(frozen=True)
class Hold:
    """Why a post waits for a person: a reason code (the request's template says it) and words for the log."""

    code: str
    words: str


def why_held(ctx, author: Contact | None) -> Hold | None:
    """A post is held when the trusted server says DMARC failed, the sender is no member (`author`,
    looked up once by the post handler, is None), the sender is not verified where the network wants
    that, or it is larger than the network relays unasked."""
    settings, network, row = ctx.app.settings, ctx.network, ctx.row
    if row.dmarc == "fail":
        return Hold(DMARC_FAIL, "the sender's domain failed DMARC")
    if author is None:
        return Hold(NON_MEMBER, "not a member")
    if row.dmarc != "pass" and settings.unverified_posts(network) == "hold":
        return Hold(UNVERIFIED, "the sender is not verified (no DMARC verdict from the trusted mail server)")
    if row.size > settings.max_post_bytes(network):
        return Hold(TOO_LARGE, f"{row.size} bytes, above the network's max_post_bytes "
                               f"({settings.max_post_bytes(network)})")
    return None


def hold(ctx, why: Hold) -> Outcome:
    """Keep the post for a person and ask the secretary, in the transaction of the outcome."""
    session, now = ctx.session, ctx.app.clock.now()
    if session.exec(select(HeldPost.id).where(HeldPost.inbound_id == ctx.row.id)).first() is None:
        held = HeldPost(inbound_id=ctx.row.id, network_slug=ctx.network.slug,
                        sender=ctx.mail.from_address.lower()[:320], sender_name=ctx.mail.from_name[:200],
                        subject=ctx.mail.subject[:500], message_id=ctx.mail.message_id[:500], reason=why.code,
                        tell_sender=ctx.row.dmarc != "fail", held_at=now,
                        expires_at=now + timedelta(days=ctx.network.moderation_days))
        session.add(held)
        session.flush()
        log_event("post_held", id=held.id, network=held.network_slug, reason=why.code,
                  asked=ask_secretary(ctx.app, session, ctx.network, held, ctx.row, ctx.mail))
    return ctx.outcome(HELD, f"{why.words}: held for moderation")


def ask_secretary(app: App, session: Session, network: NetworkConfig, held: HeldPost, row: InboundMessage,
                  mail: ParsedMail) -> str:
    """Queue the moderation request, unless the day's requests are used up (then the digest lists it)."""
    secretaries = role_holders(session, network.slug, "secretary")
    if not secretaries:
        return "no secretary"
    if requests_today(session, network, app.clock.now()) >= REQUESTS_PER_DAY:
        return "daily limit: in the digest"
    post = post_view(held, row, mail) | {"limit": app.settings.max_post_bytes(network)}
    for secretary in secretaries:
        letter = Letter(kind="moderation-request", network=network, recipient=recipient(secretary),
                        dedupe_key=f"moderation-request:{held.id}:{secretary.email}", context={"post": post},
                        token_ref=f"{REF_PREFIX}{held.id}")
        enqueue(session, compose(app, session, letter))
    held.requested_at = app.clock.now()
    return "requested"


def requests_today(session: Session, network: NetworkConfig, now: datetime) -> int:
    """Requests asked today (the network's local day), the batch's own included."""
    session.flush()
    query = select(func.count()).select_from(HeldPost).where(
        HeldPost.network_slug == network.slug, HeldPost.requested_at >= day_start(now, network.timezone))
    return session.exec(query).one()


def day_start(moment: datetime, timezone: str) -> datetime:
    local = moment.astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def post_view(held: HeldPost, row: InboundMessage, mail: ParsedMail) -> dict:
    """What the secretary sees of the post: its text (cut at EXCERPT_CHARS) and its files by name."""
    text = mail.text.strip()
    excerpt = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS].rsplit(" ", 1)[0] + " […]"
    sender = f"{held.sender_name} <{held.sender}>" if held.sender_name else held.sender
    return {"id": held.id, "sender": sender, "subject": held.subject, "excerpt": excerpt, "reason": held.reason,
            "received_at": row.received_at, "expires_at": held.expires_at, "size": row.size,
            "attachments": [{"filename": a.filename, "size": a.size} for a in mail.attachments]}


# -- decisions ------------------------------------------------------------------------------

def answer(ctx, verdict: authorize.Verdict, meaning: str, kind: str) -> Outcome:
    """The secretary's Godkend or Afvis to a moderation request (its token already checked)."""
    held = held_for(ctx.session, verdict.issued)
    if held is None or held.network_slug != ctx.network.slug:
        return ctx.outcome(REJECTED, "the moderation request answered is for no held post we know", kind=kind)
    if verdict.contact is None or not authorize.holds_role(ctx.session, ctx.network.slug, verdict.contact.id,
                                                           ("secretary",)):
        refusal(ctx, "not-allowed")
        return ctx.outcome(REJECTED, "only the secretary decides on held posts", kind=kind)
    if held.status != WAITING:
        told = refusal(ctx, "already-moderated")
        return ctx.outcome(HANDLED, f"held post #{held.id} was already {held.status}: nothing changed"
                                    + ("; the secretary was told" if told else ""), kind=kind)
    reason = "" if meaning == APPROVE else reject_reason(ctx.mail.text)
    try:
        summary = decide(ctx.app, ctx.session, held, meaning == APPROVE, ctx.mail.from_address.lower(), reason)
    except ModerationError as error:  # its stored mail is gone: nothing to relay, and nothing changed
        return ctx.outcome(REJECTED, str(error), kind=kind)
    return ctx.outcome(HANDLED, summary, kind=kind)


def held_for(session: Session, issued: IssuedToken) -> HeldPost | None:
    if not issued.ref.startswith(REF_PREFIX) or not issued.ref[len(REF_PREFIX):].isdigit():
        return None
    return session.get(HeldPost, int(issued.ref[len(REF_PREFIX):]))


def reject_reason(text: str) -> str:
    """What follows `Afvis` on its line, and the lines right under it: "Afvis: reklame" → "reklame"."""
    lines = [line.strip() for line in written_part(text).split("\n")]
    while lines and (not lines[0] or GREETING.match(lines[0])):
        lines.pop(0)
    if not lines:
        return ""
    found = WORD.search(lines[0])
    said = [lines[0][found.end():] if found else lines[0]]
    for line in lines[1:]:
        if not line:
            break
        said.append(line)
    return " ".join(" ".join(said).split()).strip(" :;,.-–—")[:500]


def decide(app: App, session: Session, held: HeldPost, approve: bool, by: str, reason: str = "") -> str:
    """Approve (relay) or reject (tell the sender) a held post; return what was done, for the outcome.

    The one place where a moderation decision happens, by reply or from the command line, so it is
    the one place that writes the decision's audit entry. A post that cannot be relayed raises ModerationError before
    anything is changed."""
    network = app.settings.network(held.network_slug)
    relayed, mail = relay_held(app, session, network, held) if approve else (0, None)
    held.status = APPROVED if approve else REJECTED_POST
    held.decided_at, held.decided_by, held.decision_reason = app.clock.now(), by, reason
    if approve:
        told = not suppresses_acknowledgements(mail) and tell_sender(app, session, held, APPROVED)
        done = f"held post #{held.id} approved by {by}: relayed to {relayed} members"
    else:
        told = tell_sender(app, session, held, REJECTED_POST, reason)
        done = f"held post #{held.id} rejected by {by}"
    log_event("post_moderated", id=held.id, network=held.network_slug, decision=held.status, by=by, told=told)
    audit(session, held.decided_at, by, f"post-{held.status}", network=held.network_slug, message_id=held.message_id,
          detail=f"held post #{held.id} ({held.reason})" + (f", {relayed} copies" if approve else ""))
    return done + ("; the sender was told" if told else "; the sender was not told")


def relay_held(app: App, session: Session, network: NetworkConfig, held: HeldPost) -> tuple[int, ParsedMail]:
    """The post as a member's would go: the same relay and the same key (`post:<inbound id>`), so a post
    that somehow went out already is never sent twice. Returns how many copies, and the parsed post."""
    row = session.get(InboundMessage, held.inbound_id)
    raw = bytes(read_raw(session, row.id, row.size))
    if not raw:
        raise ModerationError(f"held post #{held.id}: its stored mail is gone, so it cannot be relayed")
    mail = held_mail(app, raw)
    author = authorize.member(session, network.slug, mail.from_address)
    return relay(app, session, network, row.id, raw, mail.from_name, mail.from_address, mail.subject,
                 post_recipients(session, network.slug, author), post_key=f"post:{row.id}"), mail


def held_mail(app: App, raw: bytes) -> ParsedMail:
    limits = app.settings.limits
    return parse(raw, ParseLimits(max_attachment_bytes=limits.max_attachment_bytes,
                                  max_attachments_bytes=limits.max_message_bytes, max_nesting=limits.max_nesting))


def tell_sender(app: App, session: Session, held: HeldPost, outcome: str, reason: str = "") -> bool:
    """The sender's one moderation-result, threaded under their post; False when not sent (DMARC
    failed, one of our own addresses, the daily limit, or told already)."""
    network = app.settings.network(held.network_slug)
    to = sender_recipient(session, held.sender, held.sender_name)
    if not held.tell_sender or not to.address or to.address.endswith("@" + network.domain):
        return False
    if not within_daily_limit(session, app.clock.now(), to, "moderation-result"):
        return False
    letter = Letter(kind="moderation-result", network=network, recipient=to,
                    dedupe_key=f"reply:{held.inbound_id}:moderation-result",
                    context={"post": {"subject": held.subject}, "outcome": outcome, "reason": reason},
                    auto_submitted=AUTO_REPLIED, in_reply_to=held.message_id)
    return enqueue(session, compose(app, session, letter))


def decide_by_id(app: App, held_id: int, approve: bool, reason: str = "") -> str:
    """`kkrbot held approve|reject ID`: the same decision as the secretary's answer, by the administrator."""
    with session_scope(app.engine) as session:
        held = session.get(HeldPost, held_id)
        if held is None:
            raise ModerationError(f"no held post #{held_id}")
        if held.status != WAITING:
            raise ModerationError(f"held post #{held_id} was already {held.status}; nothing changed")
        try:
            app.settings.network(held.network_slug)
        except KeyError:
            raise ModerationError(f"held post #{held_id} is for network {held.network_slug!r}, "
                                  "which is no longer in networks.toml") from None
        return decide(app, session, held, approve, "admin", reason)


# -- the scheduled job: expiry and the daily digest --------------------------------------------

def tick(app: App) -> int:
    """Expire what waited too long and send the digests of days that are over; return mails queued."""
    return expire_due(app) + send_digests(app)


def expire_due(app: App) -> int:
    """Held posts past their `expires_at` expire, and their senders are told (once)."""
    now, told = app.clock.now(), 0
    with session_scope(app.engine) as session:
        due = session.exec(select(HeldPost).where(HeldPost.status == WAITING, HeldPost.expires_at <= now)
                           .order_by(HeldPost.id).limit(500)).all()
        for held in due:
            held.status, held.decided_at, held.decided_by = EXPIRED, now, "system"
            known = any(n.slug == held.network_slug for n in app.settings.networks)
            told += known and tell_sender(app, session, held, EXPIRED)
            log_event("post_expired", id=held.id, network=held.network_slug)
    return told


def send_digests(app: App) -> int:
    """For each network, the held posts of finished days that got no request: one digest per day."""
    queued = 0
    for network in app.settings.networks:
        with session_scope(app.engine) as session:
            queued += _digest(app, session, network)
    return queued


def _digest(app: App, session: Session, network: NetworkConfig) -> int:
    today = day_start(app.clock.now(), network.timezone)
    waiting = session.exec(select(HeldPost).where(
        HeldPost.network_slug == network.slug, HeldPost.status == WAITING, HeldPost.requested_at == None,  # noqa: E711
        HeldPost.digested_at == None, HeldPost.held_at < today).order_by(HeldPost.id)).all()  # noqa: E711
    secretaries = role_holders(session, network.slug, "secretary")
    if not waiting or not secretaries:
        return 0
    by_day: dict[str, list[HeldPost]] = {}
    for held in waiting:
        by_day.setdefault(day_start(held.held_at, network.timezone).date().isoformat(), []).append(held)
    queued = 0
    for day, posts in by_day.items():
        context = {"day": day_start(posts[0].held_at, network.timezone),
                   "posts": [_listed(p) for p in posts[:DIGEST_ROWS]], "more": max(0, len(posts) - DIGEST_ROWS)}
        for secretary in secretaries:
            letter = Letter(kind="moderation-digest", network=network, recipient=recipient(secretary),
                            dedupe_key=f"moderation-digest:{network.slug}:{day}:{secretary.email}", context=context)
            queued += enqueue(session, compose(app, session, letter))
        for held in posts:
            held.digested_at = app.clock.now()
    return queued


def _listed(held: HeldPost) -> dict:
    sender = f"{held.sender_name} <{held.sender}>" if held.sender_name else held.sender
    return {"id": held.id, "sender": sender, "subject": held.subject, "reason": held.reason,
            "received_at": held.held_at, "expires_at": held.expires_at}
