"""Budgets for never-seen API keys per client address and per network prefix.

A distiller, or anyone trying to flush the store's state, can send each request with a
fresh junk key: every request is then a new identity with full budgets. The store tells us
an identity is new (``observe`` reports ``requests == 0``); such requests are also charged to
a token bucket per client IP and one per /24 (IPv4) or /48 (IPv6) prefix, so one address
can open only so many new identities per interval (issue #11, finding 7). Keys that have
made a request before are not charged: established callers behind one NAT are unaffected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from antidistill.identity import Identity
from antidistill.storage.base import BucketSpec

#: Bucket key prefix (``BudgetState`` name ``new_keys``).
NEW_KEY_PREFIX = "nk:"
# Addresses that are a proxy or load-balancer hop, not a client: behind them every caller
# shares one address (configure ANTIDISTILL_TRUSTED_PROXIES to see the clients), so a
# per-address budget of new keys would throttle a whole customer base's sign-ups.
_HOPS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"))


@lru_cache(maxsize=4096)
def is_hop(ip: str) -> bool:
    """True for loopback, private, carrier-NAT and link-local addresses."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return True
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in _HOPS)


@dataclass(frozen=True, slots=True)
class NewKeyBudgets:
    """Capacity and refill (per second) of the per-IP and per-prefix new-key buckets; a
    capacity of 0 switches that bucket off."""

    ip_capacity: float = 30.0
    ip_refill_per_second: float = 10.0 / 60.0
    prefix_capacity: float = 120.0
    prefix_refill_per_second: float = 1.0
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48

    @property
    def enabled(self) -> bool:
        return self.ip_capacity > 0 or self.prefix_capacity > 0


@lru_cache(maxsize=4096)
def network_prefix(ip: str, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> str | None:
    """``"203.0.113.0/24"`` for ``"203.0.113.9"`` (IPv6: the /48); None if not an address."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    bits = ipv4_prefix if addr.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


def new_key_specs(
    identity: Identity,
    seen_before: bool,
    budgets: NewKeyBudgets,
    pseudonymize: Callable[[str, str], str],
) -> list[BucketSpec]:
    """The extra bucket operations to charge for this request: none for a key that made a
    request before, for a caller without a key or IP, behind a proxy hop (a private or
    loopback address), or when both buckets are off."""
    if seen_before or identity.kind != "key" or not identity.ip or not budgets.enabled \
            or is_hop(identity.ip):
        return []
    specs = []
    if budgets.ip_capacity > 0 and identity.ip_id:
        specs.append(BucketSpec(NEW_KEY_PREFIX + "ip:" + identity.ip_id, budgets.ip_capacity,
                                budgets.ip_refill_per_second))
    prefix = network_prefix(identity.ip, budgets.ipv4_prefix, budgets.ipv6_prefix)
    if budgets.prefix_capacity > 0 and prefix is not None:
        specs.append(BucketSpec(NEW_KEY_PREFIX + "net:" + pseudonymize("net", prefix),
                                budgets.prefix_capacity, budgets.prefix_refill_per_second))
    return specs
