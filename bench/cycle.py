"""The meeting cycle: the demo network's year on the simulated clock, as `kkrbot demo` runs it.

cycle_year_s          seconds for the demo network's calendar year 2027 (the shipped config): simulated
                      members' answers in through the built-in receiver, the pipeline, the cycle's tick,
                      the outbox and the SMTP sender to a loopback server filing into a Maildir
cycle_mails_<kind>    mails of each kind that year sent, `-` in a kind written `_` (the same every run: the
                      simulated people are seeded; a run that differs fails the bench)
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from bench.common import median, workdir
from bot.config.settings import load_settings
from bot.demo.year import Period, calendar_year, run_year
from tests.support.config import make_config

YEAR = 2027


def cycle_year(runs: int, months: int = 12) -> dict[str, float | int]:
    """`months` of the year (12 for `make bench`, fewer for the short version `make test` runs)."""
    settings = load_settings(make_config(workdir()), environ={})
    network = settings.networks[0]
    year = calendar_year(YEAR, network.timezone)
    period = Period(year.start, year.end if months >= 12 else _first_of_month(1 + months, network.timezone))
    seconds, counts = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = run_year(settings, network, period, workdir() / "Maildir")
        seconds.append(time.perf_counter() - started)
        if counts is not None and result.counts() != counts:
            raise SystemExit(f"the demo's year differs between runs: {counts} then {result.counts()}")
        counts = result.counts()
    mails = {f"cycle_mails_{kind.replace('-', '_')}": n for kind, n in sorted(counts.items())}
    return {"cycle_year_s": median(seconds), **mails}


def _first_of_month(month: int, zone: str) -> datetime:
    return datetime(YEAR, month, 1, tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
