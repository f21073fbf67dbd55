"""The operator's lists decide before any score: allow-listed identities are allowed, denied
ones blocked (as far as the enabled actions allow)."""

from __future__ import annotations

from collections.abc import Set

from antidistill.decision import Action, Reason
from antidistill.policy.actions import ActionPolicy
from antidistill.scoring.assess import Assessment


def apply_lists(found: Assessment, listed: Set[str], policy: ActionPolicy) -> Assessment:
    """Mark ``found`` allow-listed or denied from the list names its request matched."""
    if "allow:identity" in listed:
        found.allowlisted = True
        found.action = Action.ALLOW
        found.risk_add = found.cluster_add = 0.0
    elif any(name.startswith("deny:") for name in listed):
        found.denied = True
        found.action = policy.allowed(Action.BLOCK)
        found.risk = 1.0
        found.reasons += (Reason("deny_list", 1.0, 0.0, ", ".join(sorted(
            n for n in listed if n.startswith("deny:")))),)
    return found
