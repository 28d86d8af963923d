"""`kkrbot backup FILE`: a consistent copy while the bot runs.

SQLite's online backup API copies a consistent snapshot even while the bot writes;
PostgreSQL's `pg_dump` does the same from one transaction's snapshot (its custom format,
for `pg_restore`). The token secret goes along, beside the database in one tar file,
because without it no reply to mail already sent can be authenticated.
Restore SQLite: stop the bot, `tar -xf FILE -C <data_dir>`, start it; PostgreSQL: README.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

PG_DUMP_NAME = "kkrbot.pgdump"


class BackupError(Exception):
    pass


def write_backup(url: str, target: Path, *, secret: bytes, secret_file: Path, busy_timeout_ms: int) -> list[str]:
    """Write the database (and `secret`, named like `secret_file`) into the tar `target`; return the names."""
    if url.startswith("postgresql"):
        dump = _pg_dump
    elif url.startswith("sqlite:///"):
        dump = _sqlite_copy
    else:
        raise BackupError(f"backup knows SQLite and PostgreSQL databases, not {make_url(url).drivername}")
    with tempfile.TemporaryDirectory() as scratch:
        members = [dump(url, Path(scratch), busy_timeout_ms)]
        if secret:
            secret_copy = Path(scratch) / secret_file.name
            secret_copy.write_bytes(secret + b"\n")
            secret_copy.chmod(0o600)
            members.append((secret_copy, secret_file.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        # The file is 0600 from its first byte (it holds the token secret), and so is every member.
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
            os.fchmod(file.fileno(), 0o600)  # an existing file keeps its mode on O_CREAT
            with tarfile.open(fileobj=file, mode="w") as archive:
                for path, name in members:
                    archive.add(path, arcname=name, filter=_private)
    return [name for _, name in members]


def _sqlite_copy(url: str, scratch: Path, busy_timeout_ms: int) -> tuple[Path, str]:
    source_path = Path(url.split("///", 1)[1])
    if not source_path.exists():
        raise BackupError(f"no database at {source_path} yet (start the bot or run `kkrbot db upgrade`)")
    copy = scratch / source_path.name
    _online_copy(source_path, copy, busy_timeout_ms)
    return copy, source_path.name


def _pg_dump(url: str, scratch: Path, _busy_timeout_ms: int) -> tuple[Path, str]:
    """pg_dump's custom format: consistent while the bots write, restored with pg_restore."""
    program = shutil.which("pg_dump")
    if program is None:
        raise BackupError("pg_dump is missing: install the PostgreSQL client (Debian: apt-get install postgresql-client)")
    target = scratch / PG_DUMP_NAME
    # libpq's own URL (no +psycopg); the password goes in the environment, not on the command line.
    address = make_url(url).set(drivername="postgresql")
    environment = {**os.environ, **({"PGPASSWORD": address.password} if address.password else {})}
    done = subprocess.run([program, "--format=custom", "--no-owner", f"--file={target}",
                           f"--dbname={address.set(password=None).render_as_string(hide_password=False)}"],
                          env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise BackupError(f"pg_dump: {reason}")
    return target, PG_DUMP_NAME


def _private(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.mode = 0o600
    return member


def _online_copy(source: Path, target: Path, busy_timeout_ms: int) -> None:
    with sqlite3.connect(source, timeout=busy_timeout_ms / 1000) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()
