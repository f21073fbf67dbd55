"""From an ASGI scope to a pseudonymised :class:`Identity`: key, trusted account header, IP.

The host's identity-resolver hook (account lookup) runs after this default resolution, once
the request context exists (:meth:`IdentityResolver.apply_hook`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, MutableMapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from antidistill.identity.client_ip import TrustedProxies, client_ip
from antidistill.identity.peer import peer_trusted
from antidistill.identity.resolve import Identity, Pseudonymizer, cache_token, resolve_api_key

if TYPE_CHECKING:
    from antidistill.context import RequestContext
    from antidistill.hooks import Hook, HookRunner

# (API key, client IP, key mismatch) -> Identity: a returning caller costs one dict lookup.
IDENTITY_CACHE = 16384  # cleared when full
RAW_KEY_BYTES = 512  # key headers longer than this together are not cached raw
ANONYMOUS = Identity("anon:unknown", "anonymous", None, None, None, None, None)


class IdentityResolver:
    """Resolves who is calling; holds the pseudonymiser, trusted proxies and a small cache."""

    def __init__(self, pseudonymize: Pseudonymizer, proxies: TrustedProxies,
                 key_headers: Collection[str], account_header: str,
                 forwarded_header: str = "auto") -> None:
        self.pseudonymize = pseudonymize
        self.proxies = proxies
        self.forwarded_header = forwarded_header
        self.key_headers = tuple(h.lower().encode("latin-1") for h in key_headers)
        self.account_header = account_header.lower().encode("latin-1")
        self._cache: dict[tuple[str | None, str | None, bool], Identity] = {}
        self._key_set = frozenset(self.key_headers)
        self._raw_cache: dict[tuple[tuple[tuple[bytes, bytes], ...], Any], Identity] = {}

    def resolve(self, scope: MutableMapping[str, Any]) -> tuple[Identity, bool]:
        """The default identity (before the resolver hook) and whether the peer is trusted."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
        client = scope.get("client")
        peer = client[0] if client else None
        if self.proxies or not (peer is None or type(peer) is str):
            return self._resolve(scope, headers, peer)
        # No trusted proxy: the peer is the client and only the key headers are read, so
        # (key headers as sent, peer) decides the identity; a returning caller costs one
        # scan of the header names and one dict lookup.
        names = self._key_set
        sent = tuple([pair for pair in headers if pair[0] in names])
        raw = (sent, peer)
        identity = self._raw_cache.get(raw)
        if identity is None:
            identity = self._resolve(scope, headers, peer)[0]
            if sum(len(v) for _, v in sent) <= RAW_KEY_BYTES:
                if len(self._raw_cache) >= IDENTITY_CACHE:
                    self._raw_cache.clear()
                self._raw_cache[raw] = identity
        return identity, False

    def _resolve(self, scope: MutableMapping[str, Any], headers: list[tuple[bytes, bytes]],
                 peer: Any) -> tuple[Identity, bool]:
        # Trusted only after the ASGI server's own proxy handling (identity/peer.py).
        trusted = peer_trusted(scope, self.proxies)
        ip = client_ip(peer, headers, self.proxies, self.forwarded_header)
        found = resolve_api_key(headers, self.key_headers)
        key = found.key
        if self.account_header and trusted:
            for name, value in headers:
                if name == self.account_header and value:
                    account = self._account(value.decode("latin-1"), key, ip)
                    return replace(account, key_mismatch=found.mismatch), trusted
        cache_key = (cache_token(key), ip, found.mismatch)
        identity = self._cache.get(cache_key)
        if identity is None:
            identity = self._identity(key, ip)
            if found.mismatch:
                identity = replace(identity, key_mismatch=True)
            if len(self._cache) >= IDENTITY_CACHE:
                self._cache.clear()
            self._cache[cache_key] = identity
        return identity, trusted

    def _account(self, account: str, key: str | None, ip: str | None) -> Identity:
        ip_id = self.pseudonymize("ip", ip) if ip else None
        key_id = self.pseudonymize("key", key) if key else None
        account_id = self.pseudonymize("acct", account)
        return Identity(account_id, "account", key_id, account_id, ip_id, None, ip)

    def _identity(self, key: str | None, ip: str | None) -> Identity:
        ip_id = self.pseudonymize("ip", ip) if ip else None
        if key:
            key_id = self.pseudonymize("key", key)
            return Identity(key_id, "key", key_id, None, ip_id, None, ip)
        if ip_id:
            return Identity(ip_id, "ip", None, None, ip_id, None, ip)
        return ANONYMOUS

    async def apply_hook(self, ctx: RequestContext, hook: Hook, runner: HookRunner) -> None:
        """Let the host's resolver name the account (a string), name it with its creation
        time (``(account, created_at)``, the guard's clock) or return a whole Identity."""
        result = await runner.call(hook, ctx)
        created: float | None = None
        if isinstance(result, tuple) and len(result) == 2:
            result, created = result[0], _created_at(result[1])
        if isinstance(result, Identity):
            ctx.identity = result
        elif isinstance(result, str) and result:
            acct = self.pseudonymize("acct", result)
            ctx.identity = replace(ctx.identity, id=acct, kind="account", account_id=acct,
                                   created_at=created)


def _created_at(value: object) -> float | None:
    """A creation time from the host's resolver; anything but a finite number is ignored."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
