"""Which network an address belongs to: `<slug>@domain` or `<slug>+<tag>@domain`.

The `+tag` carries reply tokens (`+<token>`) and bounce addresses (`+bounce-<token>`);
matching is case-insensitive because some servers change the case of local parts.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.config.networks import NetworkConfig


@dataclass(frozen=True)
class ListAddress:
    network: str
    tag: str  # "" for the plain list address
    address: str  # lowercased, as delivered


def route(address: str, networks: tuple[NetworkConfig, ...]) -> ListAddress | None:
    address = address.strip().strip("<>").lower()
    local, _, domain = address.rpartition("@")
    base, _, tag = local.partition("+")
    for network in networks:
        if base == network.slug and domain == network.domain:
            return ListAddress(network.slug, tag, address)
    return None
