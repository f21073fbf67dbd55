"""Network churn: a fresh network per request is evidence, an honest user's few are not."""

from __future__ import annotations

from antidistill.fingerprints.network import NetworkInfo
from antidistill.signals.churn import (
    ASN_VALUE,
    PREFIX_VALUE,
    churn_signal,
    network_values,
    stable_network,
)

HOUR = 3600.0
DAY = 86400.0


def _pseudo(kind: str, value: str) -> str:
    return f"{kind}:{hash((kind, value)) & 0xFFFFFFFFFFFF:012x}"


def test_network_values_are_hashed_never_the_prefix() -> None:
    net = NetworkInfo("4:81.2.3.0/24", 64500, "Example ISP", "isp", False)
    vals = network_values(net, _pseudo)
    assert set(vals) == {PREFIX_VALUE, ASN_VALUE}
    assert all("81.2.3" not in v and "64500" not in v for v in vals.values())
    assert network_values(None, _pseudo) == {}
    assert network_values(NetworkInfo("", None, None, "unknown", False), _pseudo) == {}


def test_honest_users_networks_carry_no_evidence() -> None:
    # home, office, phone over weeks: three networks is what honest accounts show
    assert churn_signal({PREFIX_VALUE: 3, ASN_VALUE: 3}, 40, 20 * DAY) is None
    assert churn_signal({PREFIX_VALUE: 2}, 2, 60.0) is None
    assert churn_signal({PREFIX_VALUE: 1}, 500, 9 * DAY) is None
    # a traveller: three networks in three requests over a week is weak
    slow = churn_signal({PREFIX_VALUE: 3}, 3, 7 * DAY)
    assert slow is None


def test_fresh_network_per_request_is_evidence() -> None:
    fast = churn_signal({PREFIX_VALUE: 3}, 3, 600.0)
    assert fast is not None and fast.score >= 0.3
    pool = churn_signal({PREFIX_VALUE: 6, ASN_VALUE: 6}, 6, 1800.0)
    assert pool is not None and pool.score >= 0.9
    # a new ASN each time is stronger than new /24s within one carrier
    carrier = churn_signal({PREFIX_VALUE: 6, ASN_VALUE: 1}, 6, 1800.0)
    assert carrier is not None and carrier.score < pool.score
    # the ratio matters: 6 networks over 200 requests is an honest road warrior
    assert churn_signal({PREFIX_VALUE: 6, ASN_VALUE: 2}, 200, 30 * DAY) is None


def test_stable_network_is_benign_evidence() -> None:
    assert stable_network({PREFIX_VALUE: 2}, 25)
    assert not stable_network({PREFIX_VALUE: 2}, 4)
    assert not stable_network({PREFIX_VALUE: 9}, 25)
    assert not stable_network({}, 25)


def test_a_new_asn_for_every_first_request_flags_alone() -> None:
    from antidistill.scoring.combine import DEFAULT_WEIGHTS

    flag = 0.4
    every = churn_signal({PREFIX_VALUE: 3, ASN_VALUE: 3}, 3, 900.0)
    assert every is not None and every.score * DEFAULT_WEIGHTS["churn"] >= flag
    # one ASN repeated (a carrier's /24s, or home twice): stays below the flag threshold
    repeat = churn_signal({PREFIX_VALUE: 3, ASN_VALUE: 2}, 3, 900.0)
    assert repeat is not None and repeat.score * DEFAULT_WEIGHTS["churn"] < flag
    carrier = churn_signal({PREFIX_VALUE: 3, ASN_VALUE: 1}, 3, 900.0)
    assert carrier is not None and carrier.score * DEFAULT_WEIGHTS["churn"] < flag
    # the same three ASNs over a day are a traveller's: no evidence
    assert churn_signal({PREFIX_VALUE: 3, ASN_VALUE: 3}, 3, DAY) is None
