"""Coarse network facts about a client IP: prefix, ASN, and what kind of network it is.

Sybil farms rent address space in bulk, so thousands of "unrelated" accounts share a /24, an
ASN, or a hosting/VPN/residential-proxy provider. This module answers those questions from
MaxMind-format databases (GeoLite2-ASN or GeoIP2-ISP for the ASN; GeoIP2-Anonymous-IP,
GeoIP-Anonymous-Plus or GeoIP-Residential-Proxy for the network type) opened once with
``maxminddb``. Only the coarse prefix ever leaves this module, never the full address.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import maxminddb

from antidistill.errors import ConfigurationError

__all__ = ["NetworkInfo", "NetworkResolver", "ip_prefix"]

_MAX_IP_TEXT = 64  # longest valid textual IPv6 with a zone id is well under this
_MAX_ORG = 128


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    """Coarse network data for one client address.

    ``prefix`` is ``"4:a.b.c.0/24"`` or ``"6:xxxx:xxxx:xxxx::/48"`` (empty for an invalid
    address). ``network_type`` is one of ``hosting``, ``vpn``, ``tor``, ``proxy``,
    ``residential_proxy``, ``isp`` or ``unknown``.
    """

    prefix: str
    asn: int | None
    as_org: str | None
    network_type: str
    is_anonymous: bool


_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(ip: object) -> _IPAddress | None:
    if not isinstance(ip, str) or not ip or len(ip) > _MAX_IP_TEXT:
        return None
    text = ip.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    # Zone ids ("fe80::1%eth0") name a local interface, not part of the network.
    text = text.split("%", 1)[0]
    try:
        addr: _IPAddress = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        # Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; group them with IPv4.
        return addr.ipv4_mapped
    return addr


def _prefix_of(addr: _IPAddress, v4_bits: int, v6_bits: int) -> str:
    if isinstance(addr, ipaddress.IPv4Address):
        mask = ((1 << v4_bits) - 1) << (32 - v4_bits)
        return f"4:{ipaddress.IPv4Address(int(addr) & mask)}/{v4_bits}"
    mask = ((1 << v6_bits) - 1) << (128 - v6_bits)
    return f"6:{ipaddress.IPv6Address(int(addr) & mask)}/{v6_bits}"


def ip_prefix(ip: str, v4_bits: int = 24, v6_bits: int = 48) -> str:
    """Return the coarse network of ``ip`` as ``"4:203.0.113.0/24"`` or ``"6:2001:db8:1::/48"``.

    IPv4-mapped IPv6 addresses count as IPv4. Returns ``""`` for anything that is not an IP
    address. Raises ``ValueError`` only for prefix lengths outside 0..32 / 0..128.
    """
    if not 0 <= v4_bits <= 32 or not 0 <= v6_bits <= 128:
        raise ValueError("prefix lengths must be within 0..32 (IPv4) and 0..128 (IPv6)")
    addr = _parse_ip(ip)
    return "" if addr is None else _prefix_of(addr, v4_bits, v6_bits)


def _open(path: str | os.PathLike[str], what: str) -> tuple[maxminddb.Reader, str]:
    try:
        reader = maxminddb.open_database(os.fspath(path), maxminddb.MODE_AUTO)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{what} database not found: {os.fspath(path)!r}") from exc
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigurationError(
            f"{what} database {os.fspath(path)!r} is not a readable MaxMind DB: {exc}"
        ) from exc
    return reader, str(reader.metadata().database_type)


def _get(reader: maxminddb.Reader | None, addr: _IPAddress) -> dict[str, Any] | None:
    if reader is None:
        return None
    try:
        record = reader.get(addr)
    except (ValueError, TypeError, maxminddb.InvalidDatabaseError):
        # An IPv6 query against an IPv4-only DB, or a corrupt/closed DB: no answer.
        return None
    return record if isinstance(record, dict) else None


class NetworkResolver:
    """Resolve client IPs to :class:`NetworkInfo` using optional MaxMind-format databases.

    ``asn_db`` is a GeoLite2-ASN (or GeoIP2-ISP) database; ``anon_db`` a GeoIP2-Anonymous-IP,
    GeoIP-Anonymous-Plus or GeoIP-Residential-Proxy database. Both are optional: without them
    the resolver still returns the prefix, with ``network_type="unknown"``. Files are opened
    once (memory-mapped when possible); a missing or invalid file raises
    :class:`~antidistill.errors.ConfigurationError` at construction. Lookups are cached in a
    bounded LRU keyed by the address string.
    """

    def __init__(
        self,
        asn_db: str | os.PathLike[str] | None = None,
        anon_db: str | os.PathLike[str] | None = None,
        *,
        cache_size: int = 65536,
    ) -> None:
        self._asn: maxminddb.Reader | None = None
        self._anon: maxminddb.Reader | None = None
        # A miss in a residential-proxy-only DB says nothing about hosting or VPNs, so only
        # the full anonymous-IP products let us call an unflagged address "isp".
        self._anon_is_residential_only = False
        self._anon_covers_hosting = False
        if asn_db is not None:
            self._asn, _ = _open(asn_db, "ASN")
        if anon_db is not None:
            try:
                self._anon, db_type = _open(anon_db, "anonymous-IP")
            except ConfigurationError:
                if self._asn is not None:
                    self._asn.close()
                raise
            self._anon_is_residential_only = "residential-proxy" in db_type.lower()
            self._anon_covers_hosting = not self._anon_is_residential_only
        self._cached = lru_cache(maxsize=max(0, cache_size))(self._resolve)

    def lookup(self, ip: str) -> NetworkInfo:
        """Return the network data for ``ip``; never raises (invalid input gives prefix "")."""
        if not isinstance(ip, str) or len(ip) > _MAX_IP_TEXT:
            return _INVALID
        try:
            return self._cached(ip)
        except Exception:  # defensive: a lookup must never fail a request
            return NetworkInfo(ip_prefix(ip), None, None, "unknown", False)

    def close(self) -> None:
        """Close the database files; later lookups return prefix-only answers."""
        asn, anon = self._asn, self._anon
        self._asn = None
        self._anon = None
        self._cached.cache_clear()
        for reader in (asn, anon):
            if reader is not None:
                reader.close()

    def __enter__(self) -> NetworkResolver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _resolve(self, ip: str) -> NetworkInfo:
        addr = _parse_ip(ip)
        if addr is None:
            return _INVALID
        prefix = _prefix_of(addr, 24, 48)

        asn: int | None = None
        as_org: str | None = None
        rec = _get(self._asn, addr)
        if rec is not None:
            number = rec.get("autonomous_system_number")
            if isinstance(number, int) and not isinstance(number, bool) and number > 0:
                asn = number
            org = rec.get("autonomous_system_organization")
            if not isinstance(org, str):
                org = rec.get("organization") or rec.get("isp")  # GeoIP2-ISP records
            if isinstance(org, str) and org:
                as_org = org[:_MAX_ORG]

        network_type = "unknown"
        is_anonymous = False
        anon_reader = self._anon
        if anon_reader is not None:
            flags = _get(anon_reader, addr)
            if flags is None:
                if self._anon_covers_hosting and asn is not None:
                    network_type = "isp"
            elif self._anon_is_residential_only:
                network_type = "residential_proxy"
                is_anonymous = True
            else:
                network_type, is_anonymous = _classify_flags(flags)
                if network_type == "unknown" and asn is not None:
                    network_type = "isp"
        return NetworkInfo(prefix, asn, as_org, network_type, is_anonymous)


def _classify_flags(flags: dict[str, Any]) -> tuple[str, bool]:
    # Most specific anonymiser first: a Tor exit on a hosting range is "tor".
    if flags.get("is_tor_exit_node") is True:
        return "tor", True
    if flags.get("is_residential_proxy") is True:
        return "residential_proxy", True
    if flags.get("is_public_proxy") is True:
        return "proxy", True
    if flags.get("is_anonymous_vpn") is True:
        return "vpn", True
    if flags.get("is_hosting_provider") is True:
        return "hosting", True
    if flags.get("is_anonymous") is True:
        return "proxy", True
    return "unknown", False


_INVALID = NetworkInfo("", None, None, "unknown", False)
