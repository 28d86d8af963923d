"""The sending side of the campaign: an MTA that delivers each mail to the bot's receiver until it says 250.

Like Postfix in front of the bot, it keeps a mail until the receiver answers 250 to its DATA:
a refused or reset connection (the bot is dead or restarting), a connection closed mid-
transaction (killed while storing) or a 4xx all mean "try again shortly", with the same bytes.
A 5xx is final and recorded (the campaign's mail never deserves one). Mails are released in
bursts at a steady average rate, so the run lasts long enough for kills to land while mail is
received, processed and sent; several connections deliver at once, as a real relay does.
"""
from __future__ import annotations

import queue
import random
import smtplib
import threading
import time
from dataclasses import dataclass, field

from proof.mails import CampaignMail

CONNECT_TIMEOUT = 30.0
FIRST_BACKOFF, MAX_BACKOFF = 0.2, 2.0


@dataclass
class Delivery:
    """What happened to one mail at the front door."""

    attempts: int = 0
    accepted_at: float | None = None  # time of the 250
    refused: str = ""  # a 5xx, if any
    errors: list[str] = field(default_factory=list)


class Mta:
    """`lanes` threads, each with its own connection, delivering the released mails."""

    def __init__(self, port: int, mails: list[CampaignMail], rate: float, lanes: int, seed: int,
                 deadline: float):
        self.port, self.rate, self.seed, self.deadline = port, rate, seed, deadline
        self.deliveries = {m.index: Delivery() for m in mails}
        self.work: queue.Queue[CampaignMail | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._lane, args=(random.Random(seed * 100 + n),),
                                         name=f"mta-{n}", daemon=True) for n in range(lanes)]
        self.feeder = threading.Thread(target=self._feed, name="mta-feeder", daemon=True)
        self._pending: list[CampaignMail] = []

    def deliver_now(self, mail: CampaignMail) -> Delivery:
        """Deliver one mail on this thread (the campaign's first post, before anything else)."""
        _close(self._deliver(mail, None, random.Random(mail.index)))
        return self.deliveries[mail.index]

    def start(self, mails: list[CampaignMail]) -> None:
        """Release `mails` in the background, in order, at the campaign's rate."""
        self._pending = mails
        for thread in self.threads:
            thread.start()
        self.feeder.start()

    def join(self, timeout: float) -> bool:
        """Wait until every released mail is delivered or refused; False if the time ran out."""
        end = time.monotonic() + timeout
        self.feeder.join(max(0.0, end - time.monotonic()))
        for thread in self.threads:
            thread.join(max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in (self.feeder, *self.threads))

    def _feed(self) -> None:
        started = time.monotonic()
        for moment, mail in zip(release_moments(len(self._pending), self.rate, self.seed), self._pending):
            delay = started + moment - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.work.put(mail)
        for _ in self.threads:
            self.work.put(None)

    def _lane(self, rng: random.Random) -> None:
        connection = None
        while (mail := self.work.get()) is not None:
            connection = self._deliver(mail, connection, rng)
        _close(connection)

    def _deliver(self, mail: CampaignMail, connection: smtplib.SMTP | None,
                 rng: random.Random) -> smtplib.SMTP | None:
        """Try until 250 (or a 5xx, or the campaign's deadline); return the connection to reuse."""
        record, backoff = self.deliveries[mail.index], FIRST_BACKOFF
        while time.monotonic() < self.deadline:
            record.attempts += 1
            try:
                connection = connection or smtplib.SMTP("127.0.0.1", self.port, timeout=CONNECT_TIMEOUT)
                refused = connection.sendmail(mail.mail_from, list(mail.rcpts), mail.raw)
                record.accepted_at = time.time()
                record.refused = f"{refused}" if refused else ""  # some recipients refused, the rest taken
                return connection
            except smtplib.SMTPResponseException as error:  # incl. 4xx/5xx to MAIL and DATA
                if 500 <= error.smtp_code < 600:
                    record.refused = f"{error.smtp_code} {error.smtp_error!r}"
                    return _close(connection)
                record.errors.append(f"{error.smtp_code}")
            except smtplib.SMTPRecipientsRefused as error:
                codes = [code for code, _ in error.recipients.values()]
                if all(500 <= code < 600 for code in codes):
                    record.refused = f"{codes}"
                    return _close(connection)
                record.errors.append(f"rcpt {codes}")
            except (smtplib.SMTPException, OSError) as error:
                record.errors.append(type(error).__name__)
            connection = _close(connection)
            time.sleep(backoff * (0.5 + rng.random()))
            backoff = min(backoff * 2, MAX_BACKOFF)
        return _close(connection)


def release_moments(count: int, rate: float, seed: int) -> list[float]:
    """Seconds after the start at which each mail is handed to the MTA: in bursts of 1 to 20, as a
    relay forwards what piled up, `rate` a second on average. A burst leaves the bot a backlog to
    work through, so kills also land while stored mail waits to be processed."""
    rng, moments, now = random.Random(seed * 8191 + 7), [], 0.0
    while len(moments) < count:
        burst = min(count - len(moments), rng.choice((1, 1, 1, 2, 3, 5, 8, 13, 20)))
        moments += [now] * burst
        now += burst / rate
    return moments


def _close(connection: smtplib.SMTP | None) -> None:
    """Close without QUIT: after an error the session's state is unknown."""
    if connection is not None:
        try:
            connection.close()
        except OSError:
            pass
    return None
