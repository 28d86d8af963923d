"""Retention on the controlled clock: old raw mail and finished outbox rows go; the year's agendas,
minutes and attendance report stay; per network `retention_days`; `kkrbot status` shows the oldest."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from bot.app import App
from bot.daemon import nightly_retention
from bot.meetings.attendance_report import attendance_report
from bot.store.models import AgendaItem, AuditLog, InboundMessage, InboundRaw, Minutes, OutboxMessage
from tests.privacy.test_gdpr import _render
from tests.privacy.year import LIST, NAME, live_a_year, make_app, mail
from tests.support.config import make_config, shipped_networks
from tests.support.inbound import deliver
from tests.support.process import kkrbot


def year_app(tmp_path, clock, networks: str | None = None, bot_toml: dict | None = None) -> App:
    app = make_app(tmp_path, clock, networks, bot_toml)
    live_a_year(app)
    return app


def counts(app) -> dict[str, int]:
    with Session(app.engine) as session:
        return {"inbound": session.exec(select(func.count()).select_from(InboundMessage)).one(),
                "raw": session.exec(select(func.count()).select_from(InboundRaw)).one(),
                "outbox": session.exec(select(func.count()).select_from(OutboxMessage)).one()}


def by_network(app) -> dict[str | None, int]:
    with Session(app.engine) as session:
        return dict(session.exec(select(OutboxMessage.network_slug, func.count())
                                 .group_by(OutboxMessage.network_slug)).all())


def test_mail_older_than_a_year_goes_and_the_year_still_renders(tmp_path, clock):
    app = year_app(tmp_path, clock)
    last, before = clock.now(), counts(app)
    clock.set(datetime(2027, 3, 26, 9, 0, tzinfo=timezone.utc) + timedelta(days=364))  # the year's first mail
    nightly_retention(app)
    assert counts(app) == before and before["inbound"] and before["outbox"]  # not a year old yet
    clock.set(last + timedelta(days=366))
    deliver(app, mail((NAME, "mette.ostergaard@herning.example.dk"), LIST, "hjælp", "\n", "help@herning.example.dk"))
    nightly_retention(app)
    assert counts(app) == {"inbound": 1, "raw": 1, "outbox": 1}  # this year's help and its queued answer stay
    with Session(app.engine) as session:
        assert session.exec(select(AgendaItem)).one().inbound_id is None  # the item stays, its mail went
        assert session.exec(select(Minutes)).one().inbound_id is None
        report = attendance_report(session, 2027, ZoneInfo("Europe/Copenhagen"), "it-netvaerk")
        [audit] = session.exec(select(AuditLog).where(AuditLog.action == "retention")).all()
    assert "Fælles FMK-opsætning" in _render(app, "agenda")
    assert "fremlagde punktet" in _render(app, "minutes")
    assert any(name == "Herning" and tally.attended for m in report for name, tally in m.by_municipality)
    assert audit.actor == "system" and "received mails" in audit.detail
    nightly_retention(app)  # nothing more is due: no second entry
    with Session(app.engine) as session:
        assert len(session.exec(select(AuditLog).where(AuditLog.action == "retention")).all()) == 1


def test_a_network_keeps_its_mail_for_its_own_retention_days(tmp_path, clock):
    networks = shipped_networks().replace('region_cap = 3\n', 'region_cap = 3\nretention_days = 30\n', 1)
    app = year_app(tmp_path, clock, networks=networks, bot_toml={"retention_days": "400"})
    assert app.settings.retention_for("it-teknik") == 30  # a sub-group inherits its parent's
    assert app.settings.retention_for("kontaktudvalg") == 400
    kept = {slug: n for slug, n in by_network(app).items() if slug == "kontaktudvalg"}
    assert kept and by_network(app)["it-netvaerk"] and by_network(app)["it-teknik"]
    clock.set(clock.now() + timedelta(days=31))
    nightly_retention(app)
    assert by_network(app) == kept  # kontaktudvalg keeps its mail for bot.toml's 400 days


def test_status_shows_the_oldest_kept_mail(tmp_path, clock):
    app = year_app(tmp_path, clock)
    result = kkrbot(app.settings.config_dir, "status")
    assert result.returncode == 0, result.stderr
    assert "oldest kept mail: received 2027-03-26" in result.stdout and "(retention_days 365)" in result.stdout


def test_config_check_names_a_bad_retention(tmp_path):
    networks = shipped_networks().replace('region_cap = 3\n', 'region_cap = 3\nretention_days = 5\n', 1)
    config = make_config(tmp_path, networks_toml=networks, bot_toml={"retention_days": "99999"})
    result = kkrbot(config, "config", "check")
    assert result.returncode == 1
    assert "retention_days" in result.stderr and "5 is out of range (30..3650)" in result.stderr
    assert "99999 is out of range (30..3650)" in result.stderr


def test_the_running_bot_runs_retention_every_night_at_a_quiet_hour(app):
    from bot.daemon import build_scheduler
    from bot.startup import ConfigFollower, prepare_database
    from bot.worker import WakeableLoop

    idle = WakeableLoop("idle", lambda: None)
    scheduler = build_scheduler(app, idle, idle, None, ConfigFollower(app, prepare_database(app), lambda _: None))
    trigger = scheduler.get_job("retention").trigger
    fields = {f.name: str(f) for f in trigger.fields}
    assert (fields["hour"], fields["minute"], str(trigger.timezone)) == ("3", "17", "Europe/Copenhagen")
