"""`python -m bench [--quick]`: run every benchmark and print one `name: value` line per figure."""
from __future__ import annotations

import argparse
import sys

from bench import fanout, ingest
from bench.common import workdir
from tests.servers.dovecot import DovecotServer, require_dovecot


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the benches work (make test)")
    options = parser.parse_args()
    backlog, runs, trials, recipients, big = (200, 1, 5, 100, 1000) if options.quick else (2000, 3, 30, 1000, 10000)
    require_dovecot()
    with DovecotServer(workdir() / "dovecot") as server:
        for name, value in {**ingest.ingest(server, backlog, runs), **ingest.idle_latency(server, trials)}.items():
            print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}", flush=True)
    for name, value in {**fanout.fanout(recipients, runs), **fanout.peak_rss(big)}.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
