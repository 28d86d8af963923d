"""`kkrbot run` as a real process: start, receive, report, stop, and resume after a crash."""
from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy.engine import make_url

from bot.config.settings import load_settings
from tests.support.config import free_port, make_config
from tests.support.postgres import database_rows
from tests.support.process import BotProcess, kkrbot, post


def test_run_receives_a_mail_and_shows_it_in_status_and_inbox(tmp_path):
    port = free_port()
    config = make_config(tmp_path, port=port)
    database = make_url(load_settings(config, environ={}).database_url).render_as_string(hide_password=True)
    bot = BotProcess(config)
    try:
        line = bot.first_line()
        assert f"smtp://127.0.0.1:{port}" in line and f"database {database};" in line and "maildir" in line
        assert "senders not verified (no authserv_id in bot.toml)" in line  # the shipped demo has no mail server
        post(port)
        bot.wait_for_log("event=outcome")
        status = kkrbot(config, "status")
        assert status.returncode == 0, status.stderr
        assert "it-netvaerk" in status.stdout and "inbound: handled 1" in status.stdout
        inbox = kkrbot(config, "inbox")
        assert "Erfaringer med FMK" in inbox.stdout and "mette.ostergaard@herning.example.dk" in inbox.stdout
    finally:
        assert bot.stop() == 0  # Ctrl-C stops it cleanly
    assert "event=stopped" in bot.log()


@pytest.mark.sqlite_only  # the files kkrbot makes under data_dir; on PostgreSQL TOKEN_SECRET is set
def test_run_keeps_the_database_file_and_the_token_secret_private(tmp_path):
    port = free_port()
    config = make_config(tmp_path, port=port)
    bot = BotProcess(config)
    try:
        bot.first_line()
    finally:
        assert bot.stop() == 0
    secret = tmp_path / "var" / "token_secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    database = tmp_path / "var" / "kkrbot.sqlite3"
    assert database.stat().st_mode & 0o077 == 0  # the database is the bot's user's alone


def test_a_message_stored_but_not_finished_before_sigkill_is_handled_once_after_restart(tmp_path):
    port = free_port()
    config = make_config(tmp_path, port=port)
    crashing = BotProcess(config, {"KKRBOT_PAUSE_AT": "before-process"})
    crashing.first_line()
    post(port)  # 250: committed; the worker now stops at the pause point
    crashing.wait_for_log("event=paused at=before-process")
    crashing.kill()
    assert database_rows(tmp_path, "select state, outcome from inboundmessage") == [("new", None)]

    restarted = BotProcess(config)
    try:
        restarted.first_line()
        restarted.wait_for_log("event=outcome")
        time.sleep(0.3)  # give a wrongly doubled run the chance to show
    finally:
        restarted.stop()
    assert database_rows(tmp_path, "select state, outcome, attempts from inboundmessage") == [("done", "handled", 1)]
    assert database_rows(tmp_path, "select count(*) from outboxmessage where kind = 'post'") == [(13,)]
    assert database_rows(tmp_path, "select count(*) from auditlog where action like 'inbound-%'") == [(1,)]
    assert restarted.log().count("event=outcome") == 1


@pytest.mark.sqlite_only  # another writer's BEGIN IMMEDIATE
def test_a_locked_database_is_reported_at_the_first_451_without_the_database(tmp_path):
    import mailbox
    import smtplib

    port = free_port()
    config = make_config(tmp_path, port=port, bot_toml={"processing.busy_timeout_ms": "200"})
    bot = BotProcess(config)
    try:
        bot.first_line()
        blocker = sqlite3.connect(tmp_path / "var" / "kkrbot.sqlite3", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database and does not let go
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError) as refused:
                post(port)
            assert refused.value.smtp_code == 451
        bot.wait_for_log("event=database_alarm_sent")
        sent = mailbox.Maildir(tmp_path / "var" / "sent", create=False)
        [alarm] = [m for m in sent if m["X-Kkrbot-Kind"] == "database-alarm"]  # one for the outage, not per 451
        assert alarm["To"] == "it-drift@kl.example.dk"
        blocker.execute("ROLLBACK")
        blocker.close()
        post(port)  # stored again: the outage is recorded in the database, for the next admin-notice
        bot.wait_for_log("event=outcome")
    finally:
        bot.stop()
    assert database_rows(tmp_path, "select kind from adminevent") == [("storage-error",)]
    assert bot.log().count("event=database_alarm_sent") == 1


def test_a_running_bot_asks_the_secretary_and_sends_what_kkrbot_held_decides(tmp_path):
    """The README's Moderation example against a real `kkrbot run`: a stranger's post is held, the
    request lands in the Maildir, and `kkrbot held reject` reaches the stranger without a restart."""
    import mailbox
    import smtplib

    port = free_port()
    config = make_config(tmp_path, port=port)
    bot = BotProcess(config)

    def kinds() -> list[tuple[str, str]]:
        folder = tmp_path / "var" / "sent"
        mails = mailbox.Maildir(folder) if folder.exists() else []
        return sorted((m["X-Kkrbot-Kind"], m["To"]) for m in mails if m["X-Kkrbot-Kind"].startswith("moderation"))

    def wait_for(expected, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and kinds() != expected:
            time.sleep(0.5)
        assert kinds() == expected

    try:
        bot.first_line()
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("ukendt@example.com", ["it-netvaerk@lists.example.dk"],
                            b"From: ukendt@example.com\r\nTo: it-netvaerk@lists.example.dk\r\nSubject: Tilbud\r\n"
                            b"Message-ID: <tilbud@example.com>\r\n\r\nKoeb nu\r\n")
        wait_for([("moderation-request", 'Anne Hansen <anne.hansen@kl.example.dk>')])
        listed = kkrbot(config, "held")
        assert "ukendt@example.com" in listed.stdout and "Tilbud" in listed.stdout
        rejected = kkrbot(config, "held", "reject", "1", "--reason", "Reklame hører ikke hjemme på listen")
        assert rejected.returncode == 0, rejected.stderr
        wait_for([("moderation-request", 'Anne Hansen <anne.hansen@kl.example.dk>'),
                  ("moderation-result", "ukendt@example.com")])
    finally:
        assert bot.stop() == 0
