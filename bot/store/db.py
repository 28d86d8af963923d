"""Database engine, sessions and migrations.

SQLite gets WAL (readers never block the writer), a busy timeout (a second
writer waits instead of failing at once) and synchronous=FULL: a commit is on disk
before it returns, because the receiver answers 250 and the IMAP reader moves a
mail out of the inbox right after it (NORMAL would survive a crash of the bot,
not of the machine). Everything else is plain SQLAlchemy, so
`DATABASE_URL` may name PostgreSQL without code changes.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
WAL_LIMIT_BYTES = 4 * 1024 * 1024


def make_engine(url: str, busy_timeout_ms: int = 5000, synchronous: str = "FULL") -> Engine:
    """The engine for `url`; `synchronous` is for the benchmark that prices durability."""
    if url.startswith("sqlite"):
        _ensure_parent_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": busy_timeout_ms / 1000})
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms, synchronous))
        event.listen(engine, "begin", _begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _ensure_parent_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(busy_timeout_ms: int, synchronous: str):
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")

    def apply(dbapi_connection, _record) -> None:
        # The sqlite3 module's implicit transactions would defeat BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        # After a large mail the WAL is cut back to this once checkpointed, instead of keeping its size.
        cursor.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        cursor.close()
    return apply


def _begin(connection) -> None:
    """Units of work (session_scope) take SQLite's write lock at BEGIN, so a busy database waits
    out the busy timeout and then fails cleanly instead of failing on a read-to-write upgrade.
    Read-only sessions begin deferred: in WAL mode they never wait for a writer."""
    writes = connection.get_execution_options().get("kkrbot_writes", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


@contextmanager
def session_scope(engine: Engine, autoflush: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception.

    `autoflush=False` is for long batches: changes are written in one flush at commit
    (executemany) instead of before every query; code that must see its own pending
    rows in a query flushes explicitly."""
    with Session(engine.execution_options(kkrbot_writes=True), expire_on_commit=False,
                 autoflush=autoflush) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# pg_advisory_lock keys: one per kind of work that must not overlap across processes.
STARTUP_LOCK = 0x6B6B7262  # "kkrb": migrating and applying the config at start


@contextmanager
def exclusive(engine: Engine, key: int = STARTUP_LOCK) -> Iterator[None]:
    """Across processes, one at a time (PostgreSQL's advisory lock, held by one connection and let go
    with it, also when the process dies). Several bots starting at once on a new database would
    otherwise each migrate it and each insert the networks. SQLite has one process: nothing to do."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({int(key)})")
        try:
            yield
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({int(key)})")
            connection.commit()


def serialize_on(session: Session, namespace: int, key: str) -> None:
    """Until this transaction ends, no other transaction on the same (namespace, key) passes here:
    a count-then-insert (the daily cap of answers to one person) stays true across processes.
    PostgreSQL: a transaction-level advisory lock; SQLite: its single writer already does it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:key))"),
                        {"namespace": namespace, "key": key})


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> list[str]:
    """Apply pending migrations; return the revisions applied."""
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    script = ScriptDirectory.from_config(alembic_config(engine))
    after = current_revision(engine)
    if before == after:
        return []
    return [rev.revision for rev in script.iterate_revisions(after, before)][::-1]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def pending_revisions(engine: Engine) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(engine))
    current = current_revision(engine)
    return [rev.revision for rev in script.iterate_revisions(script.get_current_head(), current)]
