"""What every stage needs, built once by `kkrbot run` (or a test) and passed down."""
from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.config.settings import Settings, new_token_secret
from bot.core.clock import Clock, SystemClock
from bot.store.db import make_engine


@dataclass
class App:
    """The settings, the database, the clock and the token secret.

    Not frozen for one reason: a running bot that takes up `kkrbot config reload` swaps in
    `settings` with the new networks (bot.startup.ConfigFollower); every stage reads
    `app.settings` when it needs it, so the next mail sees the new networks."""

    settings: Settings
    engine: Engine
    clock: Clock
    token_secret: bytes

    @classmethod
    def create(cls, settings: Settings, clock: Clock | None = None, create_secret: bool = False) -> "App":
        engine = make_engine(settings.database_url, settings.processing.busy_timeout_ms)
        secret = load_token_secret(settings, create=create_secret)
        return cls(settings=settings, engine=engine, clock=clock or SystemClock(), token_secret=secret)


def load_token_secret(settings: Settings, create: bool = False) -> bytes:
    """TOKEN_SECRET from the environment, else the file under data_dir (made on first start, 0600)."""
    configured = settings.secrets.get("TOKEN_SECRET")
    if configured:
        return configured.encode()
    path = settings.token_secret_file
    if path.exists():
        return path.read_text().strip().encode()
    if not create:
        return b""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(new_token_secret() + "\n")
    return path.read_text().strip().encode()
