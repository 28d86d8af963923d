"""The demo network's year with the bot reading its list mailbox over IMAP, as with `inbound = "imap"`.

The same simulated members and clock steps as `kkrbot demo` (bot/demo/), but their answers are
delivered into a real Dovecot mailbox (with the `Delivered-To` a real MTA adds), which the bot's
IMAP cursor reads, and every mail the bot sends goes through the real SMTP sender to a real
aiosmtpd server that files it into a Maildir and records when it arrived.
"""
from __future__ import annotations

import csv
import io
import random
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from bot.actions.pipeline import process_pending
from bot.app import App
from bot.config.settings import load_settings
from bot.core.clock import FileClock, FixedClock
from bot.demo.people import Answer, People
from bot.demo.sink import Delivered, MaildirSink
from bot.demo.year import Inbound, Period, Waiting, Year, cycle_moments, drive, next_moment
from bot.inbound.imap_cursor import ImapAccount, MailboxCursor, connect
from bot.outbound.send import SmtpSender
from bot.startup import ConfigFollower, prepare_database
from bot.store.models import STATE_DONE, InboundMessage, OutboxMessage
from tests.support.config import imap_env, make_config, shipped_contacts, shipped_networks
from tests.support.process import BotProcess

SEED = 2026


@dataclass
class ImapYear:
    """What a test checks afterwards: the year (every delivered mail), the people (what they answered)
    and the bot (its database)."""

    year: Year
    people: People
    app: App
    config: Path


def imap_year(root: Path, dovecot, period: Period, networks_toml: str | None = None,
              contacts_csv: str | None = None) -> ImapYear:
    """Run the first network's `period` through Dovecot and aiosmtpd; the app is left open for the checks.

    Every answer is filed into the mailbox twice, as a relay that retries after a lost reply does."""
    clock = FixedClock(period.start)
    maildir = root / "Maildir"
    with MaildirSink(maildir, clock) as sink:
        env = imap_env(dovecot) + f"SMTP_HOST=127.0.0.1\nSMTP_PORT={sink.port}\nSMTP_TLS=none\n"
        config = make_config(root, bot_toml={"inbound": '"imap"', "outbound": '"smtp"'}, env=env,
                             networks_toml=networks_toml, contacts_csv=contacts_csv)
        app = App.create(load_settings(config, environ={}), clock, create_secret=True)
        follower = ConfigFollower(app, prepare_database(app), on_new=lambda _settings: None)
        network = app.settings.networks[0]
        people = People(app, network, SEED)
        year = Year(network, period, maildir)
        client = connect(ImapAccount.from_settings(app.settings))
        sender = SmtpSender(app.settings, clock=clock)
        try:
            cursor = MailboxCursor(app, client, lambda: process_pending(app))
            inbound = Inbound(lambda answer: _file_twice(dovecot, answer), cursor.run_once)
            drive(app, network, period, sink, people, year, inbound, sender, follower)
        finally:
            sender.close()
            client.logout()
        year.delivered = sink.delivered
    return ImapYear(year, people, app, config)


def _file_twice(dovecot, answer: Answer) -> None:
    """File the answer into the list mailbox as the organisation's mail server does, twice: the same
    mail again must change nothing and be answered once."""
    raw = f"Delivered-To: {answer.to}\r\n".encode() + answer.raw
    dovecot.append(raw)
    dovecot.append(raw)


# -- what a user checks: from the config files, not from the bot's code ------------------------------

CHAIR, VICE_CHAIR = "birgitte.holm@kl.example.dk", "soren.aero@aarhus.example.dk"
SECRETARY = "anne.hansen@kl.example.dk"
# The demo network's meetings as the shipped networks.toml makes them, in the Danish the templates write:
# 8 April moved to 15 April, 3 June extra (13-15), 12 August cancelled, and December 2026's minutes.
DEC_2026 = "torsdag den 10. december 2026 kl. 10.00–13.00"
APRIL = "torsdag den 15. april 2027 kl. 10.00–13.00"
JUNE = "torsdag den 3. juni 2027 kl. 13.00–15.00"
DECEMBER = "torsdag den 9. december 2027 kl. 10.00–13.00"
# The deadline for items (10 days before, when the draft goes out) and the day the agenda goes out.
DEADLINES = {APRIL: "mandag den 5. april 2027 kl. 10.00", JUNE: "mandag den 24. maj 2027 kl. 13.00",
             DECEMBER: "mandag den 29. november 2027 kl. 10.00"}
AGENDA_DAYS = {APRIL: "torsdag den 8. april 2027 kl. 10.00", JUNE: "torsdag den 27. maj 2027 kl. 13.00",
               DECEMBER: "torsdag den 2. december 2027 kl. 10.00"}


def contacts(config: Path) -> list[dict[str, str]]:
    with (config / "contacts.csv").open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def members_of(config: Path, slug: str) -> set[str]:
    return {row["email"] for row in contacts(config) if slug in row["networks"].split(";")}


def consultants_of(config: Path, regions: set[str]) -> set[str]:
    return {row["email"] for row in contacts(config) if row["role"] == "kkr-konsulent" and row["region"] in regions}


def meeting_of(mail: Delivered) -> str:
    """Which meeting a mail is about, by the Danish date its subject names (the time is in the body)."""
    subject = " ".join(str(mail.message["Subject"]).split())
    found = [day for day in (DEC_2026, APRIL, JUNE, DECEMBER) if day.partition(" kl.")[0] in subject]
    return found[0] if len(found) == 1 else subject


COVERED = {"Syddanmark", "Midtjylland", "Nordjylland"}


def three_region_config() -> tuple[str, str]:
    """networks.toml and contacts.csv for the demo network alone, covering three of the five regions:
    its members from the other two are left out, all five regions' KKR consultants stay. The bot
    ticks every configured network; alone, the network's year is the one `kkrbot demo` shows."""
    shipped = shipped_networks()
    first = shipped[:shipped.index("[[network]]", shipped.index("[[network]]") + 1)]
    regions = re.search(r"^regions = \[.*\]$", first, re.M).group(0)
    networks = first.replace(regions, "regions = [" + ", ".join(f'"{r}"' for r in sorted(COVERED)) + "]")
    rows = list(csv.DictReader(io.StringIO(shipped_contacts())))
    kept = []
    for row in rows:
        row["networks"] = ";".join(s for s in row["networks"].split(";") if s == "it-netvaerk")
        if row["role"] == "kkr-konsulent" or (row["networks"] and row["region"] in COVERED | {""}):
            kept.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    return networks, out.getvalue()


# -- the same year through the real `kkrbot run`, killed and restarted --------------------------------

SETTLE_SECONDS = 90  # a loaded machine: the bot must have taken in and sent everything due by then


@dataclass
class Kills:
    """When the bot was killed: the simulated moments, and how many times."""

    moments: list[datetime]


def killed_year(root: Path, dovecot, period: Period, kills: int, seed: int, networks_toml: str,
                contacts_csv: str) -> tuple[ImapYear, Kills, list[Delivered]]:
    """The first network's `period` with `kkrbot run` as a subprocess on a file clock (KKRBOT_CLOCK_FILE),
    SIGKILLed `kills` times and started again: once in each of `kills` equal stretches of the period, at
    the first moment after a seeded random time when there is work (answers arrive, a step of the cycle
    is due), a random fraction of a second into it.

    Returns the year (first copies only, as people read them), the kills, and the second copies
    of any mail that arrived twice, for the judge."""
    root.mkdir(parents=True, exist_ok=True)
    clock = FixedClock(period.start)
    with MaildirSink(root / "Maildir", clock) as sink:
        env = imap_env(dovecot) + f"SMTP_HOST=127.0.0.1\nSMTP_PORT={sink.port}\nSMTP_TLS=none\n"
        config = make_config(root, bot_toml={"inbound": '"imap"', "outbound": '"smtp"', "log_level": '"info"',
                                             "imap.poll_seconds": "1"},
                             env=env, networks_toml=networks_toml, contacts_csv=contacts_csv)
        run = KilledRun(config, clock, dovecot, sink, period, random.Random(seed), kills)
        try:
            while clock.now() < period.end:
                run.moment(clock.now())
        finally:
            run.bot.stop()
        second = {id(d) for d in run.again}
        run.year.delivered = [d for d in sink.delivered if id(d) not in second]
    return ImapYear(run.year, run.people, run.app, config), run.kills, run.again


class KilledRun:
    """The test's side of the killed year: it moves the file clock, posts the people's answers,
    kills the bot at the planned moments, and waits for the bot to be done with each moment."""

    def __init__(self, config: Path, clock: FixedClock, dovecot, sink: MaildirSink, period: Period,
                 rng: random.Random, kills: int):
        self.clock, self.dovecot, self.sink, self.period, self.rng = clock, dovecot, sink, period, rng
        self.clock_file = config.parent / "clock"
        FileClock.write(self.clock_file, period.start)
        self.bot = Bot(config, self.clock_file)
        self.app = App.create(load_settings(config, environ={}), clock)  # reads the bot's database
        self.network = self.app.settings.networks[0]
        self.people, self.waiting = People(self.app, self.network, SEED), Waiting()
        self.year = Year(self.network, period, config.parent / "Maildir")
        self.kills, self.again, self.seen = Kills([]), [], set()
        stretch = (period.end - period.start) / kills
        self.targets = [period.start + stretch * (i + 0.8 * rng.random()) for i in range(kills)]

    def moment(self, now: datetime) -> None:
        """Everything that happens at `now`, then the clock moves on to the next moment."""
        FileClock.write(self.clock_file, now)
        due = self.waiting.due(now)
        for answer in due:
            _file_twice(self.dovecot, answer)
            self.year.answers[answer.what] += 1
        self._kill_if_planned(now, bool(due))
        self.bot.settle(self.app, self.dovecot, now)
        self.waiting.add(self.people.answer(self._first_copies()), now)
        self.clock.set(next_moment(self.app, self.network, now, self.period.end, self.waiting.next()))

    def _kill_if_planned(self, now: datetime, answers: bool) -> None:
        """At the first moment with work after the next planned time."""
        busy = answers or now in cycle_moments(self.app, self.network, now - timedelta(seconds=1))
        if self.targets and now >= self.targets[0] and busy:
            self.targets.pop(0)
            _wait_for_work(self.sink, self.rng)
            self.bot.kill_and_restart()
            self.kills.moments.append(now)

    def _first_copies(self) -> list[Delivered]:
        """The mail that arrived at this moment; a second copy is kept aside for the judge, unread."""
        fresh = []
        for mail in self.sink.new_mail():
            key = (str(mail.message["Message-ID"]), mail.recipient)
            (self.again if key in self.seen else fresh).append(mail)
            self.seen.add(key)
        return fresh


def _wait_for_work(sink: MaildirSink, rng: random.Random) -> None:
    """A moment to kill at: at random, a fraction of a second after the clock moved (while the bot
    queues and takes in), or some milliseconds after its first mail of the moment arrived (while it sends)."""
    if rng.random() < 0.5:
        time.sleep(rng.uniform(0, 0.4))
        return
    arrived, deadline = len(sink.delivered), time.monotonic() + 5
    while len(sink.delivered) == arrived and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.05))


class Bot:
    """`kkrbot run` on the file clock, and how a test knows it is done with a moment."""

    def __init__(self, config: Path, clock_file: Path):
        self.config, self.clock_file = config, clock_file
        self.process = self._start()

    def _start(self) -> BotProcess:
        process = BotProcess(self.config, {"KKRBOT_CLOCK_FILE": str(self.clock_file)})
        line = process.first_line(timeout=SETTLE_SECONDS)
        assert f"simulated time from {self.clock_file} (KKRBOT_CLOCK_FILE)" in line, line  # never unnoticed
        self.log_read, self.log_text = 0, ""
        return process

    def kill_and_restart(self) -> None:
        self.process.kill()
        self.process.stop()
        self.process = self._start()

    def stop(self) -> None:
        assert self.process.stop() == 0, self.process.log()[-3000:]

    def settle(self, app: App, dovecot, now: datetime) -> None:
        """Wait until the bot has seen `now`, taken in all mail and sent everything due by then."""
        deadline = time.monotonic() + SETTLE_SECONDS
        seen = f"event=clock_moved now={now.isoformat()}"
        while time.monotonic() < deadline:
            if self.process.process.poll() is not None:
                raise AssertionError(f"kkrbot exited:\n{self.process.log()[-3000:]}")
            if seen in self._new_log() and not dovecot.folder_uids("INBOX") and _idle(app, now):
                return
            time.sleep(0.05)
        raise AssertionError(f"kkrbot did not settle at {now}:\n{self.process.log()[-3000:]}")

    def _new_log(self) -> str:
        """The log since the last moment this process settled (read on from where it was left)."""
        with self.process.log_path.open("rb") as log:
            log.seek(self.log_read)
            fresh = log.read()
        self.log_read += len(fresh)
        self.log_text = self.log_text[-4096:] + fresh.decode(errors="replace")
        return self.log_text


def _idle(app: App, now: datetime) -> bool:
    """Nothing received is waiting to be handled, and nothing due is waiting to be sent or is being sent
    (a claimed batch's next attempt lies ahead while it is on the wire)."""
    with Session(app.engine) as session:
        waiting_in = session.exec(select(func.count()).select_from(InboundMessage)
                                  .where(InboundMessage.state != STATE_DONE)).one()
        waiting_out = session.exec(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == "queued",
            (OutboxMessage.next_attempt_at <= now) | (OutboxMessage.claimed_by != ""))).one()  # or on the wire
    return waiting_in == 0 and waiting_out == 0
