"""The one source of time.

Everything that needs "now" takes a Clock, so tests move time instead of sleeping
and the scheduler's `tick(now)` functions can be driven by hand.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Mapping, Protocol

CLOCK_FILE_VARIABLE = "KKRBOT_CLOCK_FILE"


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass
class FixedClock:
    """A clock tests set and move by hand."""

    current: datetime = field(default_factory=lambda: datetime(2027, 1, 4, 9, 0, tzinfo=timezone.utc))

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> datetime:
        self.current += timedelta(**kwargs)
        return self.current

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.current = when.astimezone(timezone.utc)


@dataclass(frozen=True)
class FileClock:
    """A simulated clock another process moves: "now" is the ISO 8601 time written in a file.

    For tests and demos only, and only when KKRBOT_CLOCK_FILE names the file: a test can then
    run the real `kkrbot run` in a subprocess, kill and restart it, and move its time through
    a year without sleeping. The writer replaces the file atomically (write, then rename).
    """

    path: Path

    def now(self) -> datetime:
        text = self.path.read_text(encoding="ascii").strip()
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            raise ValueError(f"{self.path}: the clock needs a time with its UTC offset, got {text!r}")
        return when.astimezone(timezone.utc)

    @staticmethod
    def write(path: Path, when: datetime) -> None:
        """Set the time every reader of `path` sees from now on, in one step."""
        fresh = path.with_name(path.name + ".new")
        fresh.write_text(when.astimezone(timezone.utc).isoformat(), encoding="ascii")
        os.replace(fresh, path)


def clock_from_environment(environ: Mapping[str, str] = os.environ) -> Clock:
    """The real clock, unless KKRBOT_CLOCK_FILE names a simulated one (tests, demos)."""
    path = environ.get(CLOCK_FILE_VARIABLE, "")
    return FileClock(Path(path)) if path else SystemClock()
