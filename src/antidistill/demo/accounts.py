"""Simulated accounts and the requests they send.

Most accounts of the default day carry a fixed list of ``(time, body)`` requests. Accounts of
the harder day may instead carry a :class:`Script`: it hands out one :class:`Step` at a time and
hears the server's answer before the next, so a multi-turn session can put what the server
*actually* answered into its history, and a step can come from its own address or headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Account", "ListScript", "Script", "Step"]


@dataclass(frozen=True, slots=True)
class Step:
    """One request of a scripted account. ``ip`` and ``headers`` override the account's."""

    t: float
    body: dict[str, Any]
    ip: str | None = None
    headers: tuple[tuple[str, str], ...] | None = None


class Script(Protocol):
    """A source of requests that may depend on the answers to earlier ones."""

    def first(self) -> Step | None:
        """The account's first request, or None when it sends nothing."""

    def after(self, step: Step, status: int, reply: str) -> Step | None:
        """The next request, given the HTTP status and the text the server answered to
        ``step`` (empty when it answered no text), or None when the account is done."""


@dataclass(slots=True)
class ListScript:
    """A script whose requests do not depend on the answers (fixed in advance)."""

    steps: list[Step]
    _next: int = 0

    def first(self) -> Step | None:
        self.steps.sort(key=lambda s: s.t)
        self._next = 1
        return self.steps[0] if self.steps else None

    def after(self, step: Step, status: int, reply: str) -> Step | None:
        if self._next >= len(self.steps):
            return None
        self._next += 1
        return self.steps[self._next - 1]


@dataclass(slots=True)
class Account:
    key: str
    cohort: str
    campaign: bool
    ip: str
    headers: list[tuple[str, str]]
    requests: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    script: Script | None = None
