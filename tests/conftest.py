"""Shared fixtures. Real parts everywhere: SQLite files, the aiosmtpd receiver, Dovecot.

A skipped test fails the run: a fixture that cannot start its server must fail
loudly, never skip silently.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from bot.config.settings import load_settings
from bot.core.clock import FixedClock
from bot.startup import prepare_database
from tests.support.config import imap_env, make_config
from tests.support.postgres import databases_held, on_postgres, release_databases

_skipped: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) what does not apply to the database under test: `sqlite_only` tests
    (pragmas, file modes, the online backup) on PostgreSQL, `postgres_only` ones on SQLite."""
    other = "sqlite_only" if on_postgres() else "postgres_only"
    kept = [item for item in items if other not in item.keywords]
    gone = [item for item in items if other in item.keywords]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = kept


@pytest.fixture(autouse=True)
def _fresh_databases():
    """On PostgreSQL, a test's databases are emptied (or dropped) after it, for the next test."""
    held = databases_held()  # a module-scoped fixture's database is set up before this and kept
    yield
    if on_postgres():
        release_databases(keep=held)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter) -> None:
    if _skipped:
        terminalreporter.write_line(f"FAILED: {len(_skipped)} test(s) skipped; skipping is not allowed here",
                                    red=True)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return make_config(tmp_path)


@pytest.fixture
def app(config_dir: Path, clock: FixedClock) -> App:
    """A ready bot: settings from a copy of config/, migrated SQLite file, contacts imported."""
    bot = App.create(load_settings(config_dir, environ={}), clock, create_secret=True)
    prepare_database(bot)
    yield bot
    bot.engine.dispose()


@pytest.fixture
def trusted_app(tmp_path: Path, clock: FixedClock) -> App:
    """A ready bot behind a named mail server (authserv_id = mx.example.dk): DMARC verdicts count."""
    config = make_config(tmp_path, bot_toml={"authserv_id": '"mx.example.dk"'})
    bot = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(bot)
    yield bot
    bot.engine.dispose()


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory):
    """One real Dovecot for the session; `mailbox` empties it for each test."""
    from tests.servers.dovecot import DovecotServer, require_dovecot

    require_dovecot()  # fails loudly (never skips) when dovecot-imapd is missing
    server = DovecotServer(tmp_path_factory.mktemp("dovecot"), tls=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(dovecot):
    """The Dovecot user's mailbox, emptied: no folders but INBOX, no messages."""
    dovecot.empty_mailbox()
    return dovecot


@pytest.fixture
def imap_app(tmp_path, mailbox, clock):
    """A ready bot reading the Dovecot mailbox (inbound = "imap")."""
    config = make_config(tmp_path, bot_toml={"inbound": '"imap"'}, env=imap_env(mailbox))
    bot = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(bot)
    yield bot
    bot.engine.dispose()


@pytest.fixture
def smtp_sink():
    """A real aiosmtpd server recording what arrives; tests set its faults."""
    from tests.servers.smtp_sink import SmtpSink
    from tests.support.config import free_port

    with SmtpSink(free_port()) as sink:
        yield sink


@pytest.fixture
def smtp_app(tmp_path, smtp_sink, clock):
    """A ready bot sending over SMTP to the sink (outbound = "smtp")."""
    env = f"SMTP_HOST=127.0.0.1\nSMTP_PORT={smtp_sink.port}\nSMTP_TLS=none\n"
    config = make_config(tmp_path, bot_toml={"outbound": '"smtp"'}, env=env)
    bot = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(bot)
    yield bot
    bot.engine.dispose()
