"""`kkrbot config reload`: checked first, applied in one transaction or not at all, and taken up by
a running bot through the database: a moved meeting gets an update, a cancelled one a CANCEL."""
from __future__ import annotations

import mailbox
import time
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from icalendar import Calendar
from sqlmodel import Session, func, select

from bot.app import App
from bot.config.settings import load_settings
from bot.core.clock import FixedClock
from bot.startup import ConfigFollower, config_digests, prepare_database, reload_config
from bot.store.models import ConfigGeneration, Meeting
from tests.support.config import make_config, shipped_networks
from tests.support.khal import khal  # noqa: F401  (the khal fixture)
from tests.support.process import BotProcess, kkrbot

CHAIR = "birgitte.holm@kl.example.dk"
SHIPPED_SERIES = 'rrule = "FREQ=MONTHLY;INTERVAL=4;BYDAY=+2TH"'


def networks_toml(first: date, moved: date | None = None, cancelled: date | None = None) -> str:
    """The shipped networks, with it-netvaerk meeting twice, two weeks apart, from `first`."""
    text = shipped_networks()
    start = text.index("[network.meetings]", text.index('slug = "it-netvaerk"'))
    end = text.index("[[network]]", start)
    assert SHIPPED_SERIES in text[start:end]
    series = (f'[network.meetings]\nrrule = "FREQ=WEEKLY;INTERVAL=2;COUNT=2"\nfirst = {first}\n'
              'start = "10:00"\nend = "13:00"\nmode = "physical"\nplace = "KL, Weidekampsgade 10"\n')
    if cancelled:
        series += f"cancelled = [{cancelled}]\n"
    if moved:
        series += f"\n[[network.meetings.moved]]\noriginal = {first}\ndate = {moved}\n"
    return text[:start] + series + "\n\n" + text[end:]


def calendars(sent_dir: Path, recipient: str) -> list[Calendar]:
    """Every iCalendar part sent to one person, in the order the bot wrote them."""
    found = []
    for key, message in sorted(mailbox.Maildir(sent_dir, create=False).iteritems(), key=lambda kv: kv[0]):
        parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
        if recipient not in str(parsed["To"]):
            continue
        found += [Calendar.from_ical(p.get_payload(decode=True)) for p in parsed.walk()
                  if p.get_content_type() == "text/calendar"]
    return sorted(found, key=lambda c: int(c.walk("VEVENT")[0].get("SEQUENCE", 0)))


def of_meeting(found: list[Calendar], day: date) -> list[tuple[str, int, date]]:
    uid = f"it-netvaerk-{day.isoformat()}@lists.example.dk"
    return [(str(c["METHOD"]), int(e.get("SEQUENCE", 0)), e.decoded("DTSTART").date())
            for c in found for e in c.walk("VEVENT") if str(e["UID"]) == uid]


def wait_for(check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {check()!r}")


def test_a_running_bot_takes_up_a_reload_sends_update_and_cancel_and_khal_follows(tmp_path, khal):  # noqa: F811
    first = date.today() + timedelta(days=20)
    second, moved = first + timedelta(days=14), first + timedelta(days=1)
    root = tmp_path / "bot"  # tmp_path/config is khal's
    config = make_config(root, networks_toml=networks_toml(first))
    sent = root / "var" / "sent"
    bot = BotProcess(config)
    try:
        bot.first_line()
        invited = wait_for(lambda: sent.exists() and len(of_meeting(calendars(sent, CHAIR), first))
                           + len(of_meeting(calendars(sent, CHAIR), second)) == 2 and calendars(sent, CHAIR))
        (config / "networks.toml").write_text(networks_toml(first, moved=moved, cancelled=second), encoding="utf-8")
        reloaded = kkrbot(config, "config", "reload")
        assert reloaded.returncode == 0, reloaded.stderr
        assert f"it-netvaerk/{first}" in reloaded.stdout and f"it-netvaerk/{second}" in reloaded.stdout
        bot.wait_for_log("event=config_taken_up")
        after = wait_for(lambda: len(calendars(sent, CHAIR)) >= len(invited) + 2 and calendars(sent, CHAIR))
    finally:
        assert bot.stop() == 0
    assert of_meeting(after, first) == [("REQUEST", 0, first), ("REQUEST", 1, moved)]
    assert of_meeting(after, second) == [("REQUEST", 0, second), ("CANCEL", 1, second)]
    for index, calendar in enumerate(after):  # in the order the mails came, as a member's client would
        (tmp_path / f"{index}.ics").write_bytes(calendar.to_ical())
        khal("import", "--batch", str(tmp_path / f"{index}.ics"))
    listed = khal("list", first.isoformat(), (second + timedelta(days=1)).isoformat(), "--day-format", "",
                  "--format", "{cancelled}{start}|{title}")
    events = [line for line in listed.splitlines() if line.strip() and "it-netværk på" in line]
    assert [e for e in events if "CANCELLED" not in e] == [f"{moved} 10:00|Kommunalt it-netværk på sundhedsområdet"]
    assert all(str(second) in e for e in events if "CANCELLED" in e)


def test_a_broken_config_is_not_reloaded_and_nothing_is_applied(tmp_path):
    config = make_config(tmp_path)
    app = App.create(load_settings(config, environ={}), FixedClock(), create_secret=True)
    prepare_database(app)
    before = _state(app)
    (config / "networks.toml").write_text(shipped_networks().replace("first = 2026-12-10", "first = 2026-13-10"),
                                          encoding="utf-8")
    refused = kkrbot(config, "config", "reload")
    assert refused.returncode == 2 and "networks.toml" in refused.stderr and "nothing was changed" in refused.stderr
    assert _state(app) == before


def test_a_bot_does_not_take_up_a_file_edited_after_the_reload_checked_it_nor_undo_the_reload(tmp_path):
    config = make_config(tmp_path)
    app = App.create(load_settings(config, environ={}), FixedClock(), create_secret=True)
    follower = ConfigFollower(app, prepare_database(app), on_new=lambda settings: None)
    digests = config_digests(config)
    renamed = shipped_networks().replace('name = "Kommunalt it-netværk', 'name = "Det kommunale it-netværk')
    (config / "networks.toml").write_text(renamed, encoding="utf-8")
    reload_config(App.create(load_settings(config, environ={}), app.clock), digests)  # checked the old file
    assert follower.follow() is False
    with Session(app.engine) as session:
        assert follower.behind(session)  # so the hourly refresh does not sync from the old networks
    reload_config(App.create(load_settings(config, environ={}), app.clock), config_digests(config))
    assert follower.follow() is True
    assert app.settings.network("it-netvaerk").name.startswith("Det kommunale")
    with Session(app.engine) as session:
        assert not follower.behind(session)


def _state(app: App) -> tuple:
    with Session(app.engine) as session:
        generations = session.exec(select(func.count()).select_from(ConfigGeneration)).one()
        meetings = session.exec(select(Meeting.series_id, Meeting.starts_at, Meeting.status, Meeting.sequence)).all()
    return generations, sorted(meetings)
