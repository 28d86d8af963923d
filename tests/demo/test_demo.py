"""`kkrbot demo`: the demo network's year, run as a user runs it, checked as a user would check it.

The command runs in a subprocess on the shipped config (its data folder made to look like
one `kkrbot run` has used), for the calendar year 2027: the demo network's meetings of
15 April (moved from 8 April), 3 June (extra) and 9 December, plus the minutes of
December 2026's meeting, which the bot, started on 1 January, asks for at once. The
meeting of 12 August is cancelled in config before it is ever invited: nothing goes out.
"""
from __future__ import annotations

import mailbox
import re
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from bot.app import App
from bot.config.settings import load_settings
from bot.startup import prepare_database
from tests.support.config import make_config
from tests.support.mutt import open_in_mutt
from tests.support.process import kkrbot

MEMBERS = 13
CONSULTANTS = {"rasmus.dahl@kkr-hovedstaden.example.dk", "sofie.baek@kkr-sjaelland.example.dk",
               "thomas.aerenlund@kkr-syddanmark.example.dk", "ida.mork@kkr-midtjylland.example.dk",
               "jonas.ravnsbaek@kkr-nordjylland.example.dk"}
CHAIR, VICE_CHAIR = "birgitte.holm@kl.example.dk", "soren.aero@aarhus.example.dk"
SECRETARY = "anne.hansen@kl.example.dk"
MEETINGS = ("torsdag den 15. april 2027", "torsdag den 3. juni 2027", "torsdag den 9. december 2027")


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """One run of `kkrbot demo --year 2027`, shared by the tests below: (result, maildir, var before, var after)."""
    root = tmp_path_factory.mktemp("demo")
    var = root / "var"
    config = make_config(root, env=f"DATABASE_URL=sqlite:///{var / 'kkrbot.sqlite3'}\n")
    used = App.create(load_settings(config, environ={}), create_secret=True)  # var/ as `kkrbot run` leaves it
    prepare_database(used)
    used.engine.dispose()
    before = snapshot(var)
    maildir = root / "mail"
    result = kkrbot(config, "demo", "--year", "2027", "--maildir", str(maildir), timeout=240)
    return result, maildir, before, snapshot(var)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def mails(maildir: Path) -> list:
    """Every mail in the Maildir, parsed, as a mail client opens the folder."""
    box = mailbox.Maildir(maildir, create=False)
    return [message_from_bytes(box.get_bytes(key), policy=policy.default) for key in box.iterkeys()]


def kind(message) -> str:
    return str(message["X-Kkrbot-Kind"])


def test_the_demo_exits_by_itself_and_prints_the_timeline_and_the_counts(year):
    result, maildir, _, _ = year
    assert result.returncode == 0, result.stderr[-3000:]
    assert "The year's mail" in result.stdout and "Mails per kind:" in result.stdout
    assert re.search(r"2027-04-08 10:00 +│ agenda +│ 13 people", result.stdout), result.stdout
    assert f"mutt -f {maildir}" in result.stdout
    printed = dict(re.findall(r"^  ([a-z-]+): (\d+)$", result.stdout, re.M))
    assert {k: int(v) for k, v in printed.items() if k != "total"} == Counter(kind(m) for m in mails(maildir))
    assert "the bot's outcomes: handled" in result.stdout and "rejected" not in result.stdout


def test_the_maildir_opens_in_a_mail_client(year):
    _, maildir, _, _ = year
    assert {p.name for p in maildir.iterdir()} >= {"cur", "new", "tmp"}
    assert all(m["Delivered-To"] and m["Return-Path"] for m in mails(maildir))


def test_the_year_sends_every_kind_of_the_cycle_in_the_numbers_the_config_makes(year):
    counts = Counter(kind(m) for m in mails(year[1]))
    three = 3 * MEMBERS  # three meetings invited in 2027; August's was cancelled before its invitation
    assert {k: counts[k] for k in ("invitation", "call", "agenda", "reminder", "draft")} == {
        "invitation": three, "call": three, "agenda": three, "reminder": three, "draft": 3 * 2}
    assert counts["minutes-request"] == 4 and counts["minutes-ack"] == 4  # December 2026's and 2027's three
    assert counts["minutes"] == 4 * (MEMBERS + len(CONSULTANTS))
    assert counts["minutes-reminder"] == 1  # the secretary waited for it once
    for answered in ("item-ack", "rsvp-ack", "item-late", "late-item-approval"):
        assert counts[answered] >= 1, answered
    assert "cancel" not in counts and "refusal" not in counts and "help" not in counts


def test_each_recipient_gets_each_mail_once_and_the_right_people_get_it(year):
    everything = mails(year[1])
    assert len({m["Message-ID"] for m in everything}) == len(everything)
    per_meeting = Counter((str(m["Delivered-To"]), kind(m), str(m["Subject"])) for m in everything
                          if kind(m) in ("invitation", "call", "draft", "agenda", "reminder", "minutes"))
    assert set(per_meeting.values()) == {1}
    members = {str(m["Delivered-To"]) for m in everything if kind(m) == "invitation"}
    assert len(members) == MEMBERS
    for subject in {str(m["Subject"]) for m in everything if kind(m) == "minutes"}:
        readers = {str(m["Delivered-To"]) for m in everything if kind(m) == "minutes" and m["Subject"] == subject}
        assert readers == members | CONSULTANTS, subject
    assert {str(m["Delivered-To"]) for m in everything if kind(m) == "draft"} == {CHAIR, VICE_CHAIR}
    assert {str(m["Delivered-To"]) for m in everything if kind(m).startswith("minutes-")} == {SECRETARY}


def test_mail_carries_danish_dates_calendar_parts_and_the_minutes_as_docx(year):
    everything = mails(year[1])
    subjects = {str(m["Subject"]) for m in everything if kind(m) == "agenda"}
    assert all(any(day in s for s in subjects) for day in MEETINGS), subjects
    invitation = next(m for m in everything if kind(m) == "invitation")
    assert any(p.get_content_type() == "text/calendar" for p in invitation.walk())
    agendas = [m for m in everything if kind(m) == "agenda"]
    assert all(any((p.get_filename() or "").startswith("Bilag 1 - Notat") for p in m.iter_attachments())
               for m in agendas)  # the note a member attached to their item goes out as its appendix
    minutes = [m for m in everything if kind(m) == "minutes"]
    assert all(any((p.get_filename() or "").endswith(".docx") for p in m.iter_attachments()) for m in minutes)
    assert all("Deltagere:" in m.get_body(("plain",)).get_content() for m in minutes)


def test_the_configured_data_folder_and_database_are_untouched(year):
    _, _, before, after = year
    assert before and after == before


def test_a_folder_in_use_or_an_unknown_network_is_one_line(tmp_path):
    config = make_config(tmp_path)
    used = tmp_path / "used"
    used.mkdir()
    (used / "letter.txt").write_text("mine")
    refused = kkrbot(config, "demo", "--maildir", str(used))
    assert (refused.returncode, refused.stderr) == (1, f"kkrbot: {used} exists and is not an empty folder; "
                                                       "give a new one\n")
    unknown = kkrbot(config, "demo", "--network", "nope", "--maildir", str(tmp_path / "new"))
    assert unknown.returncode == 1 and unknown.stderr.startswith("kkrbot: no network 'nope' in networks.toml")
    assert not (tmp_path / "new").exists() and not (tmp_path / "var").exists()


def test_mutt_opens_the_maildir_and_shows_every_mail(year, tmp_path):
    _, maildir, _, _ = year
    screen = open_in_mutt(maildir, tmp_path / "home")
    assert screen.exit_code == 0
    shown = re.search(r"\[Msgs:(\d+) New:(\d+)", screen.text)
    assert shown, screen.text[-2000:]
    assert int(shown.group(1)) == int(shown.group(2)) == len(mails(maildir))
    # the index lists the first mails of the year, their Danish subjects decoded
    assert "Send referatet: Kommunalt it-netværk på sundhedsområdet, torsdag den 10. december 2026" in screen.text
