"""The short version of `make bench`: every benchmark runs on small sizes and prints its lines."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

FIGURES = ("ingest_msgs_per_s", "raw_imap_fetch_msgs_per_s", "raw_imap_fetch_batch", "ingest_vs_raw_imap",
           "idle_latency_p95_s", "raw_idle_latency_p95_s", "idle_overhead_p95_s", "fanout_recipients_per_s",
           "raw_smtp_msgs_per_s", "fanout_vs_raw_smtp", "big_post_db_growth_mb", "big_post_peak_rss_mb",
           "receive_msgs_per_s", "raw_receive_msgs_per_s", "receive_vs_raw_smtp", "receive_durable_msgs_per_s",
           "receive_normal_msgs_per_s", "durable_commit_cost", "cycle_year_s", "cycle_mails_invitation",
           "cycle_mails_minutes", "cycle_mails_call")


@pytest.mark.sqlite_only  # the one-process figures are SQLite's; make bench adds PostgreSQL's (bench/scale.py)
def test_make_bench_quick_prints_every_figure():
    done = subprocess.run([sys.executable, "-m", "bench", "--quick"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    values = dict(re.findall(r"^(\w+): ([0-9.]+)$", done.stdout, re.M))
    for name in FIGURES:
        assert float(values[name]) > 0, name
