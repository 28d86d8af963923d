"""`kkrbot backup FILE`: a consistent copy while the bot runs.

SQLite's online backup API copies a consistent snapshot even while the bot writes;
the token secret goes along, because without it no reply to mail already sent can
be authenticated. Restore: stop the bot, `tar -xf FILE -C <data_dir>`, start it.
"""
from __future__ import annotations

import os
import sqlite3
import tarfile
import tempfile
from pathlib import Path


class BackupError(Exception):
    pass


def write_backup(url: str, target: Path, *, secret: bytes, secret_file: Path, busy_timeout_ms: int) -> list[str]:
    """Write the database (and `secret`, named like `secret_file`) into the tar `target`; return the names."""
    if not url.startswith("sqlite:///"):
        raise BackupError("backup copies SQLite databases; for PostgreSQL use pg_dump and keep TOKEN_SECRET")
    source_path = Path(url.split("///", 1)[1])
    if not source_path.exists():
        raise BackupError(f"no database at {source_path} yet (start the bot or run `kkrbot db upgrade`)")
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / source_path.name
        _online_copy(source_path, copy, busy_timeout_ms)
        members = [(copy, source_path.name)]
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


def _private(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.mode = 0o600
    return member


def _online_copy(source: Path, target: Path, busy_timeout_ms: int) -> None:
    with sqlite3.connect(source, timeout=busy_timeout_ms / 1000) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()
