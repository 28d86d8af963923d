"""Inbound figures: how fast the built-in receiver accepts mail while the bot relays it.

receive_msgs_per_s       a real `kkrbot run` (built-in receiver, SMTP out to a sink) accepts members'
                         posts over 4 concurrent connections, each 250 after its durable commit, while
                         it relays those same posts to 100 members
raw_receive_msgs_per_s   the same client against a plain aiosmtpd server that discards
durable_commit_cost      receiver messages per second with synchronous=FULL against NORMAL, in the
                         same run (the receiver alone, nothing relayed)
"""
from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import threading
import time

from bench.common import median, workdir
from bench.fanout import LIST, bench_app, post
from bench.sink import AiosmtpdSink, Sink
from bot.config.settings import load_settings
from bot.inbound.receiver import ListReceiver, start_receiver
from bot.store.db import make_engine
from tests.support.config import free_port

CONNECTIONS = 4


def client(port: int, messages: list[bytes]) -> float:
    """Send the messages over CONNECTIONS persistent sessions; messages per second until the last 250."""
    def lane(part: list[bytes]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as session:
            for raw in part:
                session.sendmail("medlem1@bench.example.dk", [LIST], raw)
    threads = [threading.Thread(target=lane, args=(messages[i::CONNECTIONS],)) for i in range(CONNECTIONS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(messages) / (time.perf_counter() - started)


def member_posts(count: int, run: int) -> list[bytes]:
    return [post(100_000 * (run + 1) + i, size=3000) for i in range(count)]


def while_relaying(count: int, runs: int, members: int = 100) -> dict[str, float]:
    ours, raws, ratios = [], [], []
    for run in range(runs):
        messages = member_posts(count, run)
        with AiosmtpdSink(free_port()) as plain:
            raws.append(client(plain.port, messages))
        ours.append(_bot_rate(messages, members))
        ratios.append(ours[-1] / raws[-1])
    return {"receive_msgs_per_s": median(ours), "raw_receive_msgs_per_s": median(raws),
            "receive_connections": CONNECTIONS, "receive_vs_raw_smtp": median(ratios)}


def _bot_rate(messages: list[bytes], members: int) -> float:
    root = workdir()
    with Sink(free_port()) as sink:
        port = free_port()
        app = bench_app(root, sink.port, members, receiver_port=port)
        app.engine.dispose()
        env = {**os.environ, "KKRBOT_CONFIG": str(root / "config")}
        bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        try:
            bot.stdout.readline()  # the start line: it listens
            return client(port, messages)
        finally:
            bot.kill()  # the relaying is not measured: no need to wait for it
            bot.wait(60)


def durable_cost(count: int, runs: int) -> dict[str, float]:
    full, normal, ratios = [], [], []
    for run in range(runs):
        messages = member_posts(count, run)
        full.append(_receiver_rate(messages, "FULL"))
        normal.append(_receiver_rate(messages, "NORMAL"))
        ratios.append(full[-1] / normal[-1])
    return {"receive_durable_msgs_per_s": median(full), "receive_normal_msgs_per_s": median(normal),
            "durable_commit_cost": median(ratios)}


def _receiver_rate(messages: list[bytes], synchronous: str) -> float:
    root = workdir()
    app = bench_app(root, free_port(), 0)
    settings = load_settings(root / "config", environ={})
    engine = make_engine(settings.database_url, settings.processing.busy_timeout_ms, synchronous=synchronous)
    handler = ListReceiver(settings, engine, app.clock, lambda: None)
    controller = start_receiver(settings, handler, port=free_port())
    try:
        return client(controller.port, messages)
    finally:
        controller.stop()
        engine.dispose()
        app.engine.dispose()
