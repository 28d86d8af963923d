"""Outbound figures: list posts fanned out to 1,000 members against plain smtplib.

fanout_recipients_per_s  20 posts of 3-10 KB and one with a 5 MB attachment, each from its inbound
                         commit until the sink holds every copy: handled, queued as a send job, each
                         copy made at send time and sent over SMTP
raw_smtp_msgs_per_s      plain smtplib sending one pre-built copy per post, the same bytes to every
                         recipient, over the same number of connections, to the same sink
"""
from __future__ import annotations

import random
import smtplib
import threading
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, select

from bench.common import fresh_app, median, workdir
from bench.sink import Sink
from bot.actions.pipeline import process_pending
from bot.daemon import send_outbox
from bot.inbound.arrivals import store_inbound
from bot.inbound.routing import route
from bot.outbound.copies import CopyMaker, QueuedRow, joined
from bot.outbound.send import SmtpSender
from bot.store.models import Contact, Membership, Network, OutboxMessage, SendJob
from tests.support.config import free_port, shipped_networks

BENCH_NETWORK = '''
[[network]]
slug = "bench"
name = "Bench-netværket for sundheds-it"
address = "bench@lists.example.dk"
region_cap = 50
[network.meetings]
mode = "virtual"
video_link = "https://meet.example.dk/bench"
'''
LIST = "bench@lists.example.dk"
AUTHOR = "medlem0@bench.example.dk"


def bench_app(root: Path, sink_port: int, members: int, receiver_port: int | None = None, **config):
    env = f"SMTP_HOST=127.0.0.1\nSMTP_PORT={sink_port}\nSMTP_TLS=none\n"
    app = fresh_app(root, bot_toml={"outbound": '"smtp"', "log_level": '"warning"', **config.pop("bot_toml", {})},
                    env=env, networks_toml=shipped_networks() + BENCH_NETWORK, port=receiver_port, **config)
    seed(app, members)
    return app


def seed(app, count: int) -> None:
    """`count` members of the bench network, inserted in bulk (the region cap does not apply here)."""
    if not count:
        return
    now = datetime.now(timezone.utc)
    with Session(app.engine.execution_options(kkrbot_writes=True)) as session:
        network_id = session.exec(select(Network.id).where(Network.slug == "bench")).one()
        session.execute(insert(Contact), [dict(email=f"medlem{i}@bench.example.dk", name=f"Medlem {i} Ærø",
                                               organisation="Bench Kommune", municipality="Bench", region="Midtjylland",
                                               kind="kommune", active=True, delivery_disabled=False,
                                               created_at=now, updated_at=now) for i in range(count)])
        ids = session.exec(select(Contact.id).where(Contact.email.like("%@bench.example.dk"))).all()
        session.execute(insert(Membership), [dict(network_id=network_id, contact_id=i, role="member", source="csv",
                                                  active=True, opted_out=False) for i in ids])
        session.commit()


def post(index: int, size: int = 6000, attachment_bytes: int = 0) -> bytes:
    """A member's post: Danish text of `size` bytes, optionally with an attachment of random bytes."""
    message = EmailMessage()
    message["From"] = f"Medlem 0 Ærø <{AUTHOR}>"
    message["To"] = LIST
    message["Subject"] = f"Status på FMK-udrulning {index}"
    message["Message-ID"] = f"<fanout-{index}@bench.example.dk>"
    message["Date"] = "Mon, 1 Mar 2027 09:00:00 +0100"
    line = "Her er status på udrulningen af FMK i kommunerne, æøå.\n"
    message.set_content(line * (size // len(line.encode()) + 1), cte="8bit")
    if attachment_bytes:
        data = random.Random(index).randbytes(attachment_bytes)
        message.add_attachment(data, maintype="application", subtype="pdf", filename="bilag.pdf")
    return message.as_bytes(policy=SMTP)  # CRLF, as mail travels


def posts(run: int) -> list[bytes]:
    rng = random.Random(run)
    small = [post(run * 100 + i, size=rng.randint(3000, 10000)) for i in range(20)]
    return [*small, post(run * 100 + 99, size=4000, attachment_bytes=5 * 1024 * 1024)]


def receive(app, raw: bytes) -> None:
    store_inbound(app.engine, raw, source="smtp", envelope_from=AUTHOR, envelope_to=[LIST],
                  deliveries=[route(LIST, app.settings.networks)], now=app.clock.now())


def one_fanout(app, sink: Sink, raw: bytes, members: int) -> float:
    """Seconds from the post's inbound commit until the sink holds every copy."""
    sink.reset()
    receive(app, raw)
    started = time.perf_counter()
    process_pending(app)
    sender = SmtpSender(app.settings)
    send_outbox(app, sender)
    finished = sink.wait_for(members)
    sender.close()
    return finished - started


def prebuilt_copy(app) -> bytes:
    """One copy of the last post exactly as the bot made it: the raw baseline's message."""
    with Session(app.engine) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.job_id == select(SendJob.id)
                                                       .order_by(SendJob.id.desc()).limit(1).scalar_subquery())
                           .limit(1)).one()
        queued = QueuedRow(row.id, row.recipient, row.envelope_from, row.raw, row.job_id, row.token)
        return joined(CopyMaker(app).parts(session, queued))


def raw_smtp(app, sink: Sink, message: bytes, members: int) -> float:
    """Seconds for plain smtplib to send `message` to every member, one per transaction, over the
    same number of connections as the bot."""
    connections = app.settings.outbox.connections
    recipients = [f"medlem{i}@bench.example.dk" for i in range(members)]
    sink.reset()

    def lane(part: list[str]) -> None:
        with smtplib.SMTP("127.0.0.1", sink.port) as client:
            for recipient in part:
                client.sendmail(AUTHOR, [recipient], message)
    threads = [threading.Thread(target=lane, args=(recipients[i::connections],)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sink.wait_for(members) - started


def fanout(members: int, runs: int, small_posts: int = 20) -> dict[str, float]:
    rates, raws, ratios = [], [], []
    with Sink(free_port()) as sink:
        for run in range(runs):
            app = bench_app(workdir(), sink.port, members)
            ours = theirs = 0.0
            for raw in [*posts(run)[:small_posts], posts(run)[-1]]:
                ours += one_fanout(app, sink, raw, members)
                theirs += raw_smtp(app, sink, prebuilt_copy(app), members)
            copies = members * (small_posts + 1)
            rates.append(copies / ours)
            raws.append(copies / theirs)
            ratios.append(theirs / ours)
            connections = app.settings.outbox.connections
            app.engine.dispose()
    return {"fanout_recipients_per_s": median(rates), "raw_smtp_msgs_per_s": median(raws),
            "raw_smtp_connections": connections, "fanout_vs_raw_smtp": median(ratios)}
