"""Outbound figures: a list post fanned out to 1,000 members against plain smtplib, and peak memory.

fanout_recipients_per_s  from the post's inbound commit until the sink holds every copy: composed per
                         recipient (token, headers, footer template), through the outbox, over SMTP
raw_smtp_msgs_per_s      plain smtplib, pre-built messages of the same size, same number of connections
fanout_peak_rss_mb       peak resident memory of the whole `kkrbot run` process tree during a
                         10,000-recipient fan-out over SMTP
"""
from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert, update
from sqlmodel import Session, select

from bench.common import fresh_app, median, workdir
from bench.sink import Sink
from bot.actions.pipeline import process_pending
from bot.inbound.arrivals import store_inbound
from bot.inbound.routing import route
from bot.outbound.send import SmtpSender
from bot.store.models import Contact, Membership, Network, OutboxMessage
from tests.support.config import free_port, shipped_networks
from tests.support.outbound import send_due

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


def bench_app(root: Path, sink_port: int, members: int, receiver_port: int | None = None):
    env = f"SMTP_HOST=127.0.0.1\nSMTP_PORT={sink_port}\nSMTP_TLS=none\n"
    app = fresh_app(root, bot_toml={"outbound": '"smtp"', "log_level": '"warning"'}, env=env,
                    networks_toml=shipped_networks() + BENCH_NETWORK, port=receiver_port)
    seed(app, members)
    return app


def seed(app, count: int) -> None:
    """`count` members of the bench network, inserted in bulk (the region cap does not apply here)."""
    now = datetime.now(timezone.utc)
    with Session(app.engine) as session:
        network_id = session.exec(select(Network.id).where(Network.slug == "bench")).one()
        session.execute(insert(Contact), [dict(email=f"medlem{i}@bench.example.dk", name=f"Medlem {i} Ærø",
                                               organisation="Bench Kommune", municipality="Bench", region="Midtjylland",
                                               kind="kommune", active=True, delivery_disabled=False,
                                               created_at=now, updated_at=now) for i in range(count)])
        ids = session.exec(select(Contact.id).where(Contact.email.like("%@bench.example.dk"))).all()
        session.execute(insert(Membership), [dict(network_id=network_id, contact_id=i, role="member", source="csv",
                                                  active=True, opted_out=False) for i in ids])
        session.commit()


def post(index: int) -> bytes:
    body = ("Kære alle,\r\n\r\n" + "Her er status på udrulningen af FMK i kommunerne.\r\n" * 60).encode()
    return (f"From: Medlem 0 <medlem0@bench.example.dk>\r\nTo: bench@lists.example.dk\r\n"
            f"Subject: Status på FMK-udrulning {index}\r\nMessage-ID: <fanout-{index}@bench.example.dk>\r\n"
            f"Date: Mon, 1 Mar 2027 09:00:00 +0100\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + body


def receive(app, index: int) -> None:
    store_inbound(app.engine, post(index), source="smtp", envelope_from="medlem0@bench.example.dk",
                  envelope_to=["bench@lists.example.dk"],
                  deliveries=[route("bench@lists.example.dk", app.settings.networks)], now=app.clock.now())


def one_fanout(app, sink: Sink, members: int, index: int) -> float:
    sink.reset()
    receive(app, index)
    started = time.perf_counter()  # the post's inbound commit
    process_pending(app)
    sender = SmtpSender(app.settings)
    send_due(app, sender)
    finished = sink.wait_for(members)
    sender.close()
    return members / (finished - started)


def raw_smtp(app, sink: Sink, members: int, index: int) -> float:
    """Plain smtplib: messages pre-built by the bot for another post, over the same number of connections."""
    receive(app, 10_000 + index)
    process_pending(app)  # composed, not sent: the pre-built messages
    with Session(app.engine) as session:
        rows = session.exec(select(OutboxMessage.envelope_from, OutboxMessage.recipient, OutboxMessage.raw)
                            .where(OutboxMessage.kind == "post", OutboxMessage.status == "queued")).all()
    with Session(app.engine.execution_options(kkrbot_writes=True)) as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.status == "queued").values(status="sent"))
        session.commit()
    connections = app.settings.outbox.connections
    sink.reset()

    def lane(part):
        client = smtplib.SMTP("127.0.0.1", sink.port)
        for envelope, recipient, raw in part:
            client.sendmail(envelope, [recipient], raw)
        client.quit()
    threads = [threading.Thread(target=lane, args=(rows[i::connections],)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = sink.wait_for(len(rows))
    return len(rows) / (finished - started)


def fanout(members: int, runs: int) -> dict[str, float]:
    rates, raws = [], []
    with Sink(free_port()) as sink:
        for run in range(runs):
            app = bench_app(workdir(), sink.port, members)
            rates.append(one_fanout(app, sink, members, run))  # the author is one of the members
            raws.append(raw_smtp(app, sink, members, run))
            connections = app.settings.outbox.connections
            app.engine.dispose()
    return {"fanout_recipients_per_s": median(rates), "raw_smtp_msgs_per_s": median(raws),
            "raw_smtp_connections": connections, "fanout_vs_raw_smtp": median(rates) / median(raws)}


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


def peak_rss(members: int) -> dict[str, float]:
    """A real `kkrbot run` sends a 10,000-recipient post over SMTP; sample its process tree's RSS."""
    root = workdir()
    with Sink(free_port()) as sink:
        port = free_port()
        app = bench_app(root, sink.port, members, receiver_port=port)
        app.engine.dispose()
        env = {**os.environ, "KKRBOT_CONFIG": str(root / "config")}
        bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        bot.stdout.readline()  # the start line: it listens
        peak = tree_rss_kb(bot.pid)
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("medlem0@bench.example.dk", ["bench@lists.example.dk"], post(0))
        deadline = time.perf_counter() + 900
        while sink.messages.value < members and time.perf_counter() < deadline:
            peak = max(peak, tree_rss_kb(bot.pid))
            time.sleep(0.02)
        sent = sink.messages.value
        bot.terminate()
        bot.wait(30)
    if sent < members:
        raise SystemExit(f"rss bench: only {sent} of {members} messages arrived")
    return {"fanout_peak_rss_mb": peak / 1024, "fanout_rss_recipients": members}
