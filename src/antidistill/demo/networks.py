"""The harder day's address plan: residential ISPs, business lines and a hosting provider.

Each range is a /16 of one autonomous system (private-use ASNs, invented names), so a
MaxMind-format ASN database of the plan (:func:`asn_records`) tells the middleware which
network an address belongs to, as a real GeoLite2-ASN database would.
"""

from __future__ import annotations

import random

__all__ = ["BUSINESS", "HOSTING", "RESIDENTIAL", "AddressPlan", "asn_records"]

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


def asn_records() -> list[tuple[str, int, str]]:
    """``(CIDR, ASN, organisation)`` for every range of the plan."""
    return [(f"{prefix}.0.0/16", asn, org) for prefix, asn, org in
            RESIDENTIAL + BUSINESS + HOSTING]


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
