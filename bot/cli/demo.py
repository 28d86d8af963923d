"""`kkrbot demo`: a network's year on a simulated clock, shown as a timeline and left in a Maildir.

The year itself runs in bot/demo/; this chooses the network, the period and the folder,
shows a progress bar while the simulated months pass, and prints what was sent.
"""
from __future__ import annotations

import tempfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.config.settings import Settings

if TYPE_CHECKING:  # the demo loads the daemon's parts: only when it runs, not for every command
    from bot.demo.sink import Delivered
    from bot.demo.year import Year

SHOWN_RECIPIENTS = 3  # a row names this many recipients at most; more are counted


class DemoError(Exception):
    """Something the user can fix (an unknown network, a folder in use); one line."""


def run_demo(settings: Settings, slug: str | None, year: int | None, maildir: Path | None) -> Year:
    from bot.demo.year import calendar_year, coming_twelve_months, run_year

    network = _network(settings, slug)
    period = calendar_year(year, network.timezone) if year else coming_twelve_months(datetime.now(timezone.utc))
    folder = _folder(maildir, network.slug)
    console = Console(highlight=False)
    console.print(f"kkrbot demo: {network.name} ({network.address}), "
                  f"{_day(period.start, network.timezone)} to {_day(period.end, network.timezone)}, "
                  f"on a simulated clock; mail into {folder}")
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[day]}"),
                  TimeElapsedColumn(), console=console) as progress:
        total = (period.end - period.start).total_seconds()
        task = progress.add_task("simulating the year", total=total, day="")
        year_run = run_year(settings, network, period, folder, on_moment=lambda now: progress.update(
            task, completed=(now - period.start).total_seconds(), day=_day(now, network.timezone)))
        progress.update(task, completed=total, day=_day(period.end, network.timezone))
    print_year(console, year_run)
    return year_run


def _network(settings: Settings, slug: str | None):
    if not settings.networks:
        raise DemoError("networks.toml has no network")
    if slug is None:
        return settings.networks[0]
    try:
        return settings.network(slug)
    except KeyError:
        raise DemoError(f"no network {slug!r} in networks.toml "
                        f"(there are: {', '.join(n.slug for n in settings.networks)})") from None


def _folder(maildir: Path | None, slug: str) -> Path:
    """The Maildir to fill: the one given, if new or empty, else a new one named after the run."""
    if maildir is not None:
        if maildir.exists() and (not maildir.is_dir() or any(maildir.iterdir())):
            raise DemoError(f"{maildir} exists and is not an empty folder; give a new one")
        return maildir.absolute()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"kkrbot-demo-{slug}-{stamp}-"))


def print_year(console: Console, year: Year) -> None:
    zone = year.network.timezone
    console.print(timeline(year.delivered, zone))
    counts = year.counts()
    console.print("\nMails per kind:")
    for kind, count in sorted(counts.items(), key=lambda item: _first_sent(year.delivered, item[0])):
        console.print(f"  {kind}: {count}")
    console.print(f"  total: {sum(counts.values())}")
    answers = ", ".join(f"{what} {count}" for what, count in year.answers.most_common())
    outcomes = ", ".join(f"{outcome} {count}" for outcome, count in sorted(year.outcomes.items()))
    console.print(f"\nThe simulated people sent {sum(year.answers.values())} mails ({answers}); "
                  f"the bot's outcomes: {outcomes or 'none'}.")
    if year.unsent:
        console.print(f"[bold red]{year.unsent} mail(s) were still in the outbox at the end[/]")
    console.print(f"\nEvery mail is in the Maildir {year.maildir}\nOpen it with:  mutt -f {year.maildir}")


def timeline(delivered: list[Delivered], zone: str) -> Table:
    """One row per kind of mail sent on a day: when, what, to whom."""
    table = Table(title="The year's mail", show_lines=False)
    for column in ("date", "kind", "recipients"):
        table.add_column(column)
    tz = ZoneInfo(zone)
    rows: dict[tuple, list[Delivered]] = {}
    for mail in sorted(delivered, key=lambda d: (d.at, d.kind, d.recipient)):
        rows.setdefault((mail.at.astimezone(tz).date(), mail.kind), []).append(mail)
    for (_, kind), mails in rows.items():
        table.add_row(mails[0].at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), kind, _recipients(mails))
    return table


def _recipients(mails: list[Delivered]) -> str:
    people = list(Counter(m.recipient for m in mails))
    if len(people) <= SHOWN_RECIPIENTS:
        return ", ".join(people)
    return f"{len(people)} people"


def _first_sent(delivered: list[Delivered], kind: str) -> datetime:
    return min(d.at for d in delivered if d.kind == kind)


def _day(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")

