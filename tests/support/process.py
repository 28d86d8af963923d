"""Run the real `kkrbot` as a subprocess and watch its log."""
from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

KKRBOT = [sys.executable, "-m", "bot"]


class BotProcess:
    """`kkrbot run` in a subprocess, its stderr collected in a file we can poll."""

    def __init__(self, config: Path, extra_env: dict[str, str] | None = None):
        self.config = config
        self.log_path = config.parent / f"bot-{time.monotonic_ns()}.log"
        inherited = {k: v for k, v in os.environ.items() if k != "KKRBOT_PAUSE_AT"}
        env = {**inherited, "KKRBOT_CONFIG": str(config), **(extra_env or {})}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen([*KKRBOT, "run"], stdout=subprocess.PIPE, stderr=self._log, env=env)

    def first_line(self, timeout: float = 30) -> str:
        """The one line `run` prints on start (where it listens, database, outbound)."""
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and not line:
            line = self.process.stdout.readline()
            if self.process.poll() is not None and not line:
                raise AssertionError(f"kkrbot exited with {self.process.returncode}:\n{self.log()}")
        return line.decode()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"kkrbot exited ({self.process.returncode}) before {text!r}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                raise AssertionError("kkrbot did not stop on SIGINT")
        self._log.close()
        return self.process.returncode


def kkrbot(config: Path, *args: str, timeout: float = 60,
           extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run one CLI command against a config folder; text output."""
    env = {**os.environ, "KKRBOT_CONFIG": str(config), "COLUMNS": "200", **(extra_env or {})}
    return subprocess.run([*KKRBOT, *args], capture_output=True, text=True, env=env, timeout=timeout)


def post(port: int, subject: str = "Erfaringer med FMK") -> None:
    message = EmailMessage()
    message["From"] = "Mette Østergaard <mette.ostergaard@herning.example.dk>"
    message["To"] = "it-netvaerk@lists.example.dk"
    message["Subject"] = subject
    message.set_content("Hej alle,\nhar I erfaringer med FMK-opsætningen?\n")
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.send_message(message)
