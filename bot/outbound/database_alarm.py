"""Tell the administrator at once that the database is failing, without using the database.

The usual way to the administrator (an AdminEvent row, then the hourly admin-notice from
the outbox) runs through the database, so trouble with the database itself was only
reported after it had recovered. The first failure of an outage therefore sends a
`database-alarm` mail straight through the configured outbound (SMTP or the Maildir), built
without recording anything. A file under data_dir keeps it to one an hour, across restarts
too (a bot restarted in a loop would otherwise mail on every start). Once the database
works again the outage is recorded as usual (`storage-error`) and summed up in the next
admin-notice.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from bot.app import App
from bot.config.settings import Settings
from bot.core.logs import log_event
from bot.outbound.compose import Letter, Recipient, compose_unrecorded
from bot.outbound.outbox import SENT, Delivery
from bot.outbound.send import Sender, make_sender

INTERVAL = timedelta(hours=1)
STAMP_FILE = "database-alarm.sent"  # under data_dir: when the last alarm went out (ISO 8601)


class DatabaseAlarm:
    """Called with where and what failed, from the threads that use the database; sends at most
    one alarm an hour however many of them fail at once."""

    def __init__(self, app: App, sender_for: Callable[[Settings], Sender] = make_sender):
        self.app = app
        self.sender_for = sender_for  # a fresh sender per alarm: the outbox's own may be stuck mid-batch
        self.stamp = app.settings.data_dir / STAMP_FILE
        self.lock = threading.Lock()
        self.last_sent: datetime | None = None  # kept in memory too, for when the disk is what is failing

    def __call__(self, where: str, detail: str) -> bool:
        """Send the alarm unless one went out within the hour; True if it went."""
        with self.lock:
            now = self.app.clock.now()
            last = self._last_sent()
            if last is not None and now - last < INTERVAL:
                log_event("database_alarm_held", where=where, last=last.isoformat())
                return False
            if not self._addressable():
                return False
            if not self._send(where, detail, now):
                return False
            self._remember(now)
            log_event("database_alarm_sent", where=where, to=self.app.settings.admin_address)
            return True

    def _addressable(self) -> bool:
        settings = self.app.settings
        if settings.admin_address and settings.networks:
            return True
        log_event("database_alarm_unsent", level=logging.WARNING,
                  reason="admin_address is not set" if settings.networks else "no network to send from")
        return False

    def _send(self, where: str, detail: str, now: datetime) -> bool:
        settings = self.app.settings
        letter = Letter(kind="database-alarm", network=settings.networks[0],
                        recipient=Recipient(settings.admin_address), dedupe_key=f"database-alarm:{now.isoformat()}",
                        context={"failure": {"at": now, "where": where, "detail": detail}})
        try:
            envelope_from, raw = compose_unrecorded(self.app, letter)
            sender = self.sender_for(settings)
            try:
                [result] = sender.send([Delivery(0, settings.admin_address, envelope_from, (raw,))])
            finally:
                sender.close()
        except Exception as error:  # noqa: BLE001 - the alarm must never break the loop that raised it
            log_event("database_alarm_failed", level=logging.ERROR, error=type(error).__name__, detail=str(error)[:200])
            return False
        if result.status != SENT:
            log_event("database_alarm_failed", level=logging.ERROR, detail=result.detail[:200])
        return result.status == SENT

    def _last_sent(self) -> datetime | None:
        try:
            on_disk = datetime.fromisoformat(self.stamp.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            on_disk = None
        return max((t for t in (on_disk, self.last_sent) if t is not None), default=None)

    def _remember(self, now: datetime) -> None:
        self.last_sent = now
        try:
            _write_atomically(self.stamp, now.isoformat())
        except OSError as error:  # the disk may be the trouble: the memory still holds it for this run
            log_event("database_alarm_stamp_failed", level=logging.WARNING, error=type(error).__name__)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(path)
