"""Which list address a message read from a shared mailbox was for.

One mailbox may receive several networks' list addresses. The delivering server's
`Delivered-To` / `X-Original-To` say it exactly (the topmost one that is a list
address wins); without them, the first list address in `To`, then `Cc`.
"""
from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from bot.config.networks import NetworkConfig
from bot.inbound.parse import header_block, header_text
from bot.inbound.routing import ListAddress, route


def route_message(raw: bytes, networks: tuple[NetworkConfig, ...]) -> tuple[ListAddress | None, str]:
    """The list address (or None) and the address to record as delivered-to."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    except Exception:  # noqa: BLE001 - unreadable headers route nowhere
        return None, ""
    candidates = []
    for name in ("Delivered-To", "X-Original-To", "To", "Cc"):
        values = [header_text(v) for v in headers.get_all(name) or []]
        candidates += [address for _, address in getaddresses(values) if "@" in address]
    for address in candidates:
        found = route(address, networks)
        if found:
            return found, found.address
    return None, (candidates[0].lower() if candidates else "")
