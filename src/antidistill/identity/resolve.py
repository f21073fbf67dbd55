"""API-key extraction and keyed pseudonymisation."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

logger = logging.getLogger("antidistill")


class Pseudonymizer:
    """Keyed hash of identifiers: the only form in which keys, accounts and IPs leave memory.

    Without a configured secret a random one is drawn per process: ids are then stable only
    for the life of the process and differ between instances (the guard refuses shared
    storage in that case, and warns loudly).
    """

    def __init__(self, secret: bytes | None) -> None:
        self.ephemeral = secret is None
        if secret is None:
            secret = secrets.token_bytes(32)
        self._key = hashlib.blake2b(secret, digest_size=32, person=b"antidistill-id").digest()
        self._cache: dict[str, str] = {}

    def __call__(self, kind: str, value: str) -> str:
        token = kind + "\x00" + value
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), key=self._key,
                                 digest_size=10).hexdigest()
        out = f"{kind}:{digest}"
        if len(self._cache) >= 65536:
            self._cache.clear()
        self._cache[token] = out
        return out

    def uncached(self, kind: str, value: str) -> str:
        """The same keyed hash as calling the pseudonymizer, without caching it: for values
        seen about once (an answer's text, a rotating network), which would only churn the
        cache."""
        token = kind + "\x00" + value
        digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), key=self._key,
                                 digest_size=10).hexdigest()
        return f"{kind}:{digest}"

    def equal(self, a: str, b: str) -> bool:
        return hmac.compare_digest(a.encode(), b.encode())


def extract_api_key(
    headers: Sequence[tuple[bytes, bytes]], names: Sequence[bytes]
) -> str | None:
    """The first API key found in the configured headers (``Bearer`` prefix removed)."""
    for header, value in headers:
        if header in names:
            text = value.decode("latin-1").strip()
            if header == b"authorization":
                scheme, _, token = text.partition(" ")
                if scheme.lower() not in ("bearer", "token") or not token.strip():
                    continue
                text = token.strip()
            if text:
                return text[:512]
    return None


@dataclass(frozen=True, slots=True)
class Identity:
    """A caller, pseudonymised.

    ``id`` is what budgets and detection key on: the account when known, else the API key,
    else the client IP. ``key_id``/``account_id``/``ip_id`` keep the separate pseudonyms.
    The raw IP is kept in memory (never stored or emitted) for network lookups.
    """

    id: str
    kind: str  # "account" | "key" | "ip" | "anonymous"
    key_id: str | None = None
    account_id: str | None = None
    ip_id: str | None = None
    plan: str | None = None
    ip: str | None = field(default=None, repr=False, compare=False)
