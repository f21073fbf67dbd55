"""Network churn of one identity: how many distinct networks its requests came from.

An honest account sends from one to three networks (home, office, phone) however many
requests it makes; a campaign that takes a fresh residential exit for every request shows
one new /24 (or /48) per request and, from a rotating pool, a new ASN too. The store counts
the distinct (keyed-hashed) prefixes and ASNs per identity with the identity-values
mechanism (``ObserveBatch.identity_values``), so this costs no extra round trip.

The evidence is the *share* of requests from a network not seen before, once there are
more networks than an honest user has; it is per-account behaviour, so alone it reaches
the flag threshold only for a brand-new identity whose every request so far came from
another ASN (a rotating pool), and never more than FLAG (see ``policy.actions``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from antidistill.decision import Signal
from antidistill.fingerprints.network import NetworkInfo

PREFIX_VALUE = "nw:p"
ASN_VALUE = "nw:a"
VALUE_NAMES = frozenset({PREFIX_VALUE, ASN_VALUE})


@dataclass(frozen=True, slots=True)
class ChurnConfig:
    honest_networks: int = 3  # distinct networks an honest account plausibly uses
    full_networks: int = 6  # distinct networks at which the breadth term saturates
    ratio_floor: float = 0.5  # new-network share below which there is no evidence
    ratio_full: float = 0.9
    asn_factor: float = 1.0  # a new ASN per request: the pool is not one ISP's CGNAT
    prefix_factor: float = 0.7  # new /24s within one ASN: also mobile carriers
    stable_requests: int = 10  # this many requests from <= honest_networks: stable network
    fast_age: float = 3600.0  # that many networks within this many seconds is not travel
    fast_breadth: float = 0.7


def network_values(network: NetworkInfo | None, pseudonymize: Callable[[str, str], str]
                   ) -> dict[str, str]:
    """Identity-value entries for the request's network (keyed hashes, never the prefix)."""
    if network is None or not network.prefix:
        return {}
    out = {PREFIX_VALUE: pseudonymize("net", network.prefix)[-12:]}
    if network.asn:
        out[ASN_VALUE] = pseudonymize("asn", str(network.asn))[-12:]
    return out


def _ramp(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def churn_score(distinct: int, requests: int, age: float, cfg: ChurnConfig) -> float:
    """Evidence in [0, 1] from ``distinct`` networks over ``requests`` (this one included)
    by an identity first seen ``age`` seconds ago."""
    if requests < cfg.honest_networks or distinct < cfg.honest_networks:
        return 0.0
    fast = age <= cfg.fast_age
    if distinct <= cfg.honest_networks and not fast:
        return 0.0  # home, work, phone: what honest accounts use, however quickly
    ratio = distinct / requests
    # 3 networks within the hour is a pool (or a very fast traveller); 6 in 6 a pool.
    breadth = 0.4 + 0.6 * _ramp(distinct, cfg.honest_networks, cfg.full_networks)
    if fast:
        # Every request of a brand-new identity from a network it never used: a traveller
        # changes networks between sessions, a rotating pool on every request.
        breadth = 1.0 if distinct >= requests else max(breadth, cfg.fast_breadth)
    return _ramp(ratio, cfg.ratio_floor, cfg.ratio_full) * breadth


def churn_signal(values: Mapping[str, int], requests: int, age: float,
                 cfg: ChurnConfig = ChurnConfig()) -> Signal | None:
    """The churn signal for an identity whose ``values`` counts came from the store."""
    prefixes = values.get(PREFIX_VALUE, 0)
    asns = values.get(ASN_VALUE, 0)
    score = max(churn_score(prefixes, requests, age, cfg) * cfg.prefix_factor,
                churn_score(asns, requests, age, cfg) * cfg.asn_factor)
    if score <= 0.0:
        return None
    return Signal("churn", round(score, 4),
                  f"{prefixes} networks ({asns} ASNs) in {requests} requests")


def stable_network(values: Mapping[str, int], requests: int,
                   cfg: ChurnConfig = ChurnConfig()) -> bool:
    """Benign evidence: many requests from the few networks of an honest account."""
    prefixes = values.get(PREFIX_VALUE, 0)
    return requests >= cfg.stable_requests and 0 < prefixes <= cfg.honest_networks
