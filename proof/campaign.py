"""Run the crash campaign: the real bot, killed and restarted while mail flows through it.

One throwaway config folder (the shipped networks plus the proof network and its members,
outbound SMTP to the faulty sink, `[outbox] retry_base_seconds = 1` so retries happen within
the run), one `kkrbot run` process at a time. The MTA releases the mails at a steady rate;
meanwhile the process is killed with SIGKILL at one random moment in each of `kills` equal
slots of the receiving time plus a tail after it (so kills land while mail is received,
processed and sent; every third kill waits from its moment until stored mail awaits its
decision), and started again after a short random pause, as systemd would. After
the last kill the bot runs on until the outbox is empty or holds only retries that are
legitimately pending, within a deadline; then it is stopped cleanly and judged
(proof/verdict.py).
"""
from __future__ import annotations

import json
import random
import signal
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bot.daemon import RETRY_WAKE_SECONDS
from proof.mails import NETWORK_TOML, CampaignMail, campaign, contacts_csv, members
from proof.mta import Mta
from proof.sink import Faults, FaultySink
from tests.support.config import free_port, make_config, shipped_contacts, shipped_networks
from tests.support.process import BotProcess

MIN_GAP = 3.0  # seconds between two kills at least: each process gets to work
PENDING_SLACK = RETRY_WAKE_SECONDS + 5  # a due retry waits for the sender's periodic wake, by design
SINK_QUIET = 2.0  # the sink saw nothing this long: the bot has sent what it could
PROCESSING_WAIT = 3.0  # a kill aimed at processing waits this long at most for undecided mail


@dataclass(frozen=True)
class Plan:
    """The sizes of one campaign: `make proof` uses the defaults, `make test` a short version."""

    seed: int = 1
    mails: int = 2000
    kills: int = 20
    members: int = 18
    rate: float = 10.0  # mails released per second
    lanes: int = 4  # the MTA's concurrent connections
    # [outbox] batch_size, the window the proof holds the bot to. The promise is "one batch", whatever
    # its size; a small one makes two unrecorded batches visible, where 200 would hide a few posts' worth.
    batch_size: int = 10
    min_drain: float = 120.0  # after the last kill, at least this long unless the outbox empties
    max_drain: float = 300.0

    @property
    def receiving_seconds(self) -> float:
        return max(1.0, (self.mails - 1) / self.rate)

    @property
    def token_secret(self) -> str:
        return f"the-proof-campaign-token-secret-{self.seed:08d}"  # 32 characters at least


@dataclass
class Incarnation:
    """One `kkrbot run` process: its sink epoch is its number."""

    number: int
    started: float
    log: Path
    ended: float | None = None
    killed: bool = False
    exit_code: int | None = None
    exited_by_itself: bool = False


@dataclass
class Run:
    """Everything the verdict needs about what happened."""

    plan: Plan
    root: Path
    mails: list[CampaignMail]
    mta: Mta
    sink: FaultySink
    incarnations: list[Incarnation] = field(default_factory=list)
    drain_ended: float = 0.0

    @property
    def database(self) -> Path:
        return self.root / "var" / "kkrbot.sqlite3"

    @property
    def crash_rounds(self) -> int:
        return sum(1 for i in self.incarnations if i.killed)


class Bots:
    """The bot's processes, one at a time; the sink's epoch follows them."""

    def __init__(self, config: Path, run: Run):
        self.config, self.run = config, run
        self.current: BotProcess | None = None

    def start(self) -> None:
        """A new process, numbered for the sink before it can connect anywhere."""
        number = len(self.run.incarnations)
        self.run.sink.set_epoch(number)  # only after the previous process is gone
        started = time.time()
        self.current = BotProcess(self.config)
        self.run.incarnations.append(Incarnation(number, started, self.current.log_path))

    def kill(self) -> bool:
        """SIGKILL the process; False when it was no longer running (then it ended by itself)."""
        incarnation, process = self.run.incarnations[-1], self.current.process
        alive = process.poll() is None
        incarnation.ended = time.time()
        if alive:
            process.send_signal(signal.SIGKILL)
            incarnation.killed = True
        process.wait(15)
        incarnation.exit_code = self.current.stop()
        incarnation.exited_by_itself = not alive
        return alive

    def restart_if_gone(self) -> None:
        """A process that ended by itself is a finding; it is recorded and started again."""
        if self.current is not None and self.current.process.poll() is not None:
            self.kill()
            self.start()

    def stop(self) -> None:
        """Ctrl-C, as an operator would: a clean stop, so the final state is on disk."""
        incarnation = self.run.incarnations[-1]
        incarnation.ended = time.time()
        incarnation.exited_by_itself = self.current.process.poll() is not None
        incarnation.exit_code = self.current.stop(signal.SIGINT, timeout=60)


def kill_moments(plan: Plan) -> list[float]:
    """Seconds after the stream starts: one random moment in each of `kills` equal slots over the
    receiving time and a tail of 15 % after it, at least MIN_GAP apart."""
    rng = random.Random(plan.seed * 7919 + 1)
    slot = plan.receiving_seconds * 1.15 / plan.kills
    gap = min(MIN_GAP, slot / 2)
    return [k * slot + gap / 2 + rng.random() * (slot - gap) for k in range(plan.kills)]


def configure(root: Path, plan: Plan, receiver_port: int, sink_port: int) -> Path:
    """The shipped config plus the proof network; SMTP out to the sink, retries within seconds, and a
    fixed token secret so the campaign can write replies to tokens the bot will issue."""
    team = members(plan.members)
    return make_config(
        root, port=receiver_port, networks_toml=shipped_networks() + NETWORK_TOML,
        contacts_csv=contacts_csv(shipped_contacts(), team),
        bot_toml={"outbound": '"smtp"', "log_level": '"info"', "outbox.retry_base_seconds": "1",
                  "outbox.batch_size": str(plan.batch_size), "processing.retry_base_seconds": "1"},
        env=f"SMTP_HOST=127.0.0.1\nSMTP_PORT={sink_port}\nSMTP_TLS=none\nTOKEN_SECRET={plan.token_secret}\n")


def execute(plan: Plan, root: Path | None = None) -> Run:
    """The whole campaign up to the clean stop; the caller judges the Run."""
    root = root or Path(tempfile.mkdtemp(prefix="kkrbot-crash-campaign-"))
    team = members(plan.members)
    mails = campaign(plan.seed, plan.mails, team, plan.token_secret)
    receiver_port, sink_port = free_port(), free_port()
    config = configure(root, plan, receiver_port, sink_port)
    deadline = time.monotonic() + plan.receiving_seconds * 1.3 + plan.kills * 10 + 120
    faults = Faults(refused=team.dead, seed=plan.seed * 104729 + 3)
    with FaultySink(sink_port, root / "sink.jsonl", faults) as sink:
        mta = Mta(receiver_port, mails, plan.rate, plan.lanes, plan.seed, deadline)
        run = Run(plan, root, mails, mta, sink)
        bots = Bots(config, run)
        bots.start()
        try:
            _first_post(run, bots, mails[0])
            mta.start(mails[1:])
            _kill_campaign(run, bots, random.Random(plan.seed * 31 + 5))
            mta.join(max(1.0, deadline - time.monotonic()))
            _drain(run, bots)
        finally:
            bots.stop()
            _write_processes(run)
    return run


def _write_processes(run: Run) -> None:
    """When each process started and ended, and how: with the logs, what a reproduction needs."""
    lines = [json.dumps(dict(asdict(i), log=str(i.log))) for i in run.incarnations]
    (run.root / "processes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _first_post(run: Run, bots: Bots, mail: CampaignMail, timeout: float = 60) -> None:
    """A member posts first and the post is relayed: every member's standing token is issued
    before any reply, bounce or auto-reply of the campaign uses it."""
    time.sleep(0.5)
    if bots.current.process.poll() is not None:
        raise RuntimeError(f"kkrbot run exited at once:\n{bots.current.log()[-3000:]}")
    run.mta.deliver_now(mail)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _scalar(run.database, "select count(*) from inboundmessage where message_id = ? and state = 'done'",
                   mail.message_id):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the first post was not handled within {timeout} s")


def _kill_campaign(run: Run, bots: Bots, rng: random.Random) -> None:
    """Every third kill waits, from its moment, for stored mail that is not decided yet: a mail is
    decided within milliseconds of its commit, so random moments alone rarely find one."""
    started = time.monotonic()
    for number, moment in enumerate(kill_moments(run.plan)):
        while (wait := started + moment - time.monotonic()) > 0:
            time.sleep(min(wait, 0.25))
            bots.restart_if_gone()
        if number % 3 == 2:
            _await_undecided_mail(run.database, timeout=PROCESSING_WAIT)
        bots.kill()
        time.sleep(rng.uniform(0.2, 1.5))  # down for a moment: the MTA meets a refused connection
        bots.start()


def _await_undecided_mail(database: Path, timeout: float) -> None:
    """Return as soon as a stored mail waits to be decided, or after `timeout`."""
    end = time.monotonic() + timeout
    with closing(sqlite3.connect(database, timeout=1)) as db:
        while time.monotonic() < end:
            try:
                if db.execute("select 1 from inboundmessage where state = 'new' limit 1").fetchone():
                    return
            except sqlite3.Error:
                pass
            time.sleep(0.001)


def _drain(run: Run, bots: Bots) -> None:
    """Let the last process work without kills until the outbox is empty, or after `min_drain`
    until it holds only retries that are legitimately pending (not yet due, or due and waiting for
    the sender's periodic wake); `max_drain` at most."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < run.plan.max_drain:
        bots.restart_if_gone()
        state = _outbox_state(run.database)
        if state is not None:
            waiting_inbound, queued, overdue = state
            if not waiting_inbound and not queued and _sink_quiet(run):
                break
            if elapsed >= run.plan.min_drain and not waiting_inbound and not overdue and _sink_quiet(run):
                break
        time.sleep(0.5)
    run.drain_ended = time.time()


def _outbox_state(database: Path) -> tuple[int, int, int] | None:
    """(inbound rows still new, queued outbox rows, queued rows due longer than a wake interval)."""
    overdue_before = _db_time(time.time() - PENDING_SLACK)
    try:
        with closing(sqlite3.connect(database, timeout=10)) as db:
            waiting = db.execute("select count(*) from inboundmessage where state = 'new'").fetchone()[0]
            queued, overdue = db.execute("select count(*), coalesce(sum(next_attempt_at <= ?), 0) "
                                         "from outboxmessage where status = 'queued'", (overdue_before,)).fetchone()
    except sqlite3.Error:
        return None
    return waiting, queued, overdue


def _sink_quiet(run: Run) -> bool:
    records = run.sink.records
    return not records.exists() or time.time() - records.stat().st_mtime >= SINK_QUIET


def _scalar(database: Path, sql: str, *args: object) -> int:
    try:
        with closing(sqlite3.connect(database, timeout=10)) as db:
            return db.execute(sql, args).fetchone()[0]
    except sqlite3.Error:  # not created yet, or being migrated
        return 0


def _db_time(epoch: float) -> str:
    """A moment as the database stores it (UTC, SQLAlchemy's text form), for comparing in SQL."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
