"""Open a Maildir in mutt, as a user would, on a pseudo-terminal, and read its screen.

mutt needs a terminal: it runs on a pty of a fixed size in a session of its own, with no
config but its defaults (-n, -F /dev/null), read-only (-R: nothing is marked read), and a
HOME of its own, so no user's settings or folders take part.
"""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import time
from dataclasses import dataclass
from pathlib import Path

ROWS, COLUMNS = 40, 200
ESCAPES = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|\([A-Z0-9]|[=>])")


@dataclass(frozen=True)
class Screen:
    text: str  # what mutt drew, escape sequences taken out
    exit_code: int


def open_in_mutt(folder: Path, home: Path, timeout: float = 30) -> Screen:
    """Start `mutt -f folder`, wait for its index (the status line with `Msgs:`), then quit with `q`."""
    binary = shutil.which("mutt")
    assert binary, "mutt is missing: run `make system-packages` (TEST_SYSTEM_PACKAGES in the Makefile)"
    (home / "Mail").mkdir(parents=True, exist_ok=True)  # else mutt asks whether to create ~/Mail
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm", "HOME": str(home),
           "LANG": "C.UTF-8"}
    mutt = subprocess.Popen([binary, "-n", "-F", "/dev/null", "-R", "-f", str(folder)], stdin=slave,
                            stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        drawn = _read_until(master, b"Msgs:", timeout)
        os.write(master, b"q")
        return Screen(ESCAPES.sub(b" ", drawn).decode("utf-8", errors="replace"), mutt.wait(timeout))
    finally:
        if mutt.poll() is None:
            mutt.kill()
            mutt.wait()
        os.close(master)


def _read_until(master: int, marker: bytes, timeout: float) -> bytes:
    """Everything mutt drew until the marker appeared and the screen was quiet for a moment."""
    drawn, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.3)
        if ready:
            drawn += os.read(master, 65536)
        elif marker in drawn:
            return drawn
    raise AssertionError(f"mutt showed no index within {timeout}s:\n{ESCAPES.sub(b' ', drawn)[-2000:]!r}")
