"""The meeting cycle: one tick works out from the database what is due, and queues it.

A scheduler job calls `tick` every minute and at start; nothing is scheduled per mail.
Each step of a meeting (invitation, call for items, draft, agenda, reminder, minutes
request and reminders, and the update or cancellation when config changes a meeting)
is due at a moment computed from the meeting and the network's lead times (SPEC.md).
A step that is done is a CycleStep row, written in the transaction that queues its
letters under dedupe keys: a restart, a missed tick, a clock jump or a second process
never sends anything twice (the second insert of a step fails and rolls its letters
back). A step whose moment passed so long ago that it would confuse (a call for items
after the agenda went out; anything for a meeting that has begun) is skipped, logged,
and shown in `kkrbot status`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.app import App
from bot.config.networks import NetworkConfig
from bot.core.logs import log_event
from bot.meetings.letters import meeting_letter
from bot.outbound.compose import compose
from bot.outbound.outbox import enqueue
from bot.people.recipients import members, recipient, role_holders
from bot.store.db import session_scope
from bot.store.models import CycleStep, Meeting, Minutes, Network

SENT, SKIPPED = "sent", "skipped"
LOOK_BACK = timedelta(days=60)  # meetings this long ago still get their minutes reminders
MINUTES_REMINDERS = 8  # weekly, while no minutes have come


@dataclass(frozen=True)
class Due:
    """A step that is due now: its key, its mail kind, who gets it, and whether it is too late."""

    step: str
    kind: str
    audience: str  # members, approvers (chair and vice-chair), chair (the vice-chair if none), secretary
    too_late: str = ""  # why it is skipped instead, when it is
    occurrence: str = ""


def tick(app: App, network: str | None = None) -> int:
    """Queue every step that is due; return how many steps were done (sent or skipped).

    `network` limits it to one network's meetings (`kkrbot demo` runs one network's year)."""
    now = app.clock.now()
    query = select(Meeting.id).where(Meeting.starts_at >= now - LOOK_BACK)
    if network is not None:
        query = query.join(Network).where(Network.slug == network)
    with Session(app.engine) as session:
        meetings = session.exec(query).all()
    done = 0
    for meeting_id in meetings:
        for due in _due_steps(app, meeting_id, now):
            done += _do(app, meeting_id, due, now)
    return done


def _due_steps(app: App, meeting_id: int, now: datetime) -> list[Due]:
    with Session(app.engine) as session:
        meeting = session.get(Meeting, meeting_id)
        network = _network(app, session, meeting)
        if network is None:
            return []
        done = {s.step: s for s in session.exec(select(CycleStep).where(CycleStep.meeting_id == meeting_id))}
        has_minutes = session.exec(select(Minutes.id).where(Minutes.meeting_id == meeting_id)).first() is not None
    steps = [d for d in _calendar_steps(meeting, network, done, now) + _agenda_steps(meeting, network, done, now)
             + _minutes_steps(meeting, network, done, now, has_minutes) if d.step not in done]
    return steps


def _network(app: App, session: Session, meeting: Meeting) -> NetworkConfig | None:
    slug = session.exec(select(Network.slug).where(Network.id == meeting.network_id, Network.active == True)).first()  # noqa: E712
    try:
        return app.settings.network(slug) if slug else None
    except KeyError:
        return None


def _calendar_steps(meeting: Meeting, network: NetworkConfig, done: dict, now: datetime) -> list[Due]:
    """The invitation; an update when the meeting changed since people's calendars got it; a cancellation."""
    lead, started = network.lead_times, now >= meeting.starts_at
    invited = any(s.state == SENT for key, s in done.items() if key in ("invitation", "agenda")
                  or key.startswith("meeting-update:"))
    if meeting.status == "cancelled":
        return [Due("cancel", "cancel", "members", "the meeting had begun" if started else "")] if invited else []
    if not invited:
        if now < meeting.starts_at - timedelta(days=lead.invitation):
            return []
        return [Due("invitation", "invitation", "members", "the meeting had begun" if started else "")]
    told = max(s.sequence for key, s in done.items()
               if s.state == SENT and (key in ("invitation", "agenda") or key.startswith("meeting-update:")))
    if meeting.sequence > told:
        return [Due(f"meeting-update:{meeting.sequence}", "meeting-update", "members",
                    "the meeting had begun" if started else "")]
    return []


def _agenda_steps(meeting: Meeting, network: NetworkConfig, done: dict, now: datetime) -> list[Due]:
    """Call for items, draft to the approvers (and their daily reminder), agenda, reminder."""
    if meeting.status == "cancelled":
        return []
    lead, start = network.lead_times, meeting.starts_at
    agenda_at, deadline = start - timedelta(days=lead.agenda), start - timedelta(days=lead.draft)
    steps = []
    if now >= start - timedelta(days=lead.call):  # a call whose deadline for items has passed would only confuse
        late = ("the agenda was due" if now >= agenda_at else
                "the deadline for items had passed" if now >= deadline else "")
        steps.append(Due("call", "call", "members", late))
    if now >= start - timedelta(days=lead.draft):
        steps.append(Due("draft", "draft", "approvers", "the agenda was due" if now >= agenda_at else ""))
        steps += _draft_reminder(meeting, network, done, now)
    if now >= agenda_at and _agenda_may_go(meeting, network):
        steps.append(Due("agenda", "agenda", "members", "the meeting had begun" if now >= start else ""))
    if now >= start - timedelta(days=lead.reminder):
        steps.append(Due("reminder", "reminder", "members", "the meeting had begun" if now >= start else ""))
    return steps


@dataclass(frozen=True)
class Outlook:
    """Where a meeting is in its cycle, for `kkrbot status`."""

    last: str  # the latest step done ("" for none)
    next: str  # the next step to come ("" when the cycle is through)
    next_at: datetime | None
    skipped: tuple[str, ...]  # steps skipped, with why


def schedule(meeting: Meeting, network: NetworkConfig) -> list[tuple[str, datetime]]:
    """The cycle's steps in order, with their moments."""
    lead, start = network.lead_times, meeting.starts_at
    return [("invitation", start - timedelta(days=lead.invitation)), ("call", start - timedelta(days=lead.call)),
            ("draft", start - timedelta(days=lead.draft)), ("agenda", start - timedelta(days=lead.agenda)),
            ("reminder", start - timedelta(days=lead.reminder)), ("minutes-request", meeting.ends_at),
            ("minutes-reminder:1", meeting.ends_at + timedelta(days=lead.minutes_reminder))]


def outlook(session: Session, network: NetworkConfig, meeting: Meeting) -> Outlook:
    done = {s.step: s for s in session.exec(select(CycleStep).where(CycleStep.meeting_id == meeting.id)
                                            .order_by(CycleStep.at, CycleStep.id))}
    last = list(done)[-1] if done else ""
    upcoming = [(step, at) for step, at in schedule(meeting, network) if step not in done]
    skipped = tuple(f"{s.step} ({s.reason})" for s in done.values() if s.state == SKIPPED)
    if meeting.status == "cancelled":
        upcoming = []
    return Outlook(last, upcoming[0][0] if upcoming else "", upcoming[0][1] if upcoming else None, skipped)


def agenda_sent(session: Session, meeting_id: int) -> bool:
    """Has the meeting's agenda gone out? After that, its items and approval are settled."""
    query = select(CycleStep.id).where(CycleStep.meeting_id == meeting_id, CycleStep.step == "agenda",
                                       CycleStep.state == SENT)
    return session.exec(query).first() is not None


def _agenda_may_go(meeting: Meeting, network: NetworkConfig) -> bool:
    """Silent consent: unless held. Required approval: once approved. The latest answer counts."""
    if network.agenda_approval == "required":
        return meeting.agenda_answer == "approve"
    return meeting.agenda_answer != "hold"


def _draft_reminder(meeting: Meeting, network: NetworkConfig, done: dict, now: datetime) -> list[Due]:
    """Where approval is required and not given, the approvers get a reminder each day until the meeting."""
    if network.agenda_approval != "required" or meeting.agenda_answer == "approve" or now >= meeting.starts_at:
        return []
    draft = done.get("draft")
    if draft is None or draft.state != SENT or now - draft.at < timedelta(days=1):
        return []
    day = (now - draft.at).days
    return [Due(f"draft-reminder:{day}", "draft-reminder", "chair", occurrence=str(day))]


def _minutes_steps(meeting: Meeting, network: NetworkConfig, done: dict, now: datetime,
                   has_minutes: bool) -> list[Due]:
    """The minutes request when the meeting ends; reminders a week later and weekly, while none came.

    A reminder also waits a week after the request itself: a bot started (or back) weeks after a
    meeting asks for its minutes once, not with a reminder in the same minute."""
    if meeting.status == "cancelled" or now < meeting.ends_at or has_minutes:
        return []
    steps = [Due("minutes-request", "minutes-request", "secretary")]
    lead = timedelta(days=network.lead_times.minutes_reminder)
    request = done.get("minutes-request")
    weeks = (now - meeting.ends_at) // lead
    if request is None or now - request.at < lead:
        return steps
    if 1 <= weeks <= MINUTES_REMINDERS:  # only the latest one that is due: a week missed is not sent late
        steps.append(Due(f"minutes-reminder:{weeks}", "minutes-reminder", "secretary", occurrence=str(weeks)))
    return steps


def _do(app: App, meeting_id: int, due: Due, now: datetime) -> int:
    """Queue the step's letters and record the step, in one transaction; 0 if another tick won."""
    try:
        with session_scope(app.engine) as session:
            meeting = session.get(Meeting, meeting_id)
            network = _network(app, session, meeting)
            queued = 0 if due.too_late else _queue_letters(app, session, network, meeting, due, now)
            session.add(CycleStep(meeting_id=meeting_id, step=due.step, state=SKIPPED if due.too_late else SENT,
                                  at=now, sequence=meeting.sequence, recipients=queued, reason=due.too_late))
    except IntegrityError:  # another process (or tick) did this step first; its letters stand
        return 0
    log_event("cycle_step", meeting=meeting.series_id, step=due.step, state=SKIPPED if due.too_late else SENT,
              recipients=queued, reason=due.too_late or None)
    return 1


def _queue_letters(app: App, session: Session, network: NetworkConfig, meeting: Meeting, due: Due,
                   now: datetime) -> int:
    extra = _extra_context(meeting, due, now)
    queued = 0
    for contact in audience(session, network, due.audience):
        letter = meeting_letter(session, network, meeting, due.kind, recipient(contact), now,
                                occurrence=due.occurrence, extra=extra)
        queued += enqueue(session, compose(app, session, letter))
    return queued


def _extra_context(meeting: Meeting, due: Due, now: datetime) -> dict:
    if due.kind == "minutes-reminder":
        return {"days_since": (now - meeting.ends_at).days}
    return {}


def audience(session: Session, network: NetworkConfig, who: str):
    """The contacts a step's mail goes to."""
    if who == "members":
        return members(session, network.slug)
    if who == "approvers":
        return _unique(role_holders(session, network.slug, "chair") + role_holders(session, network.slug, "vice-chair"))
    if who == "chair":  # the daily draft reminder: the chair's to give, the vice-chair's while there is no chair
        return role_holders(session, network.slug, "chair") or role_holders(session, network.slug, "vice-chair")
    return role_holders(session, network.slug, "secretary")


def _unique(contacts):
    seen = {}
    for contact in contacts:
        seen.setdefault(contact.id, contact)
    return list(seen.values())
