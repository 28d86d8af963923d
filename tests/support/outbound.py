"""Send what is due the way the daemon does it."""
from __future__ import annotations

from bot.daemon import send_outbox
from bot.outbound.send import Sender


def send_due(app, sender: Sender) -> int:
    """Flush the outbox through `sender` with the daemon's own wiring (5xx refusals count as bounces)."""
    return send_outbox(app, sender)
