"""The suite on PostgreSQL: a clean, migrated database per config folder.

`make test-postgres` (scripts/with-postgres) starts a throwaway cluster and sets
KKRBOT_TEST_DATABASE_URL; without it every test runs on its own SQLite file as before.
A test's config gets `DATABASE_URL` and `TOKEN_SECRET` in its `.env`, because on
PostgreSQL the secret must come from the environment (every process shares it).

Creating and migrating a database costs about a second, so a test's databases are
emptied after it (TRUNCATE, ids restarted) and handed to the next test; a database that
cannot be emptied cleanly (its schema was changed) is dropped instead.
"""
from __future__ import annotations

import itertools
import os
import secrets

from sqlalchemy.engine import make_url

SERVER_URL = os.environ.get("KKRBOT_TEST_DATABASE_URL", "")
_numbers = itertools.count(1)
_in_use: list[str] = []  # migrated databases a test has now
_fresh: list[str] = []  # empty databases a test asked for: dropped after it
_clean: list[str] = []  # migrated, emptied, ready for the next test


def on_postgres() -> bool:
    return SERVER_URL.startswith("postgresql")


def database_env(env: str) -> str:
    """The `.env` lines that point a test's config at a clean database (none on SQLite, or when the
    test names its own DATABASE_URL)."""
    if not on_postgres() or "DATABASE_URL=" in env:
        return ""
    lines = f"DATABASE_URL={_migrated_database()}\n"
    if "TOKEN_SECRET=" not in env:
        lines += f"TOKEN_SECRET={secrets.token_urlsafe(32)}\n"
    return lines


def fresh_database_url(folder) -> str:
    """An empty database (no tables yet): a new PostgreSQL database, or a SQLite file in `folder`."""
    if not on_postgres():
        return f"sqlite:///{folder / 'fresh.sqlite3'}"
    name = _create()
    _fresh.append(name)
    return _url(name)


def databases_held() -> set[str]:
    """The databases in use now: before a test, those of module- and session-scoped fixtures."""
    return set(_in_use) | set(_fresh)


def release_databases(keep: set[str] = frozenset()) -> None:
    """After a test: empty its migrated databases for the next one; drop the fresh ones. Databases
    in `keep` belong to a wider-scoped fixture (a module's year) and stay as they are."""
    for name in [n for n in _fresh if n not in keep]:
        _fresh.remove(name)
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for name in [n for n in _in_use if n not in keep]:
        _in_use.remove(name)
        if _emptied(name):
            _clean.append(name)
        else:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrated_database() -> str:
    if _clean:
        name = _clean.pop()
    else:
        from bot.store.db import make_engine, upgrade

        name = _create()
        engine = make_engine(_url(name))
        upgrade(engine)
        engine.dispose()
    _in_use.append(name)
    return _url(name)


def _emptied(name: str) -> bool:
    """TRUNCATE every table but Alembic's, after ending the connections a test left (a killed bot's)."""
    import psycopg

    _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
           "AND pid <> pg_backend_pid()")
    with psycopg.connect(_url(name, driver="postgresql"), autocommit=True) as connection:
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = [row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        if version != [(_head(),)]:
            return False
        connection.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    return True


def _head() -> str:
    from alembic.script import ScriptDirectory

    from bot.store.db import alembic_config

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def _create() -> str:
    name = f"kkrbot_test_{os.getpid()}_{next(_numbers)}"
    _admin(f'CREATE DATABASE "{name}"')
    return name


def _url(name: str, driver: str = "postgresql+psycopg") -> str:
    return make_url(SERVER_URL).set(database=name, drivername=driver).render_as_string(hide_password=False)


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(_url(make_url(SERVER_URL).database, driver="postgresql"), autocommit=True) as connection:
        connection.execute(statement)


def database_rows(root, query: str) -> list[tuple]:
    """Rows of `query` in the database of the config under `root` (its .env's DATABASE_URL, else the
    SQLite file under root/var): what a test of a real `kkrbot run` process reads back."""
    from sqlalchemy import create_engine, text

    env = (root / ".env").read_text(encoding="utf-8") if (root / ".env").exists() else ""
    named = [line.split("=", 1)[1] for line in env.splitlines() if line.startswith("DATABASE_URL=")]
    engine = create_engine(named[0] if named else f"sqlite:///{root / 'var' / 'kkrbot.sqlite3'}")
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()
