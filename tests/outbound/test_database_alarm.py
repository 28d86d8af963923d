"""A failing database is reported at once, without the database, at most once an hour."""
from __future__ import annotations

import mailbox
from dataclasses import replace

import pytest
from sqlalchemy.exc import DatabaseError

from bot.actions.pipeline import process_pending
from bot.outbound.database_alarm import DatabaseAlarm

BROKEN = "DatabaseError: (sqlite3.DatabaseError) file is not a database"


def break_the_database(app) -> None:
    """Overwrite the SQLite file, as a failing disk might: nothing can read or write it any more."""
    app.engine.dispose()
    path = app.settings.data_dir / "kkrbot.sqlite3"
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    path.write_bytes(b"\x00garbage, not a database\x00" * 512)
    with pytest.raises(DatabaseError):
        process_pending(app)


def alarms_in_maildir(app) -> list:
    if not app.settings.sent_dir.exists():
        return []
    box = mailbox.Maildir(app.settings.sent_dir)
    return [m for m in box if m["X-Kkrbot-Kind"] == "database-alarm"]


@pytest.mark.sqlite_only  # breaks the SQLite file
def test_the_alarm_goes_out_without_the_database_and_at_most_once_an_hour(app):
    break_the_database(app)
    assert DatabaseAlarm(app)("inbound-worker", BROKEN) is True
    [alarm] = alarms_in_maildir(app)
    assert alarm["To"] == app.settings.admin_address and alarm["Subject"] == "kkrbot: databasen svarer ikke"
    text = alarm.get_payload()[0].get_payload(decode=True).decode()
    assert "i inbound-worker:" in text and "file is not a database" in text
    assert DatabaseAlarm(app)("smtp-receiver", BROKEN) is False  # within the hour, even after a restart
    app.clock.advance(minutes=59)
    assert DatabaseAlarm(app)("outbox-sender", BROKEN) is False
    assert len(alarms_in_maildir(app)) == 1
    app.clock.advance(minutes=2)
    assert DatabaseAlarm(app)("outbox-sender", BROKEN) is True
    assert len(alarms_in_maildir(app)) == 2


@pytest.mark.sqlite_only  # breaks the SQLite file
def test_the_alarm_goes_over_smtp_when_that_is_the_outbound(smtp_app, smtp_sink):
    break_the_database(smtp_app)
    assert DatabaseAlarm(smtp_app)("inbound-worker", BROKEN) is True
    [received] = smtp_sink.received
    assert received.recipients == [smtp_app.settings.admin_address]
    assert received.message["X-Kkrbot-Kind"] == "database-alarm" and received.message["Auto-Submitted"]


def test_without_an_admin_address_no_alarm_is_composed(app, caplog):
    app = replace(app, settings=replace(app.settings, admin_address=""))
    assert DatabaseAlarm(app)("inbound-worker", BROKEN) is False
    assert alarms_in_maildir(app) == []
    assert "event=database_alarm_unsent reason=\"admin_address is not set\"" in caplog.text
