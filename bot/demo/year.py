"""Run a network's year on a simulated clock, through the same code as `kkrbot run`.

The bot gets a temporary data folder (database, token secret; never the configured
`var/`), the built-in SMTP receiver and the SMTP sender, both on loopback: the
simulated people's answers go in through the receiver, the pipeline handles them,
the meeting cycle's tick queues what is due, and the outbox is sent to a loopback
server that files every mail into the Maildir (bot/demo/sink.py). Instead of waiting,
the clock jumps from one moment something can happen to the next: a step of a
meeting's cycle, an answer someone sends, or the next day.
"""
from __future__ import annotations

import heapq
import itertools
import smtplib
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from bot.actions.pipeline import process_pending
from bot.app import App
from bot.config.networks import NetworkConfig
from bot.config.settings import Receiver, Secrets, Settings
from bot.core.clock import FixedClock
from bot.daemon import refresh_meetings, send_outbox
from bot.demo.people import Answer, People
from bot.demo.sink import LOOPBACK, Delivered, MaildirSink, free_port
from bot.inbound.receiver import ListReceiver, start_receiver
from bot.meetings import cycle
from bot.outbound.admin_notices import send_admin_notice
from bot.outbound.send import Sender, SmtpSender
from bot.startup import ConfigFollower, prepare_database
from bot.store.models import STATE_NEW, InboundMessage, Meeting, Network, OutboxMessage

HEARTBEAT = timedelta(days=1)  # at the latest, the clock stops once a day (the daily draft reminder)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


def coming_twelve_months(now: datetime) -> Period:
    start = now.replace(second=0, microsecond=0)
    return Period(start, start.replace(year=start.year + 1) if (start.month, start.day) != (2, 29)
                  else start + timedelta(days=365))


def calendar_year(year: int, zone: str) -> Period:
    tz = ZoneInfo(zone)
    return Period(datetime.combine(date(year, 1, 1), time(), tz).astimezone(timezone.utc),
                  datetime.combine(date(year + 1, 1, 1), time(), tz).astimezone(timezone.utc))


@dataclass
class Year:
    """What the year brought: every mail the bot sent (as delivered), the answers people sent,
    and how the bot judged them."""

    network: NetworkConfig
    period: Period
    maildir: Path
    delivered: list[Delivered] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)  # by what they were: rsvp, item, ...
    outcomes: Counter = field(default_factory=Counter)  # the bot's outcome for each received mail
    unsent: int = 0  # still in the outbox at the end (0 unless something went wrong)

    def counts(self) -> Counter:
        return Counter(d.kind for d in self.delivered)


def demo_settings(settings: Settings, data_dir: Path, sink_port: int) -> Settings:
    """The config's networks and limits, with a data folder of its own and loopback servers only.

    No secret from `.env` is kept: not DATABASE_URL (the demo must not touch the real
    database), not TOKEN_SECRET (its tokens are the temporary database's), nor any server."""
    return replace(settings, data_dir=data_dir, inbound="smtp", outbound="smtp", log_level="warning",
                   receiver=Receiver(LOOPBACK, free_port()),
                   secrets=Secrets({"SMTP_HOST": LOOPBACK, "SMTP_PORT": str(sink_port), "SMTP_TLS": "none"}))


def run_year(settings: Settings, network: NetworkConfig, period: Period, maildir: Path,
             on_moment: Callable[[datetime], None] | None = None, seed: int = 2026) -> Year:
    """The network's year from `period.start` to `period.end`; every mail the bot sends lands in `maildir`."""
    clock = FixedClock(period.start)
    year = Year(network, period, maildir)
    with tempfile.TemporaryDirectory(prefix="kkrbot-demo-") as data, MaildirSink(maildir, clock) as sink:
        app = App.create(demo_settings(settings, Path(data), sink.port), clock, create_secret=True)
        try:
            follower = ConfigFollower(app, prepare_database(app), on_new=lambda _settings: None)
            _run(app, network, period, sink, People(app, network, seed), year, follower, on_moment)
            year.outcomes.update(_outcomes(app))
            year.unsent = _unsent(app)
        finally:
            app.engine.dispose()
        year.delivered = sink.delivered
    return year


def _run(app: App, network: NetworkConfig, period: Period, sink: MaildirSink, people: People, year: Year,
         follower: ConfigFollower, on_moment: Callable[[datetime], None] | None) -> None:
    """The year with the answers posted to the built-in SMTP receiver, as Postfix relays them."""
    handler = ListReceiver(app.settings, app.engine, app.clock, on_stored=lambda: None)
    receiver = start_receiver(app.settings, handler)
    sender = SmtpSender(app.settings, clock=app.clock)
    try:
        with smtplib.SMTP(LOOPBACK, receiver.port) as client:
            post = lambda answer: client.sendmail(answer.sender, [answer.to], answer.raw)  # noqa: E731 - 250 = stored
            take_in = lambda: process_pending(app, gate=handler.committer)  # noqa: E731
            drive(app, network, period, sink, people, year, Inbound(post, take_in), sender, follower, on_moment)
    finally:
        sender.close()
        receiver.stop()


@dataclass(frozen=True)
class Inbound:
    """How the people's answers reach the bot: `post` hands one to the server that takes mail for the
    list, `take_in` is what the bot's inbound side does when woken (store what arrived, handle it)."""

    post: Callable[[Answer], None]
    take_in: Callable[[], object]


def drive(app: App, network: NetworkConfig, period: Period, sink: MaildirSink, people: People, year: Year,
          inbound: Inbound, sender: Sender, follower: ConfigFollower,
          on_moment: Callable[[datetime], None] | None = None) -> None:
    """Move the clock from moment to moment until the period ends; at each, what is due happens:
    the answers due are posted, the bot takes them in, ticks and sends, and people read their mail.
    The inbound side is handed in, so a test can run the same year through a real IMAP server."""
    waiting = Waiting()
    day = None
    while (now := app.clock.now()) < period.end:
        if now.date() != day:  # the daemon refreshes hourly; the meetings' window moves by the day
            refresh_meetings(app, follower)
            day = now.date()
        for answer in waiting.due(now):
            inbound.post(answer)
            year.answers[answer.what] += 1
        _bot_moment(app, network, inbound, sender)
        waiting.add(people.answer(sink.new_mail()), now)
        if on_moment:
            on_moment(now)
        app.clock.set(next_moment(app, network, now, period.end, waiting.next()))


def _bot_moment(app: App, network: NetworkConfig, inbound: Inbound, sender: Sender) -> None:
    """What `kkrbot run`'s inbound worker, scheduler jobs and outbox sender do when woken."""
    inbound.take_in()
    cycle.tick(app, network=network.slug)
    send_admin_notice(app)
    send_outbox(app, sender)


class Waiting:
    """The answers people have written and will send, soonest first."""

    def __init__(self):
        self.heap: list[tuple[datetime, int, Answer]] = []
        self.order = itertools.count()  # ties keep the order they were written in

    def add(self, answers: list[Answer], now: datetime) -> None:
        for answer in answers:
            heapq.heappush(self.heap, (max(answer.at, now + timedelta(minutes=1)), next(self.order), answer))

    def due(self, now: datetime) -> list[Answer]:
        due = []
        while self.heap and self.heap[0][0] <= now:
            due.append(heapq.heappop(self.heap)[2])
        return due

    def next(self) -> datetime | None:
        return self.heap[0][0] if self.heap else None


def next_moment(app: App, network: NetworkConfig, now: datetime, end: datetime,
                 answer_at: datetime | None) -> datetime:
    """The next moment anything can happen: a cycle step, an answer, a retry, or a day later."""
    candidates = [end, now + HEARTBEAT, *cycle_moments(app, network, now)]
    with Session(app.engine) as session:
        candidates.append(session.exec(select(func.min(OutboxMessage.next_attempt_at))
                                       .where(OutboxMessage.status == "queued")).one())
    candidates.append(answer_at)
    return max(now + timedelta(minutes=1), min(c for c in candidates if c is not None and c > now))


def cycle_moments(app: App, network: NetworkConfig, now: datetime) -> list[datetime]:
    """Each meeting's steps (SPEC.md's table) and its weekly minutes reminders, after `now`."""
    with Session(app.engine) as session:
        meetings = session.exec(select(Meeting).join(Network).where(
            Network.slug == network.slug, Meeting.starts_at >= now - cycle.LOOK_BACK)).all()
    moments = []
    for meeting in meetings:
        moments += [at for _, at in cycle.schedule(meeting, network)]
        weekly = timedelta(days=network.lead_times.minutes_reminder)
        moments += [meeting.ends_at + weekly * n for n in range(2, cycle.MINUTES_REMINDERS + 1)]
    return [at for at in moments if at > now]


def _outcomes(app: App) -> Counter:
    with Session(app.engine) as session:
        return Counter(outcome or STATE_NEW for outcome in session.exec(select(InboundMessage.outcome)))


def _unsent(app: App) -> int:
    with Session(app.engine) as session:
        return session.exec(select(func.count()).select_from(OutboxMessage)
                            .where(OutboxMessage.status == "queued")).one()
