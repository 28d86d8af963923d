"""Three `kkrbot run` processes on one PostgreSQL database, one Dovecot inbox and one SMTP sink.

Mixed mail (posts relayed to every member, help commands, auto-replies, outsiders' posts held)
goes into the inbox while three real bot processes share the work; the process that reads the
inbox is killed with SIGKILL halfway, and another takes the mailbox over. Afterwards every mail
is stored once and decided once, every outbox row is sent, and no copy reached the sink twice
outside the one batch the killed process may have had on the wire (README "Delivery guarantees").

`make test-postgres` runs it with SCALE_MAILS (200 by default); `make proof-postgres` with 2,000.
It prints `takeover_s` (from the kill to the first mail handled after it) and the throughput.
"""
from __future__ import annotations

import csv
import os
import random
import time
from collections import Counter
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import create_engine, text

from bot.inbound.imap_cursor import LEASE_RENEW, LEASE_TTL
from tests.support.config import SHIPPED, imap_env, make_config
from tests.support.process import BotProcess

pytestmark = pytest.mark.postgres_only

MAILS = int(os.environ.get("SCALE_MAILS", "200"))
PROCESSES = 3
BATCH = 20  # [outbox] batch_size: the one batch a killed process may have sent unrecorded
LIST = "it-netvaerk@lists.example.dk"


def members() -> list[tuple[str, str]]:
    with (SHIPPED / "contacts.csv").open(encoding="utf-8") as file:
        return [(row["name"], row["email"]) for row in csv.DictReader(file) if "it-netvaerk" in row["networks"]]


def mixed_mail(number: int, rng: random.Random, people: list[tuple[str, str]]) -> bytes:
    """A post (40 %), a help command (30 %), an auto-reply (20 %) or an outsider's post (10 %)."""
    kind = rng.choices(["post", "help", "autoreply", "outsider"], [4, 3, 2, 1])[0]
    name, address = rng.choice(people) if kind != "outsider" else ("Peter Holm", f"peter{number}@example.com")
    message = EmailMessage()
    message["From"] = f"{name} <{address}>"
    message["To"] = LIST
    message["Subject"] = {"help": "hjælp", "autoreply": "Fraværende"}.get(kind, f"Erfaringer nr. {number}")
    message["Message-ID"] = make_msgid(f"scale{number}", "example.dk")
    if kind == "autoreply":
        message["Auto-Submitted"] = "auto-replied"
    message.set_content(f"Hej alle,\nindlæg nummer {number}.\n")
    return message.as_bytes()


class Cluster:
    """The three bot processes, and what the database says about them."""

    def __init__(self, config, url: str):
        self.config = config
        self.engine = create_engine(url)
        self.bots = {str(n): BotProcess(config, {"KKRBOT_INSTANCE": str(n)}) for n in range(1, PROCESSES + 1)}

    def scalar(self, sql: str):
        with self.engine.connect() as connection:
            return connection.execute(text(sql)).scalar()

    def imap_holder(self) -> str | None:
        holder = self.scalar("SELECT holder FROM lease WHERE name LIKE 'imap:%' AND expires_at > now()")
        return holder.rsplit("/", 1)[1] if holder else None

    def wait(self, what: str, predicate, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if predicate():
                return time.monotonic() - started
            for bot in self.bots.values():
                if bot.process.poll() is not None and bot.process.returncode != -9:
                    raise AssertionError(f"a bot exited ({bot.process.returncode}):\n{bot.log()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"{what}: not within {timeout} s")

    def stop(self) -> None:
        for bot in self.bots.values():
            if bot.process.poll() is None:
                bot.stop()
        self.engine.dispose()


def test_three_processes_share_the_work_and_survive_a_sigkill(tmp_path, mailbox, smtp_sink):
    env = imap_env(mailbox) + f"SMTP_HOST=127.0.0.1\nSMTP_PORT={smtp_sink.port}\nSMTP_TLS=none\n"
    config = make_config(tmp_path, env=env, bot_toml={
        "inbound": '"imap"', "outbound": '"smtp"', "imap.poll_seconds": "5", "outbox.batch_size": str(BATCH),
        "outbox.claim_seconds": "10", "outbox.retry_base_seconds": "1", "processing.retry_base_seconds": "1"})
    url = next(line.split("=", 1)[1] for line in (tmp_path / ".env").read_text().splitlines()
               if line.startswith("DATABASE_URL="))
    rng, people = random.Random(13), members()
    mails = [mixed_mail(n, rng, people) for n in range(MAILS)]
    cluster = Cluster(config, url)
    try:
        for bot in cluster.bots.values():
            bot.first_line(timeout=60)
        cluster.wait("a process reads the inbox", lambda: cluster.imap_holder() is not None, 60)
        started = time.monotonic()
        for raw in mails[: MAILS // 2]:
            mailbox.append(raw)
        cluster.wait("half the mail handled", lambda: cluster.scalar(
            "SELECT count(*) FROM inboundmessage WHERE state = 'done'") >= MAILS // 4, 120)
        victim = cluster.imap_holder()
        cluster.bots[victim].kill()  # SIGKILL: no clean stop, its lease and claims are left behind
        killed_at = time.monotonic()
        before = cluster.scalar("SELECT coalesce(max(id), 0) FROM inboundmessage")
        mailbox.append(mails[MAILS // 2])
        takeover = cluster.wait("another process takes the inbox over", lambda: cluster.scalar(
            f"SELECT count(*) FROM inboundmessage WHERE id > {before} AND state = 'done'") > 0,
            (LEASE_TTL + LEASE_RENEW).total_seconds() + 30)
        for raw in mails[MAILS // 2 + 1:]:
            mailbox.append(raw)
        cluster.wait("every mail handled", lambda: cluster.scalar(
            "SELECT count(*) FROM inboundmessage WHERE state = 'done'") == MAILS, 300)
        cluster.wait("the outbox sent", lambda: cluster.scalar(
            "SELECT count(*) FROM outboxmessage WHERE status = 'queued'") == 0, 300)
        elapsed = time.monotonic() - started
        new_holder = cluster.imap_holder()
    finally:
        cluster.stop()
    print(f"\ntakeover_s: {takeover:.1f}  (killed instance {victim} at {killed_at - started:.1f} s; "
          f"instance {new_holder} reads the inbox)")
    assert new_holder not in (None, victim) and takeover <= 60
    engine = create_engine(url)
    with engine.connect() as db:
        stored = db.execute(text("SELECT message_id, count(*) FROM inboundmessage GROUP BY message_id")).all()
        audits = Counter(m for (m,) in db.execute(text("SELECT message_id FROM auditlog WHERE action LIKE 'inbound-%'")))
        outcomes = Counter(dict(db.execute(text("SELECT outcome, count(*) FROM inboundmessage GROUP BY outcome")).all()))
        rows = db.execute(text("SELECT message_id, recipient, status FROM outboxmessage")).all()
        handlers = db.execute(text("SELECT count(DISTINCT holder) FROM lease WHERE name LIKE 'job:%'")).scalar()
    engine.dispose()
    assert len(stored) == MAILS and all(count == 1 for _, count in stored)  # each mail stored once
    assert len(audits) == MAILS and set(audits.values()) == {1}  # and decided once
    assert outcomes["handled"] > 0 and outcomes["held"] > 0 and outcomes["ignored"] > 0, outcomes
    assert {status for _, _, status in rows} == {"sent"}
    arrived = Counter((r.message["Message-ID"], recipient) for r in smtp_sink.received for recipient in r.recipients)
    expected = {(message_id, recipient) for message_id, recipient, _ in rows}
    assert expected <= set(arrived)  # every copy arrived
    twice = {key: n for key, n in arrived.items() if n > 1}
    assert len(twice) <= BATCH and set(twice.values()) <= {2}, twice  # at most the killed process's batch
    print(f"mails: {MAILS}  copies: {len(rows)}  sent twice (one-batch window): {len(twice)}  "
          f"ingest_msgs_per_s: {MAILS / elapsed:.1f}  fanout_recipients_per_s: {len(rows) / elapsed:.1f}  "
          f"job lease holders: {handlers}")
