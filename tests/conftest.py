"""Shared fixtures. Real parts everywhere: SQLite files, the aiosmtpd receiver, Dovecot.

A skipped test fails the run: a fixture that cannot start its server must fail
loudly, never skip silently.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FixedClock
from bot.settings import load_settings
from bot.startup import prepare_database
from tests.support.config import make_config

_skipped: list[str] = []


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
