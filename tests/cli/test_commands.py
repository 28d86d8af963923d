"""The command line: help, inbox show/retry, backup while the bot runs, one-line errors."""
from __future__ import annotations

import sqlite3
import subprocess
import tarfile

import pytest

from bot.actions.pipeline import process_pending
from bot.inbound.arrivals import store_inbound
from bot.inbound.routing import route
from tests.support.config import free_port, make_config
from tests.support.postgres import fresh_database_url
from tests.support.process import BotProcess, kkrbot, post

RAW = ("From: Lars Møller <lars.moeller@odense.example.dk>\r\nTo: it-netvaerk@lists.example.dk\r\n"
       "Subject: =?utf-8?q?M=C3=B8de?=\r\nMessage-ID: <cli@odense.example.dk>\r\n\r\nHej\r\n").encode()


def test_help_lists_every_command(config_dir):
    result = kkrbot(config_dir, "--help")
    for command in ("run", "config", "db", "contacts", "status", "inbox", "backup"):
        assert f" {command} " in result.stdout, command
    assert "--config" in result.stdout
    assert all(word in kkrbot(config_dir, "contacts", "--help").stdout for word in ("import", "export", "list"))
    assert all(word in kkrbot(config_dir, "inbox", "--help").stdout for word in ("show", "retry"))


def test_inbox_show_and_retry(app):
    [stored] = store_inbound(app.engine, RAW, source="smtp", envelope_from="lars.moeller@odense.example.dk",
                             envelope_to=["it-netvaerk@lists.example.dk"],
                             deliveries=[route("it-netvaerk@lists.example.dk", app.settings.networks)],
                             now=app.clock.now())
    process_pending(app)
    config = app.settings.config_dir
    shown = kkrbot(config, "inbox", "show", str(stored.id))
    assert shown.returncode == 0
    for text in ("message-id: <cli@odense.example.dk>", "outcome: handled", "reason: relayed to 13 members",
                 "rule: post", "Subject: =?utf-8?q?M=C3=B8de?="):
        assert text in shown.stdout, text
    listed = kkrbot(config, "inbox", "--outcome", "handled")
    assert "Møde" in listed.stdout
    retried = kkrbot(config, "inbox", "retry", str(stored.id))
    assert retried.returncode == 0 and "queued again" in retried.stdout
    assert "pending" in kkrbot(config, "inbox").stdout
    unknown = kkrbot(config, "inbox", "show", "999")
    assert (unknown.returncode, unknown.stderr) == (1, "kkrbot: no inbound message #999\n")


def backup_while_running(tmp_path) -> None:
    """`kkrbot backup` to tmp_path/backup.tar while a bot runs and has stored one mail."""
    port = free_port()
    config = make_config(tmp_path, port=port)
    bot = BotProcess(config)
    try:
        bot.first_line()
        post(port)
        bot.wait_for_log("event=outcome")
        result = kkrbot(config, "backup", str(tmp_path / "backup.tar"))
        assert result.returncode == 0, result.stderr
    finally:
        bot.stop()


@pytest.mark.sqlite_only  # the SQLite file itself; PostgreSQL's is the pg_dump test below
def test_backup_while_running_holds_the_database_and_the_token_secret(tmp_path):
    backup_while_running(tmp_path)
    restore = tmp_path / "restore"
    with tarfile.open(tmp_path / "backup.tar") as archive:
        assert sorted(archive.getnames()) == ["kkrbot.sqlite3", "token_secret"]
        assert {member.mode for member in archive.getmembers()} == {0o600}  # the database too
        archive.extractall(restore, filter="data")
    assert (restore / "token_secret").read_text() == (tmp_path / "var" / "token_secret").read_text()
    with sqlite3.connect(restore / "kkrbot.sqlite3") as db:
        assert db.execute("select count(*) from inboundmessage").fetchone() == (1,)
    assert (tmp_path / "backup.tar").stat().st_mode & 0o777 == 0o600


@pytest.mark.postgres_only
def test_backup_on_postgresql_is_a_pg_dump_beside_the_token_secret(tmp_path):
    backup_while_running(tmp_path)
    with tarfile.open(tmp_path / "backup.tar") as archive:
        assert sorted(archive.getnames()) == ["kkrbot.pgdump", "token_secret"]
        assert {member.mode for member in archive.getmembers()} == {0o600}
        archive.extractall(tmp_path / "restore", filter="data")
    env = (tmp_path / ".env").read_text()
    assert f"TOKEN_SECRET={(tmp_path / 'restore' / 'token_secret').read_text().strip()}" in env
    target = fresh_database_url(tmp_path).replace("+psycopg", "")
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={target}", str(tmp_path / "restore" / "kkrbot.pgdump")],
                   check=True)
    import psycopg

    with psycopg.connect(target) as db:
        assert db.execute("select count(*) from inboundmessage").fetchone() == (1,)


def test_backup_says_in_one_line_that_pg_dump_is_missing(tmp_path):
    config = make_config(tmp_path, env=f"DATABASE_URL=postgresql://kkrbot@127.0.0.1:1/kkrbot\nTOKEN_SECRET={'s' * 40}\n")
    result = kkrbot(config, "backup", str(tmp_path / "backup.tar"), extra_env={"PATH": str(tmp_path / "empty")})
    assert (result.returncode, result.stderr) == (1, "kkrbot: pg_dump is missing: install the PostgreSQL client "
                                                     "(Debian: apt-get install postgresql-client)\n")
    assert not (tmp_path / "backup.tar").exists()


def test_a_database_error_is_one_line(tmp_path):
    config = make_config(tmp_path, env="DATABASE_URL=sqlite:////proc/nope/kkrbot.sqlite3\n")
    result = kkrbot(config, "status")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
