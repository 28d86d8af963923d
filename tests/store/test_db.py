"""The database: migrations create exactly the models (on SQLite and on PostgreSQL), SQLite runs in
WAL with a busy timeout, and `make test-postgres` really runs on PostgreSQL."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from bot.store.db import make_engine, pending_revisions, upgrade
from tests.support.postgres import fresh_database_url


def test_migrations_create_exactly_the_models(tmp_path):
    engine = make_engine(fresh_database_url(tmp_path))
    assert upgrade(engine) == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008c", "0008m", "0008g",
                              "0008p"]
    assert pending_revisions(engine) == [] and upgrade(engine) == []
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []


@pytest.mark.postgres_only
def test_the_suite_runs_on_postgresql(app):
    """`make test-postgres` must not quietly fall back to SQLite: the bot's own engine is PostgreSQL."""
    assert app.engine.dialect.name == "postgresql"
    with app.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM contact").scalar() > 0


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite3'}", busy_timeout_ms=1234)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
