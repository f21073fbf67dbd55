"""Route policies decided from method and path alone, before routing.

No route-table lookup (slowapi's mistake: routes added with ``include_router`` come back
unmatched and silently exempt). Patterns are ``"METHOD /path/glob"`` (``*`` for any method,
``*`` in a path matches within a segment, ``**`` across segments); the most specific match
wins; an unmatched request gets the default policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

POLICIES = ("inspect", "budget", "exempt")


@dataclass(frozen=True, slots=True)
class _Rule:
    method: str
    regex: re.Pattern[str]
    specificity: tuple[int, int]
    policy: str
    pattern: str


def _compile(path: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(path):
        if path.startswith("**", i):
            out.append(".*")
            i += 2
        elif path[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(path[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


class RoutePolicies:
    def __init__(self, routes: Mapping[str, str], default: str = "inspect") -> None:
        if default not in POLICIES:
            raise ValueError(f"default policy must be one of {POLICIES}")
        self.default = default
        rules = []
        for pattern, policy in routes.items():
            method, _, path = pattern.strip().partition(" ")
            if not path:
                method, path = "*", method
            literal = len(path.replace("*", ""))
            rules.append(
                _Rule(method.upper(), _compile(path.strip()), (literal, method != "*"),
                      policy, pattern)
            )
        rules.sort(key=lambda r: r.specificity, reverse=True)
        self.rules = tuple(rules)
        self.lookup = lru_cache(maxsize=4096)(self._lookup)
        self.pattern = lru_cache(maxsize=4096)(self._pattern)

    def _lookup(self, method: str, path: str) -> str:
        for rule in self.rules:
            if (rule.method == "*" or rule.method == method) and rule.regex.match(path):
                return rule.policy
        return self.default

    def _pattern(self, method: str, path: str) -> str:
        """The matching rule's pattern, or ``"default"``: a low-cardinality metric label."""
        for rule in self.rules:
            if (rule.method == "*" or rule.method == method) and rule.regex.match(path):
                return rule.pattern
        return "default"
