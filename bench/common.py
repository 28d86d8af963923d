"""Shared bench helpers: a throwaway bot (config copy, fresh database) and statistics."""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from bot.app import App
from bot.config.settings import load_settings
from bot.startup import prepare_database
from tests.support.config import make_config


def fresh_app(root: Path, **config) -> App:
    """A bot with the shipped settings (WAL, busy timeout, batch sizes), on a new database."""
    app = App.create(load_settings(make_config(root, **config), environ={}), create_secret=True)
    prepare_database(app)
    return app


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="kkrbot-bench-"))


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(name: str, value: float, unit: str = "") -> str:
    return f"{name}: {value:.3f}{unit}" if isinstance(value, float) else f"{name}: {value}{unit}"
