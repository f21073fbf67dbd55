"""API-key extraction and keyed pseudonymisation."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from antidistill.decision import Signal

logger = logging.getLogger("antidistill")

# Values up to this length are cached by the pseudonymiser; longer ones are hashed each time.
_CACHED_VALUE = 512
_CHUNK = 65536


def cache_token(value: str | None) -> str | None:
    """A bounded in-memory stand-in for a client-supplied value (a dict key for caches):
    the value itself when short, else an unkeyed 128-bit digest of all of it."""
    if value is None or len(value) <= _CACHED_VALUE:
        return value
    h = hashlib.blake2b(digest_size=16, person=b"antidistill-ck")
    for i in range(0, len(value), _CHUNK):
        h.update(value[i : i + _CHUNK].encode("utf-8", "surrogatepass"))
    return "\x00" + h.hexdigest()


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
        """``kind:<keyed hash of the whole value>``; two values that differ anywhere differ."""
        if len(value) > _CACHED_VALUE:
            # Long values are hashed whole, each time, and not cached: the cache must not
            # hold client-chosen megabytes. blake2b streams the value in chunks.
            return f"{kind}:{self._digest(kind, value)}"
        token = kind + "\x00" + value
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        out = f"{kind}:{self._digest(kind, value)}"
        if len(self._cache) >= 65536:
            self._cache.clear()
        self._cache[token] = out
        return out

    def derive(self, person: bytes) -> bytes:
        """A key for another purpose (``person``: up to 16 bytes), independent of the id key."""
        return hashlib.blake2b(self._key, digest_size=32, person=person).digest()

    def uncached(self, kind: str, value: str) -> str:
        """The same keyed hash as calling the pseudonymizer, without caching it: for values
        seen about once (an answer's text, a rotating network), which would only churn the
        cache."""
        return f"{kind}:{self._digest(kind, value)}"

    def _digest(self, kind: str, value: str) -> str:
        h = hashlib.blake2b(key=self._key, digest_size=10)
        h.update(kind.encode("utf-8", "surrogatepass") + b"\x00")
        for i in range(0, len(value), _CHUNK):
            h.update(value[i : i + _CHUNK].encode("utf-8", "surrogatepass"))
        return h.hexdigest()


@dataclass(frozen=True, slots=True)
class KeyResult:
    """The API key a request carries, by the configured precedence.

    ``key`` comes from the first configured header that holds one (its first occurrence:
    what Starlette's ``request.headers[...]`` and most frameworks read); ``mismatch`` says
    another key header, or a repeat of the same header, carried a different key. No SDK
    sends two different keys, so a mismatch is evidence (Signal ``identity_mismatch``).
    """

    key: str | None
    mismatch: bool = False


NO_KEY = KeyResult(None, False)

#: The evidence a key mismatch adds to a request's score (weight ``identity_mismatch``).
IDENTITY_MISMATCH = Signal("identity_mismatch", 1.0, "API-key headers carry different keys")


def _key_value(header: bytes, value: bytes) -> str | None:
    text = value.decode("latin-1").strip()
    if header == b"authorization":
        scheme, _, token = text.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            return None
        text = token.strip()
    return text or None


def resolve_api_key(
    headers: Sequence[tuple[bytes, bytes]], names: Sequence[bytes]
) -> KeyResult:
    """The request's API key: ``names`` in order of precedence (first wins), whole, never cut.

    Put the header your app authenticates first in ``ANTIDISTILL_API_KEY_HEADERS``: a client
    that adds a junk key in a header the app ignores is then still charged to its real key,
    and flagged by ``mismatch``.
    """
    best: tuple[int, str] | None = None
    seen: set[str] = set()
    for header, value in headers:
        if header not in names:
            continue
        key = _key_value(header, value)
        if key is None:
            continue
        seen.add(key)
        rank = names.index(header)
        if best is None or rank < best[0]:
            best = (rank, key)
    if best is None:
        return NO_KEY
    return KeyResult(best[1], len(seen) > 1)


def extract_api_key(
    headers: Sequence[tuple[bytes, bytes]], names: Sequence[bytes]
) -> str | None:
    """The API key by the precedence of ``names`` (``Bearer`` prefix removed); see
    :func:`resolve_api_key`, which also reports disagreeing key headers."""
    return resolve_api_key(headers, names).key


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
    plan: str | None = None  # set by an identity resolver; informational
    ip: str | None = field(default=None, repr=False, compare=False)
    #: The request's API-key headers disagreed (see :class:`KeyResult`).
    key_mismatch: bool = False
    #: When the account was created (clock seconds, the guard's clock), if the host's
    #: identity resolver knows it; else detection ages an identity from its first request.
    created_at: float | None = None
