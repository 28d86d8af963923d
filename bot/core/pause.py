"""Test-only pause points, so a crash test can kill the process in a known window.

With `KKRBOT_PAUSE_AT=<name>` in its environment the process logs `event=paused`
and stops at the named point until it is killed. Unset (always, in production),
a pause point costs one dictionary lookup.
"""
from __future__ import annotations

import os
import threading

from bot.core.logs import log_event


def pause_point(name: str) -> None:
    if os.environ.get("KKRBOT_PAUSE_AT") == name:
        log_event("paused", at=name, pid=os.getpid())
        threading.Event().wait()
