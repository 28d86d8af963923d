"""Send what is due the way the daemon does it."""
from __future__ import annotations

from functools import partial

from bot.actions.bounces import record_refusals
from bot.outbound.send import Sender, flush_outbox


def send_due(app, sender: Sender) -> int:
    """Flush the outbox through `sender`; 5xx refusals count as bounces, as in `kkrbot run`."""
    return flush_outbox(app, sender, partial(record_refusals, app))
