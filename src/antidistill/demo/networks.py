"""The harder day's address plan: residential ISPs, business lines and a hosting provider.

Each range is a /16 of one autonomous system (private-use ASNs, invented names), so a
MaxMind-format ASN database of the plan (:func:`write_network_dbs`) tells the middleware which
network an address belongs to, as a real GeoLite2-ASN database would; the default day's
ranges are in it too, so that every address of the day resolves.
"""

from __future__ import annotations

import random

__all__ = ["BUSINESS", "HOSTING", "RESIDENTIAL", "AddressPlan", "DEFAULT_DAY", "asn_records",
           "write_network_dbs"]

# (first two octets, ASN, organisation)
RESIDENTIAL: tuple[tuple[str, int, str], ...] = tuple(
    (f"{a}.{b}", 64600 + i, f"Residential Broadband {i + 1}")
    for i, (a, b) in enumerate((a, b) for a in (2, 5, 31, 37, 62, 77, 78, 79, 82, 83, 84, 85,
                                                 87, 88, 89, 90, 93, 94, 95, 97)
                               for b in (40, 141)))
BUSINESS: tuple[tuple[str, int, str], ...] = (("64.100", 64560, "Business Fibre"),
                                              ("64.101", 64561, "Metro Ethernet Co"))
HOSTING: tuple[tuple[str, int, str], ...] = (("198.18", 64550, "Cloud Hosting One"),
                                             ("198.19", 64551, "Cloud Hosting Two"))

# The default day's own addresses (see ``demo.simulate``), so that every address of the harder
# day resolves: (CIDR, ASN, organisation, a hosting range)
DEFAULT_DAY: tuple[tuple[str, int, str, bool], ...] = (
    *((f"{a}.0.0.0/8", 64520 + i, f"Home Internet {i + 1}", False)
      for i, a in enumerate((24, 47, 68, 73, 81, 86, 92, 109, 151, 176, 188))),
    ("45.128.0.0/13", 64540, "Proxy Hosting", True),  # the templated hydra's proxy pool
    ("52.0.0.0/8", 64541, "Big Cloud", True),  # the heavy apps run in a cloud
    ("91.192.0.0/12", 64542, "Mobile Proxy Net", False),  # the grading campaign's pool
    ("198.51.100.0/24", 64543, "Example Corp", False),  # the office NAT
    ("203.0.113.0/24", 64544, "Dedicated Servers", True),  # the loud harvester
)


def asn_records() -> list[tuple[str, int, str, bool]]:
    """``(CIDR, ASN, organisation, hosting)`` for every range of the plan and of the
    default day."""
    plan = [(f"{prefix}.0.0/16", asn, org, (prefix, asn, org) in HOSTING)
            for prefix, asn, org in RESIDENTIAL + BUSINESS + HOSTING]
    return plan + list(DEFAULT_DAY)


class AddressPlan:
    """Draws addresses from the plan; an address handed out by :meth:`fresh` is never reused."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def fresh(self, prefix: str, subnet: int | None = None) -> str:
        """A never-used address in ``prefix`` (``a.b``), in the /24 ``subnet`` if given."""
        r = self.rng
        for attempt in range(1 << 20):
            c = subnet if subnet is not None and attempt < 64 else r.randrange(256)
            ip = f"{prefix}.{c}.{r.randrange(1, 255)}"
            if ip not in self.used:
                self.used.add(ip)
                return ip
        raise RuntimeError(f"address range {prefix} exhausted")

    def home(self) -> str:
        return self.fresh(self.rng.choice(RESIDENTIAL)[0])

    def rotating_exit(self, last: str | None, new_asn_share: float) -> str:
        """A residential proxy exit: always a new address; with ``new_asn_share`` in another
        ISP than ``last``'s, else in the same ISP (half the time in the same /24)."""
        r = self.rng
        if last is None or r.random() < new_asn_share:
            others = [p for p, _, _ in RESIDENTIAL if last is None or not last.startswith(p + ".")]
            return self.fresh(r.choice(others))
        a, b, c, _ = last.split(".")
        return self.fresh(f"{a}.{b}", int(c) if r.random() < 0.5 else None)


def write_network_dbs(directory: str) -> tuple[str, str]:
    """Write MaxMind-format databases of the plan into ``directory``: a GeoLite2-ASN one and a
    GeoIP2-Anonymous-IP one that marks the hosting ranges (residential ranges stay unmarked,
    as rotating residential proxies usually are). Returns their paths. Needs ``mmdb-writer``
    and ``netaddr`` (the ``test`` extra)."""
    import os

    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    asn = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN")
    anon = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Anonymous-IP")
    for cidr, number, org, hosting in asn_records():
        asn.insert_network(IPSet([cidr]), {"autonomous_system_number": number,
                                           "autonomous_system_organization": org})
        if hosting:
            anon.insert_network(IPSet([cidr]), {"is_anonymous": True,
                                                "is_hosting_provider": True})
    paths = (os.path.join(directory, "harder-asn.mmdb"),
             os.path.join(directory, "harder-anon.mmdb"))
    asn.to_db_file(paths[0])
    anon.to_db_file(paths[1])
    return paths
