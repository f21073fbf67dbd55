"""Evidence families: which signals are independent evidence of one another.

The policy's corroboration rule (:mod:`antidistill.policy.actions`) counts families, not
signals; the cluster rules (:mod:`antidistill.signals.pipeline`) ask whether a member has
evidence of its own beyond shared content.
"""

from __future__ import annotations

# Signal name (before ":") -> independent evidence family.
FAMILIES: dict[str, str] = {
    "fanout": "content",  # one template/segment shared across accounts
    "spread": "content",  # ... by many accounts over a day, almost none established
    "cluster": "content",  # a cluster is grouped around shared content (or a client stack)
    "sybil": "shared_client",  # one client stack / network shared across accounts
    "cadence": "behaviour",
    "shift": "behaviour",
    "churn": "behaviour",
    "continuity": "behaviour",
    "identity_mismatch": "behaviour",  # key headers that disagree: one client, two keys
    "life": "behaviour",  # a young, low-volume account born among many young ones
    "intent": "intent",
    "harvesting": "harvesting",
    "shared_indicator": "operator",
}
# History derived from earlier requests' evidence, not independent of it.
DERIVED = frozenset({"identity", "budget"})
OPERATOR = "operator"
SHARED = frozenset({"content", "shared_client"})  # what a fleet launch also looks like
# Behaviour that a brand-new honest fleet shows too (many young accounts, born together): with
# only shared evidence beside it, it does not lift the launch-day cap (policy.actions).
LAUNCH_LIKE = frozenset({"life"})
EVIDENCE = 0.3  # a family carries "real evidence" from this score


def family_of(name: str) -> str:
    """The evidence family of a signal name (unknown names are operator hooks)."""
    return FAMILIES.get(name.split(":", 1)[0], OPERATOR)
