"""The database: migrations create exactly the models, SQLite runs in WAL with a busy timeout."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from bot.store.db import make_engine, pending_revisions, upgrade


def test_migrations_create_exactly_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    assert upgrade(engine) == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008c", "0008m", "0008g"]
    assert pending_revisions(engine) == [] and upgrade(engine) == []
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite3'}", busy_timeout_ms=1234)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
