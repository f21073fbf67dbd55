"""The client address, read from forwarding headers only when the peer is a trusted proxy.

``X-Forwarded-For`` and ``Forwarded`` are attacker-controlled unless a proxy we trust wrote
them. We read one of the two (see :func:`client_ip` for which), join its occurrences, walk
the chain right to left, skip hops that are trusted proxies themselves, and take the first
untrusted address (Arcjet's and nginx's ``real_ip_recursive`` rule). From an untrusted peer
the headers are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """A set of CIDRs whose forwarding headers are believed."""

    def __init__(self, cidrs: Iterable[str] = ()) -> None:
        self.networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.networks)

    def contains(self, ip: str) -> bool:
        hit = self._cache.get(ip)
        if hit is None:
            addr = _parse_ip(ip)
            hit = addr is not None and any(addr in net for net in self.networks)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[ip] = hit
        return hit


@lru_cache(maxsize=8192)
def _parse_ip(text: str) -> IPAddress | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6]:port
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


@lru_cache(maxsize=8192)
def _canonical(text: str) -> str | None:
    addr = _parse_ip(text)
    return str(addr) if addr is not None else None


def _forwarded_for(value: str) -> list[str]:
    out: list[str] = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, val = pair.strip().partition("=")
            if name.strip().lower() == "for" and val:
                out.append(val.strip())
    return out


#: Values of ``ANTIDISTILL_FORWARDED_HEADER``.
FORWARDED_MODES = ("auto", "x-forwarded-for", "forwarded")


def _chains(headers: Sequence[tuple[bytes, bytes]]) -> tuple[list[str], list[str], bool]:
    """(X-Forwarded-For hops, Forwarded ``for=`` hops, whether any XFF header was sent)."""
    chain: list[str] = []
    forwarded: list[str] = []
    has_xff = False
    for name, value in headers:
        if name == b"x-forwarded-for":
            has_xff = True
            chain.extend(v.strip() for v in value.decode("latin-1").split(","))
        elif name == b"forwarded":
            forwarded.extend(_forwarded_for(value.decode("latin-1")))
    return chain, forwarded, has_xff


def forwarding_hosts(headers: Sequence[tuple[bytes, bytes]]) -> frozenset[str]:
    """Every address named in ``X-Forwarded-For`` and ``Forwarded``, canonical, ports dropped."""
    chain, forwarded, _ = _chains(headers)
    out = set()
    for hop in (*chain, *forwarded):
        canon = _canonical(hop)
        if canon is not None:
            out.add(canon)
    return frozenset(out)


def client_ip(
    peer: str | None,
    headers: Sequence[tuple[bytes, bytes]],
    proxies: TrustedProxies,
    header: str = "auto",
) -> str | None:
    """Return the client IP as a string, or None when it cannot be known.

    From a trusted peer, ONE forwarding header is read, never a mix, so a header the client
    sent cannot outrank the one the trusted proxy appended to: ``header="x-forwarded-for"``
    or ``"forwarded"`` names it; ``"auto"`` (the default) reads ``X-Forwarded-For`` whenever
    the request has one (the header nginx, Envoy, HAProxy, cloud load balancers and CDNs
    append to) and ``Forwarded`` only when it has none. Behind a proxy that writes only
    ``Forwarded``, set ``"forwarded"``: with ``"auto"`` a client-sent ``X-Forwarded-For``
    would be read instead. The chosen chain is walked right to left, trusted hops skipped,
    and the first untrusted address is the client (a malformed hop stops the walk at the
    last good one).
    """
    if not peer:
        return None
    if not proxies:
        return _canonical(peer)
    peer_addr = _parse_ip(peer)
    if peer_addr is None:
        return None
    if not proxies.contains(str(peer_addr)):
        return str(peer_addr)
    chain, forwarded, has_xff = _chains(headers)
    if header == "forwarded" or (header == "auto" and not has_xff):
        hops = forwarded
    else:
        hops = chain
    for hop in reversed(hops):
        addr = _parse_ip(hop)
        if addr is None:
            # A garbage hop written by someone we do not trust: stop, keep the last good one.
            break
        if not proxies.contains(str(addr)):
            return str(addr)
        peer_addr = addr
    return str(peer_addr)
