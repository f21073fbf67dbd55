"""Sybil evidence: many identities suddenly sharing one client stack or one network.

Shared features are weighed by novelty just like content fan-out (see ``fanout``): the
current OpenAI SDK's header set is used by a large, steady share of all identities and carries
no evidence, while a header order or JA4 that 500 identities started using this hour, or a
/24 that suddenly hosts hundreds of new accounts, does. Networks are weaker evidence than
client stacks (corporate NAT, universities) unless the network is a hosting/VPN/proxy range.
"""

from __future__ import annotations

from collections.abc import Mapping

from antidistill.decision import Signal
from antidistill.signals.fanout import FanoutConfig, feature_score
from antidistill.storage.base import FeatureStats

_KIND = {"c": ("client stack", 1.0), "j": ("TLS fingerprint", 1.0), "n": ("network prefix", 0.6),
         "a": ("ASN", 0.4)}


def sybil_signal(
    features: Mapping[str, FeatureStats], keys: list[str], cfg: FanoutConfig,
    anonymous_network: bool, epoch: float | None = None, now: float | None = None,
) -> tuple[Signal | None, list[str]]:
    """Noisy-OR over shared client/network features; also the keys that carried evidence."""
    keep = 1.0
    parts: list[str] = []
    strong: list[str] = []
    narrow, slow_narrow = cfg.min_identities, cfg.slow_min_identities
    for key in keys:
        st = features.get(key)
        # feature_score is 0 for a narrow feature: skipped without the call, like fan-out
        if st is None or (st.short < narrow and st.long < slow_narrow):
            continue
        label, factor = _KIND.get(key[:1], ("feature", 0.5))
        if key[:1] in "na" and anonymous_network:
            factor = min(1.0, factor + 0.4)
        s = feature_score(st, cfg, epoch, now) * factor
        if s > 0.05:
            keep *= 1.0 - s
            parts.append(f"{label} shared by {st.short} identities ({st.long} in long window)")
            if s >= 0.4:
                strong.append(key)
    score = 1.0 - keep
    if score <= 0.0:
        return None, []
    return Signal("sybil", score, "; ".join(parts)), strong
