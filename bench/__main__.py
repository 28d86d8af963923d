"""`python -m bench [--quick]`: run every benchmark and print one `name: value` line per figure."""
from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import bigpost, cycle, fanout, ingest, receive
from bench.common import workdir
from tests.servers.dovecot import DovecotServer, require_dovecot


@dataclass(frozen=True)
class Sizes:
    backlog: int  # mails in the IMAP backlog
    runs: int  # medians of this many runs
    idle_trials: int
    members: int  # fan-out recipients
    small_posts: int
    big_post_members: int
    received: int  # posts sent to the receiver
    cycle_months: int  # of the demo network's year on the simulated clock


FULL = Sizes(backlog=2000, runs=3, idle_trials=30, members=1000, small_posts=20, big_post_members=500, received=2000,
             cycle_months=12)
QUICK = Sizes(backlog=200, runs=1, idle_trials=5, members=50, small_posts=2, big_post_members=20, received=100,
              cycle_months=3)


def show(figures: dict) -> None:
    for name, value in figures.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the benches work (make test)")
    quick = parser.parse_args().quick
    sizes = QUICK if quick else FULL
    require_dovecot()
    with DovecotServer(workdir() / "dovecot") as server:
        show(ingest.ingest(server, sizes.backlog, sizes.runs))
        show(ingest.idle_latency(server, sizes.idle_trials))
    show(fanout.fanout(sizes.members, sizes.runs, sizes.small_posts))
    show(bigpost.db_growth(sizes.big_post_members))
    show(bigpost.peak_rss(sizes.big_post_members, sizes.runs))
    show(receive.while_relaying(sizes.received, sizes.runs))
    show(receive.durable_cost(sizes.received, sizes.runs))
    show(cycle.cycle_year(sizes.runs, sizes.cycle_months))
    if not quick:
        scale(sizes)


def scale(sizes: Sizes) -> None:
    """Three processes on PostgreSQL (bench/scale.py), on a throwaway cluster: the same sizes as
    ingest_msgs_per_s and fanout_recipients_per_s above, so the lines compare within one run."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "with-postgres"
    done = subprocess.run([str(script), sys.executable, "-m", "bench.scale", f"--backlog={sizes.backlog}",
                           f"--members={sizes.members}", f"--small-posts={sizes.small_posts}"])
    if done.returncode != 0:
        raise SystemExit(f"the PostgreSQL bench failed ({done.returncode})")


if __name__ == "__main__":
    sys.exit(main())
