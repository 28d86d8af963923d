"""`kkrbot run`: the long-running bot.

It owns: the inbound worker thread, the SMTP receiver (inbound = "smtp"), and an
APScheduler BackgroundScheduler with a few fixed-id interval jobs. Each job calls a
plain function of the clock; what is due is worked out from the database every
time, so a restart or a missed run neither loses nor doubles anything.

Several processes may share one PostgreSQL database (README "Running at scale"): the
worker and the sender claim their work (bot/actions/pipeline.py, bot/outbound/outbox.py),
the IMAP reader reads only while it holds the mailbox's lease, and the jobs that act on
shared state run once across all processes, under a lease per job (`once_across`).
"""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import make_url

from bot.actions import moderation
from bot.actions.bounces import record_refusals
from bot.actions.pipeline import process_pending
from bot.app import App
from bot.core import memory
from bot.core.clock import FileClock
from bot.core.logs import log_event
from bot.inbound.imap_cursor import ImapAccount, ImapReader, MailboxLease
from bot.inbound.receiver import ListReceiver, start_receiver
from bot.meetings import cycle
from bot.meetings.sync import sync_config
from bot.outbound import admin_notices
from bot.outbound.admin_notices import send_admin_notice
from bot.outbound.database_alarm import DatabaseAlarm
from bot.outbound.outbox import release_claims
from bot.outbound.send import Sender, flush_outbox, make_sender
from bot.privacy import retention
from bot.startup import ConfigFollower, prepare_database
from bot.store import leases
from bot.store.db import exclusive, session_scope
from bot.worker import WakeableLoop

RETRY_WAKE_SECONDS = 30
# With several processes, mail stored or queued by one wakes only that one; the others look for work
# this often, so a big fan-out or a burst at one receiver is shared within seconds (a cheap SELECT).
SHARED_WAKE_SECONDS = 2
MEETINGS_SYNC_MINUTES = 60
ADMIN_NOTICE_MINUTES = 5
CYCLE_MINUTES = 1
MODERATION_MINUTES = 10  # held posts expire and day digests go out within this of their moment
CONFIG_FOLLOW_SECONDS = 5  # how soon a running bot takes up `kkrbot config reload`
SIMULATED_TIME_POLL = 0.1  # seconds between looks at a file clock
RETENTION_HOUR, RETENTION_MINUTE = 3, 17  # local time: a quiet hour, off the full hour other jobs like
# A shared job's lease while it runs: if its process dies mid-run, another runs it after this long.
JOB_RUN_GUARD = timedelta(minutes=5)
CYCLE_LOCK = 0x6B6B7263  # pg_advisory_lock key of the meeting cycle's tick
JOB_SLACK = timedelta(seconds=5)  # held this much less than a period, so the next firing finds it free


def send_outbox(app: App, sender: Sender) -> int:
    """Send what is due; a 5xx refusal counts against the address, like a bounce."""
    return flush_outbox(app, sender, partial(record_refusals, app))


def imap_reader(app: App, after: Callable[[], None] | None = None) -> ImapReader:
    """The IMAP reader, handing the mail each pass stored to the pipeline; it reads only while this
    process holds the mailbox's lease (one reader per mailbox among all processes)."""
    lease = MailboxLease(app, ImapAccount.from_settings(app.settings), app.settings.imap.mailbox)
    return ImapReader(app, lambda: process_pending(app), after=after, lease=lease)


def once_across(app: App, name: str, period: timedelta, job: Callable[..., object]) -> Callable[..., None]:
    """`job`, run by whichever process comes first in each period, and by no other in that period.

    The lease `job:<name>` is taken (only once expired) for JOB_RUN_GUARD while the job runs, then
    held until one period after the start, less a little slack, so this process's next firing
    finds it free and the others' firings in between find it taken."""
    lease = f"job:{name}"

    def run(*args) -> None:
        started, holder = app.clock.now(), app.settings.process_name
        if not leases.take(app.engine, lease, holder, started, JOB_RUN_GUARD, renew=False):
            log_event("job_skipped", level=logging.DEBUG, job=name, reason="another process runs it")
            return
        try:
            job(*args)
        finally:
            leases.extend_to(app.engine, lease, holder, started + period - JOB_SLACK)
    return run


def refresh_meetings(app: App, follower: ConfigFollower) -> None:
    """Roll the meeting window forward as days pass (a plain function of the clock), from the
    networks the bot holds; never while a newer reload is applied that the bot has not taken up."""
    with session_scope(app.engine) as session:
        if follower.behind(session):
            log_event("meetings_refresh_skipped", reason="a config reload is not taken up yet")
            return
        sync_config(session, app.settings, app.clock.now())


def follow_config(app: App, follower: ConfigFollower, sender: WakeableLoop) -> None:
    """Take up a `config reload`, and run the cycle at once so updates and cancellations go out."""
    if follower.follow():
        run_cycle(app, sender)


def nightly_retention(app: App) -> None:
    """Delete raw mail and finished outbox rows past retention (a plain function of the clock)."""
    with session_scope(app.engine) as session:
        purged = retention.purge(session, app.settings, app.clock.now())
    if purged.any:
        log_event("retention", inbound=purged.inbound, outbox=purged.outbox, bounces=purged.bounces)


def build_scheduler(app: App, worker: WakeableLoop, sender: WakeableLoop, reader: ImapReader | None,
                    follower: ConfigFollower) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    common = dict(replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=60)
    wake_every = SHARED_WAKE_SECONDS if app.settings.on_postgresql else RETRY_WAKE_SECONDS
    scheduler.add_job(worker.wake, "interval", seconds=wake_every, id="inbound-retry", **common)
    scheduler.add_job(sender.wake, "interval", seconds=wake_every, id="outbox-retry", **common)
    shared = partial(once_across, app)  # jobs that change shared state: once across all processes
    scheduler.add_job(shared("admin-notices", timedelta(minutes=ADMIN_NOTICE_MINUTES), send_admin_notice),
                      "interval", minutes=ADMIN_NOTICE_MINUTES, args=[app], id="admin-notices", **common)
    if reader is not None:  # the safety net under IDLE, and the wake-up where there is no IDLE
        scheduler.add_job(reader.wake.set, "interval", seconds=app.settings.imap.poll_seconds,
                          id="imap-poll", **common)
    scheduler.add_job(follow_config, "interval", seconds=CONFIG_FOLLOW_SECONDS, args=[app, follower, sender],
                      id="config-follow", **common)
    scheduler.add_job(shared("meetings-refresh", timedelta(minutes=MEETINGS_SYNC_MINUTES), refresh_meetings),
                      "interval", minutes=MEETINGS_SYNC_MINUTES, args=[app, follower],
                      id="meetings-refresh", next_run_time=app.clock.now() + timedelta(minutes=1), **common)
    scheduler.add_job(shared("retention", timedelta(days=1), nightly_retention), "cron", hour=RETENTION_HOUR,
                      minute=RETENTION_MINUTE, args=[app], timezone=app.settings.timezone, id="retention",
                      **{**common, "misfire_grace_time": 6 * 3600})
    scheduler.add_job(shared("meeting-cycle", timedelta(minutes=CYCLE_MINUTES), run_cycle),
                      "interval", minutes=CYCLE_MINUTES, args=[app, sender],
                      id="meeting-cycle", next_run_time=app.clock.now(), **common)  # at start, then each minute
    scheduler.add_job(shared("moderation", timedelta(minutes=MODERATION_MINUTES), run_moderation),
                      "interval", minutes=MODERATION_MINUTES, args=[app, sender],
                      id="moderation", next_run_time=app.clock.now() + timedelta(minutes=1), **common)
    if isinstance(app.clock, FileClock):
        scheduler.add_job(SimulatedTime(app, worker, sender, reader, follower), "interval",
                          seconds=SIMULATED_TIME_POLL, id="simulated-time", next_run_time=datetime.now(timezone.utc),
                          **common)
    return scheduler


class SimulatedTime:
    """On a file clock (tests, demos: bot/core/clock.py), whenever the simulated time moves, every
    periodic job runs once, as if its interval had passed: their real-time intervals mean nothing
    when a year passes in minutes. Logs `clock_moved` once they have, so whoever moves the clock
    knows the bot has seen the new time."""

    def __init__(self, app: App, worker: WakeableLoop, sender: WakeableLoop, reader: ImapReader | None,
                 follower: ConfigFollower):
        self.app, self.worker, self.sender, self.reader, self.follower = app, worker, sender, reader, follower
        self.seen = None

    def __call__(self) -> None:
        now = self.app.clock.now()
        if now == self.seen:
            return
        refresh_meetings(self.app, self.follower)
        cycle.tick(self.app)
        moderation.tick(self.app)
        send_admin_notice(self.app)
        self.worker.wake()
        self.sender.wake()
        if self.reader is not None:
            self.reader.wake.set()
        self.seen = now
        log_event("clock_moved", now=now.isoformat())


def run_cycle(app: App, sender: WakeableLoop) -> None:
    """The meeting cycle's tick: whatever is due is queued, and the sender woken for it. One tick at a
    time across processes: a `config reload` makes every process tick at once, besides the shared
    minute's tick; the second finds the letters queued (dedupe keys) instead of colliding on them."""
    with exclusive(app.engine, CYCLE_LOCK):
        due = cycle.tick(app)
    if due:
        sender.wake()


def run_moderation(app: App, sender: WakeableLoop) -> None:
    """Held posts past moderation_days expire (their senders told), and finished days' digests go out."""
    if moderation.tick(app):
        sender.wake()


def describe(app: App, port: int) -> str:
    settings = app.settings
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    lists = ", ".join(n.address for n in settings.networks)
    account = settings.secrets
    where = (f"smtp://{settings.receiver.host}:{port}" if settings.inbound == "smtp" else
             f"imap://{account.get('IMAP_USER')}@{account.get('IMAP_HOST')}/{settings.imap.mailbox}")
    outbound = f"maildir {settings.sent_dir}" if settings.outbound == "maildir" else "smtp"
    verified = (f"senders verified by {settings.authserv_id}" if settings.authserv_id else
                "senders not verified (no authserv_id in bot.toml)")
    simulated = (f"; simulated time from {app.clock.path} (KKRBOT_CLOCK_FILE)"
                 if isinstance(app.clock, FileClock) else "")  # a test's clock must never go unnoticed
    return (f"kkrbot: receiving on {where} for {lists}; database {url}; outbound {outbound}; {verified}; "
            f"process {settings.process_name}{simulated}")


def run(app: App) -> None:
    """Start everything, print one line, and run until SIGINT/SIGTERM."""
    stop = _stop_on_signals()  # before the first line: a SIGINT right after it must stop cleanly
    memory.keep_large_buffers_mapped()
    started = prepare_database(app)
    take_back(app)
    outbound = make_sender(app.settings, clock=app.clock)
    tell = lambda detail: admin_notices.record(app, "storage-error", detail)  # noqa: E731
    alarm = DatabaseAlarm(app)  # the first failure of an outage, at once and without the database
    sender = WakeableLoop("outbox-sender", lambda: send_outbox(app, outbound), on_recovered=tell, on_failing=alarm)
    handler = (ListReceiver(app.settings, app.engine, app.clock, lambda: worker.wake(), on_recovered=tell,
                            on_failing=alarm) if app.settings.inbound == "smtp" else None)
    gate = handler.committer if handler else None  # arrivals are stored before mail is processed
    worker = WakeableLoop("inbound-worker", lambda: process_pending(app, gate=gate), after=sender.wake,
                          on_recovered=tell, on_failing=alarm)
    sender.start()
    worker.start()
    receiver = reader = None
    if handler is not None:
        receiver = start_receiver(app.settings, handler)
    else:
        reader = imap_reader(app, after=sender.wake)
        reader.start()
    follower = ConfigFollower(app, started, on_new=partial(_take_up, handler))
    scheduler = build_scheduler(app, worker, sender, reader, follower)
    scheduler.start()
    port = receiver.port if receiver else 0
    print(describe(app, port), flush=True)
    log_event("started", inbound=app.settings.inbound, outbound=app.settings.outbound)
    admin_notices.warn_if_unaddressed(app)
    while not stop.wait(1):
        pass
    log_event("stopping")
    scheduler.shutdown(wait=True)
    if receiver:
        receiver.stop()
    if reader:
        reader.stop()
    worker.stop()
    sender.stop()
    outbound.close()
    app.engine.dispose()
    log_event("stopped")


def take_back(app: App) -> None:
    """What an earlier run of this process held when it died (same host and instance) is free again
    at once: its outbox claims, its leases. Another process's claims wait for their expiry."""
    holder = app.settings.process_name
    with session_scope(app.engine) as session:
        claims = release_claims(session, app.clock.now(), holder)
    held = leases.release_all(app.engine, holder)
    if claims or held:
        log_event("taken_back", holder=holder, outbox_claims=claims, leases=held)


def _take_up(handler: ListReceiver | None, settings) -> None:
    """The receiver keeps its own settings (it accepts or refuses each RCPT by the networks)."""
    if handler is not None:
        handler.settings = settings


def _stop_on_signals() -> threading.Event:
    """SIGINT and SIGTERM set the returned event (systemd's stop, Ctrl-C)."""
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    return stop
