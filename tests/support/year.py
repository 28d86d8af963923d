"""The demo network's year with the bot reading its list mailbox over IMAP, as with `inbound = "imap"`.

The same simulated members and clock steps as `kkrbot demo` (bot/demo/), but their answers are
delivered into a real Dovecot mailbox (with the `Delivered-To` a real MTA adds), which the bot's
IMAP cursor reads, and every mail the bot sends goes through the real SMTP sender to a real
aiosmtpd server that files it into a Maildir and records when it arrived.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from bot.actions.pipeline import process_pending
from bot.app import App
from bot.config.settings import load_settings
from bot.core.clock import FixedClock
from bot.demo.people import Answer, People
from bot.demo.sink import Delivered, MaildirSink
from bot.demo.year import Inbound, Period, Year, drive
from bot.inbound.imap_cursor import ImapAccount, MailboxCursor, connect
from bot.outbound.send import SmtpSender
from bot.startup import prepare_database
from tests.support.config import imap_env, make_config, shipped_contacts, shipped_networks

SEED = 2026


@dataclass
class ImapYear:
    """What a test checks afterwards: the year (every delivered mail), the people (what they answered)
    and the bot (its database)."""

    year: Year
    people: People
    app: App
    config: Path


def imap_year(root: Path, dovecot, period: Period, networks_toml: str | None = None,
              contacts_csv: str | None = None) -> ImapYear:
    """Run the first network's `period` through Dovecot and aiosmtpd; the app is left open for the checks."""
    clock = FixedClock(period.start)
    maildir = root / "Maildir"
    with MaildirSink(maildir, clock) as sink:
        env = imap_env(dovecot) + f"SMTP_HOST=127.0.0.1\nSMTP_PORT={sink.port}\nSMTP_TLS=none\n"
        config = make_config(root, bot_toml={"inbound": '"imap"', "outbound": '"smtp"'}, env=env,
                             networks_toml=networks_toml, contacts_csv=contacts_csv)
        app = App.create(load_settings(config, environ={}), clock, create_secret=True)
        prepare_database(app)
        network = app.settings.networks[0]
        people = People(app, network, SEED)
        year = Year(network, period, maildir)
        client = connect(ImapAccount.from_settings(app.settings))
        sender = SmtpSender(app.settings, clock=clock)
        try:
            cursor = MailboxCursor(app, client, lambda: process_pending(app))
            inbound = Inbound(lambda answer: dovecot.append(_as_delivered(answer)), cursor.run_once)
            drive(app, network, period, sink, people, year, inbound, sender)
        finally:
            sender.close()
            client.logout()
        year.delivered = sink.delivered
    return ImapYear(year, people, app, config)


def _as_delivered(answer: Answer) -> bytes:
    """The answer as the organisation's mail server files it into the list mailbox."""
    return f"Delivered-To: {answer.to}\r\n".encode() + answer.raw


# -- what a user checks: from the config files, not from the bot's code ------------------------------

CHAIR, VICE_CHAIR = "birgitte.holm@kl.example.dk", "soren.aero@aarhus.example.dk"
SECRETARY = "anne.hansen@kl.example.dk"
# The demo network's meetings as the shipped networks.toml makes them, in the Danish the templates write:
# 8 April moved to 15 April, 3 June extra (13-15), 12 August cancelled, and December 2026's minutes.
DEC_2026 = "torsdag den 10. december 2026 kl. 10.00–13.00"
APRIL = "torsdag den 15. april 2027 kl. 10.00–13.00"
JUNE = "torsdag den 3. juni 2027 kl. 13.00–15.00"
DECEMBER = "torsdag den 9. december 2027 kl. 10.00–13.00"
# The deadline for items (10 days before, when the draft goes out) and the day the agenda goes out.
DEADLINES = {APRIL: "mandag den 5. april 2027 kl. 10.00", JUNE: "mandag den 24. maj 2027 kl. 13.00",
             DECEMBER: "mandag den 29. november 2027 kl. 10.00"}
AGENDA_DAYS = {APRIL: "torsdag den 8. april 2027 kl. 10.00", JUNE: "torsdag den 27. maj 2027 kl. 13.00",
               DECEMBER: "torsdag den 2. december 2027 kl. 10.00"}


def contacts(config: Path) -> list[dict[str, str]]:
    with (config / "contacts.csv").open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def members_of(config: Path, slug: str) -> set[str]:
    return {row["email"] for row in contacts(config) if slug in row["networks"].split(";")}


def consultants_of(config: Path, regions: set[str]) -> set[str]:
    return {row["email"] for row in contacts(config) if row["role"] == "kkr-konsulent" and row["region"] in regions}


def meeting_of(mail: Delivered) -> str:
    """Which meeting a mail is about, by the Danish date its subject names (the time is in the body)."""
    subject = " ".join(str(mail.message["Subject"]).split())
    found = [day for day in (DEC_2026, APRIL, JUNE, DECEMBER) if day.partition(" kl.")[0] in subject]
    return found[0] if len(found) == 1 else subject


COVERED = {"Syddanmark", "Midtjylland", "Nordjylland"}


def three_region_config() -> tuple[str, str]:
    """networks.toml and contacts.csv for the demo network alone, covering three of the five regions:
    its members from the other two are left out, all five regions' KKR consultants stay. The bot
    ticks every configured network; alone, the network's year is the one `kkrbot demo` shows."""
    shipped = shipped_networks()
    first = shipped[:shipped.index("[[network]]", shipped.index("[[network]]") + 1)]
    regions = re.search(r"^regions = \[.*\]$", first, re.M).group(0)
    networks = first.replace(regions, "regions = [" + ", ".join(f'"{r}"' for r in sorted(COVERED)) + "]")
    rows = list(csv.DictReader(io.StringIO(shipped_contacts())))
    kept = []
    for row in rows:
        row["networks"] = ";".join(s for s in row["networks"].split(";") if s == "it-netvaerk")
        if row["role"] == "kkr-konsulent" or (row["networks"] and row["region"] in COVERED | {""}):
            kept.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    return networks, out.getvalue()
