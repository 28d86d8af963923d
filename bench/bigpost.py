"""A post with a 10 MB attachment (about 14 MB on the wire) to 500 members: disk and memory.

big_post_db_growth_mb   the database (main file plus -wal, MiB) from before the post arrives to its
                        largest while its copies are queued and sent; the stored inbound mail is the
                        shared content, so this is about one post, not 500
big_post_peak_rss_mb    a fresh `kkrbot run` receives the post over SMTP and sends every copy: the
                        kernel's own peak (VmHWM) of each of its processes, summed
"""
from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import median, workdir
from bench.fanout import AUTHOR, LIST, bench_app, post, receive
from bench.sink import Sink
from bot.actions.pipeline import process_pending
from bot.daemon import send_outbox
from bot.outbound.send import SmtpSender
from tests.support.config import free_port

ATTACHMENT = 10 * 1024 * 1024
MIB = 1024 * 1024


def database_bytes(app) -> int:
    path = Path(app.settings.database_url.split("///", 1)[1])
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def db_growth(members: int) -> dict[str, float]:
    with Sink(free_port()) as sink:
        app = bench_app(workdir(), sink.port, members)
        before = database_bytes(app)
        receive(app, post(1, attachment_bytes=ATTACHMENT))
        process_pending(app)  # the copies are queued
        largest = database_bytes(app)
        sending = threading.Thread(target=send_outbox, args=(app, SmtpSender(app.settings)))
        sending.start()
        while sending.is_alive():
            largest = max(largest, database_bytes(app))
            time.sleep(0.01)
        sink.wait_for(members)
        largest = max(largest, database_bytes(app))
        app.engine.dispose()
    return {"big_post_db_growth_mb": (largest - before) / MIB, "big_post_recipients": members}


def peak_rss(members: int, runs: int = 1) -> dict[str, float]:
    return {"big_post_peak_rss_mb": median([_peak_rss_kb(members) / 1024 for _ in range(runs)])}


def _peak_rss_kb(members: int) -> int:
    root = workdir()
    with Sink(free_port()) as sink:
        port = free_port()
        app = bench_app(root, sink.port, members, receiver_port=port)
        app.engine.dispose()
        env = {**os.environ, "KKRBOT_CONFIG": str(root / "config")}
        bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        bot.stdout.readline()  # the start line: it listens
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail(AUTHOR, [LIST], post(2, attachment_bytes=ATTACHMENT))
        sink.wait_for(members, timeout=900)
        peak = sum(high_water_kb(pid) for pid in process_tree(bot.pid))
        bot.terminate()
        bot.wait(30)
    return peak


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def high_water_kb(pid: int) -> int:
    """The kernel's peak resident set (VmHWM) of one process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
