"""The file clock: a simulated time another process moves, for tests and demos only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.core.clock import FileClock, SystemClock, clock_from_environment


def test_the_real_clock_unless_kkrbot_clock_file_names_a_file(tmp_path):
    assert isinstance(clock_from_environment({}), SystemClock)
    assert isinstance(clock_from_environment({"KKRBOT_CLOCK_FILE": ""}), SystemClock)
    path = tmp_path / "clock"
    assert clock_from_environment({"KKRBOT_CLOCK_FILE": str(path)}) == FileClock(path)


def test_every_reader_sees_the_time_written_last_in_utc(tmp_path):
    path = tmp_path / "clock"
    clock = FileClock(path)
    copenhagen = timezone(timedelta(hours=2))
    FileClock.write(path, datetime(2027, 4, 15, 10, 0, tzinfo=copenhagen))
    assert clock.now() == datetime(2027, 4, 15, 8, 0, tzinfo=timezone.utc) and clock.now().tzinfo == timezone.utc
    FileClock.write(path, datetime(2027, 12, 9, 9, 0, tzinfo=timezone.utc))
    assert clock.now() == datetime(2027, 12, 9, 9, 0, tzinfo=timezone.utc)
    assert [p.name for p in tmp_path.iterdir()] == ["clock"]  # written beside it, then renamed over it


def test_a_time_without_its_offset_is_refused(tmp_path):
    path = tmp_path / "clock"
    path.write_text("2027-04-15T10:00:00")
    with pytest.raises(ValueError, match="UTC offset"):
        FileClock(path).now()
