"""Three `kkrbot run` processes on one PostgreSQL database (issue 13), beside one on SQLite.

Run by `python -m bench` inside scripts/with-postgres (KKRBOT_TEST_DATABASE_URL names the cluster):

ingest_msgs_per_s_pg_3proc        the ingest backlog (bench/backlog.py: posts, commands, answers,
                                  auto-replies, bounces) sent to the three receivers over 4 connections
                                  each, from the first mail until every one is decided
fanout_recipients_per_s_pg_3proc  the fan-out posts (20 small, one with 5 MB) to 1,000 members, sent to
                                  the three receivers in turn, from the first post until the sink holds
                                  every copy
takeover_s                        inbound = "imap": SIGKILL to the process reading the inbox, then one
                                  mail appended: seconds until it is decided by another process
"""
from __future__ import annotations

import argparse
import os
import smtplib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from email.utils import getaddresses
from pathlib import Path

from sqlalchemy import create_engine, text

from bench import fanout, ingest
from bench.common import workdir
from bench.sink import Sink
from tests.servers.dovecot import DovecotServer
from tests.support.config import free_port
from tests.support.process import BotProcess

PROCESSES = 3
LANES = 4  # connections per receiver, as bench/receive.py and the proof's MTA use


class Cluster:
    """Three real bot processes on the config of `app`, each with its own receiver port."""

    def __init__(self, app, extra: dict[str, str] | None = None):
        self.url = app.settings.database_url
        self.engine = create_engine(self.url)
        self.ports = [free_port() for _ in range(PROCESSES)]
        self.bots = [BotProcess(app.settings.config_dir, {"KKRBOT_INSTANCE": str(n + 1),
                                                          "KKRBOT_RECEIVER_PORT": str(port), **(extra or {})})
                     for n, port in enumerate(self.ports)]
        for bot in self.bots:
            bot.first_line(timeout=120)

    def count(self, sql: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(text(sql)).scalar() or 0

    def wait(self, sql: str, target: int, timeout: float = 600) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(sql) >= target:
                return time.perf_counter()
            time.sleep(0.05)
        raise SystemExit(f"scale bench: {sql} did not reach {target} within {timeout} s")

    def send(self, mails: list[tuple[str, list[str], bytes]]) -> None:
        """The mails spread over the three receivers, LANES connections each, as a mail server with three
        transport targets delivers a queue (each 250 waits for its durable commit)."""
        lanes = [(self.ports[n % PROCESSES], mails[n::PROCESSES * LANES]) for n in range(PROCESSES * LANES)]

        def lane(port: int, part: list[tuple[str, list[str], bytes]]) -> None:
            with smtplib.SMTP("127.0.0.1", port) as client:
                for sender, recipients, raw in part:
                    client.sendmail(sender, recipients, raw)
        with ThreadPoolExecutor(len(lanes)) as pool:
            list(pool.map(lambda args: lane(*args), lanes))

    def stop(self) -> None:
        for bot in self.bots:
            if bot.process.poll() is None:
                bot.stop()
        self.engine.dispose()


def ingest_3proc(server: DovecotServer, count: int) -> float:
    """Messages per second through three receivers and workers."""
    server.empty_mailbox()
    app = ingest.imap_app(workdir(), server)
    mails = ingest.backlog_for(app, count)
    app.engine.dispose()
    set_inbound_smtp(app.settings.config_dir)
    cluster = Cluster(app)
    try:
        started = time.perf_counter()
        cluster.send([("sender@example.dk", [addressee(m.raw)], m.raw) for m in mails])
        finished = cluster.wait("SELECT count(*) FROM inboundmessage WHERE state = 'done'", len(mails))
    finally:
        cluster.stop()
    return len(mails) / (finished - started)


def fanout_3proc(members: int, small_posts: int) -> float:
    """Copies per second: the posts of one fan-out run to `members`, shared by three senders."""
    with Sink(free_port()) as sink:
        app = fanout.bench_app(workdir(), sink.port, members)
        posts = [*fanout.posts(0)[:small_posts], fanout.posts(0)[-1]]
        app.engine.dispose()
        cluster = Cluster(app)
        try:
            sink.reset()
            started = time.perf_counter()
            cluster.send([(fanout.AUTHOR, [fanout.LIST], raw) for raw in posts])
            finished = sink.wait_for(members * len(posts), timeout=900)
        finally:
            cluster.stop()
    return members * len(posts) / (finished - started)


def takeover(server: DovecotServer) -> float:
    """Seconds from SIGKILL of the inbox reader to the next mail decided by another process."""
    server.empty_mailbox()
    app = ingest.imap_app(workdir(), server)
    app.engine.dispose()
    cluster = Cluster(app)
    try:
        cluster.wait("SELECT count(*) FROM lease WHERE name LIKE 'imap:%'", 1)
        with cluster.engine.connect() as connection:
            holder = connection.execute(text("SELECT holder FROM lease WHERE name LIKE 'imap:%'")).scalar()
        victim = next(bot for n, bot in enumerate(cluster.bots) if holder.endswith(f"/{n + 1}"))
        victim.kill()
        killed = time.perf_counter()
        server.append(fanout.post(1))
        finished = cluster.wait("SELECT count(*) FROM inboundmessage WHERE state = 'done'", 1, timeout=120)
    finally:
        cluster.stop()
    return finished - killed


def addressee(raw: bytes) -> str:
    """The list address (or +tag address) the mail is written to: its envelope recipient."""
    headers = message_from_bytes(raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0])
    found = [address for _, address in getaddresses(headers.get_all("To", [])) if "@lists.example.dk" in address]
    return found[0] if found else "it-netvaerk@lists.example.dk"


def set_inbound_smtp(config_dir: Path) -> None:
    toml = config_dir / "bot.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('inbound = "imap"', 'inbound = "smtp"'),
                    encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--small-posts", type=int, default=20)
    args = parser.parse_args()
    if not os.environ.get("KKRBOT_TEST_DATABASE_URL"):
        raise SystemExit("run inside scripts/with-postgres")
    with DovecotServer(workdir() / "dovecot") as server:
        print(f"ingest_msgs_per_s_pg_3proc: {ingest_3proc(server, args.backlog):.3f}", flush=True)
        print(f"takeover_s: {takeover(server):.3f}", flush=True)
    print(f"fanout_recipients_per_s_pg_3proc: {fanout_3proc(args.members, args.small_posts):.3f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
