"""The per-request context handed to detectors and hooks, and the ContextVar the app can read."""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from antidistill.identity import Identity

if TYPE_CHECKING:
    from antidistill.decision import Decision
    from antidistill.fingerprints.network import NetworkInfo
    from antidistill.fingerprints.parse import ParsedPrompt
    from antidistill.fingerprints.prompt import PromptFingerprint
    from antidistill.fingerprints.request import ClientFingerprint
    from antidistill.storage.base import ObserveResult

#: The decision for the request being handled (also at ``scope["state"]["antidistill"]``).
current_decision: ContextVar[Decision | None] = ContextVar("antidistill_decision", default=None)


@dataclass(slots=True)
class RequestContext:
    """Everything antidistill knows about one request.

    Raw values (``body``, ``identity.ip``, headers) stay in process memory; they are never
    written to storage, events or logs. Hooks may read them.
    """

    method: str
    path: str
    headers: list[tuple[bytes, bytes]]
    identity: Identity
    now: float
    policy: str = "inspect"
    body: bytes = b""
    body_truncated: bool = False
    scope: MutableMapping[str, Any] = field(default_factory=dict, repr=False)
    parsed: ParsedPrompt | None = None
    prompt: PromptFingerprint | None = None
    client: ClientFingerprint | None = None
    network: NetworkInfo | None = None
    estimated_tokens: int = 0
    budgets: Any = None  # the Budgets charged (default or from the budget resolver)
    observed: ObserveResult | None = None
    trusted_peer: bool = False
    state: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of a request header (case-insensitive)."""
        key = name.lower().encode("latin-1")
        for k, v in self.headers:
            if k == key:
                return v.decode("latin-1")
        return default
