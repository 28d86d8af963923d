"""Without an admin_address nothing is mailed to nobody: the events wait, counted where the administrator looks.

bot.toml requires the key today, so an empty address comes only from settings built in
code; the notice path must still never compose a mail to "".
"""
from __future__ import annotations

import logging
from dataclasses import replace

from sqlmodel import Session, select

from bot.app import App
from bot.cli.reports import print_status
from bot.outbound import admin_notices
from bot.startup import prepare_database
from bot.store.models import AdminEvent, OutboxMessage


def unaddressed(app: App) -> App:
    return replace(app, settings=replace(app.settings, admin_address=""))


def test_without_an_admin_address_no_notice_is_composed_and_the_events_stay(app, capsys, caplog):
    app = unaddressed(app)
    prepare_database(app)
    admin_notices.record(app, "inbound-failed", "inbound #7 set aside after 5 attempts")
    admin_notices.record(app, "outbox-expired", "outbox #9 given up")
    assert admin_notices.send_admin_notice(app) is False
    with Session(app.engine) as session:
        assert session.exec(select(OutboxMessage)).all() == []  # nothing composed to an empty address
        assert [e.notified_at for e in session.exec(select(AdminEvent))] == [None, None]  # still to report
    print_status(app)
    status = " ".join(capsys.readouterr().out.split())  # as one line, however the console wrapped it
    assert "administrator events not yet reported: 2 (admin_address is not set: no notice is sent)" in status
    caplog.set_level(logging.INFO, logger="kkrbot")
    admin_notices.warn_if_unaddressed(app)  # what `kkrbot run` says once when it starts
    assert [r.levelno for r in caplog.records if "event=admin_address_unset" in r.getMessage()] == [logging.WARNING]
