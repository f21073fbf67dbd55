"""The per-request context handed to detectors and hooks, and the ContextVar the app can read."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
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

_FIELDS = ("method", "path", "headers", "identity", "now", "policy", "body", "body_truncated",
           "parsed", "prompt", "client", "network", "estimated_tokens", "budgets", "observed",
           "trusted_peer", "state")


class RequestContext:
    """Everything antidistill knows about one request.

    Raw values (``body``, ``identity.ip``, headers) stay in process memory; they are never
    written to storage, events or logs. Hooks may read them.

    ``parsed`` is filled on first read when the guard gave the context a parser: a request
    whose body nothing but the token estimate reads is never fully parsed.
    """

    # A plain slotted class: built on every request, so no dataclass default factories.
    __slots__ = ("method", "path", "headers", "identity", "now", "policy", "body",
                 "body_truncated", "scope", "_parsed", "prompt", "client", "network",
                 "estimated_tokens", "budgets", "observed", "trusted_peer", "_state", "_parser",
                 "prompt_chars_hint")

    def __init__(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], identity: Identity,
        now: float, policy: str = "inspect", body: bytes = b"", body_truncated: bool = False,
        scope: MutableMapping[str, Any] | None = None, parsed: ParsedPrompt | None = None,
        prompt: PromptFingerprint | None = None, client: ClientFingerprint | None = None,
        network: NetworkInfo | None = None, estimated_tokens: int = 0, budgets: Any = None,
        observed: ObserveResult | None = None, trusted_peer: bool = False,
        state: dict[str, Any] | None = None,
        parser: Callable[[RequestContext], ParsedPrompt] | None = None,
    ) -> None:
        self.method, self.path, self.headers, self.identity = method, path, headers, identity
        self.now, self.policy, self.body, self.body_truncated = now, policy, body, body_truncated
        self.scope: MutableMapping[str, Any] = {} if scope is None else scope
        self._parsed = parsed
        self.prompt, self.client, self.network = prompt, client, network
        self.estimated_tokens = estimated_tokens
        self.budgets: Any = budgets  # the Budgets charged (default or from the budget resolver)
        self.observed, self.trusted_peer = observed, trusted_peer
        self._state = state
        self._parser = parser
        #: The prompt's length in characters when the token estimate read it without a full
        #: parse (None otherwise); settlement reuses it.
        self.prompt_chars_hint: int | None = None

    @property
    def parsed(self) -> ParsedPrompt | None:
        """The parsed body (parsed now if it was not yet and there is a body)."""
        p = self._parsed
        if p is None and self._parser is not None and self.body:
            p = self._parsed = self._parser(self)
        return p

    @parsed.setter
    def parsed(self, value: ParsedPrompt | None) -> None:
        self._parsed = value

    def parsed_if_done(self) -> ParsedPrompt | None:
        """The parsed body if something already parsed it (never parses)."""
        return self._parsed

    @property
    def state(self) -> dict[str, Any]:
        """Free-form per-request storage for hooks."""
        s = self._state
        if s is None:
            s = self._state = {}
        return s

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        self._state = value

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of a request header (case-insensitive)."""
        key = name.lower().encode("latin-1")
        for k, v in self.headers:
            if k == key:
                return v.decode("latin-1")
        return default

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, '_parsed' if name == 'parsed' else name)!r}"
                          for name in _FIELDS)
        return f"RequestContext({inner})"
