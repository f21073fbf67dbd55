"""What this process already derived from text an identity sent before.

Every turn of a conversation resends its history. :class:`TurnMemo` remembers, per
identity, a few results derived from text already analysed: the window-hash summary of a
user text (so the next turn, which extends it, hashes only its new windows), the skeleton
of a last user turn, the intent verdict on a user text and the answer keys of assistant
turns. A resent history then costs a hash of it instead of its analysis. Each entry is a
pure function of the text its key names, so results are identical to the uncached path;
``tests/test_turn_memo.py`` compares both over varied conversations.

Bounded and private:

* at most ``identities`` identities (the guard passes at most the store's identity bound;
  least recently seen dropped first), each with at most
  ``PER_IDENTITY`` entries (oldest dropped first): a 16-byte key and a tuple of at most 23
  ints or one short string (a fingerprint, skeleton hash, cue ids or pseudonym). Measured
  with ``tracemalloc`` at the default bounds (32,768 entries): 36 MiB if every entry were a
  long text's summary (the largest kind), 20 MiB for short texts' summaries, 6 MiB for
  answer keys;
* keys are keyed 128-bit xxh3 hashes of the identity and the text, with a secret seed drawn
  at start-up: no text is kept, an identity's entries serve that identity only, and without
  the seed nobody can craft a text that takes another text's entry.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import xxhash

__all__ = ["MEMO_IDENTITIES", "PER_IDENTITY", "MemoScope", "TurnMemo"]

MEMO_IDENTITIES = 4096
PER_IDENTITY = 8

# Namespaces of entries (added to the identity's seed, so the kinds never share a key).
SKETCH, SKELETON, INTENT, ANSWER = 1, 2, 3, 4
_MASK = (1 << 64) - 1
_h64 = xxhash.xxh3_64_intdigest
_h128 = xxhash.xxh3_128_digest


class TurnMemo:
    """Per-identity LRU of derived results, keyed by (identity, kind, text) hashes."""

    def __init__(self, identities: int = MEMO_IDENTITIES, seed: int | None = None) -> None:
        self.identities = max(0, identities)
        self._seed = int.from_bytes(os.urandom(8), "little") if seed is None else seed
        self._scopes: OrderedDict[int, dict[bytes, Any]] = OrderedDict()
        self._last: tuple[str, MemoScope] | None = None

    def __len__(self) -> int:
        """Entries held, over all identities."""
        return sum(map(len, list(self._scopes.values())))

    def scope(self, identity: str) -> MemoScope | None:
        """The identity's entries (None when the memo is off)."""
        if not self.identities:
            return None
        last = self._last
        if last is not None and last[0] is identity:
            return last[1]  # the same request asks again (fingerprints, then detectors)
        seed = _h64(identity.encode("utf-8", "surrogatepass"), self._seed)
        scopes = self._scopes
        entries = scopes.get(seed)
        if entries is None:
            entries = scopes[seed] = {}
            if len(scopes) > self.identities:
                # Least recently seen first; a concurrent pop from another thread is harmless.
                scopes.pop(next(iter(scopes)), None)
        else:
            scopes.move_to_end(seed)
        scope = MemoScope(entries, seed)
        self._last = (identity, scope)
        return scope

    def clear(self) -> None:
        self._scopes.clear()
        self._last = None


class MemoScope:
    """One identity's entries of a :class:`TurnMemo` (what one request uses)."""

    __slots__ = ("entries", "seed")

    def __init__(self, entries: dict[bytes, Any], seed: int) -> None:
        self.entries, self.seed = entries, seed

    def key(self, kind: int, data: bytes) -> bytes:
        return _h128(data, (self.seed + kind) & _MASK)

    def get(self, key: bytes) -> Any:
        entries = self.entries
        value = entries.pop(key, None)
        if value is not None:
            entries[key] = value  # most recently used last
        return value

    def put(self, key: bytes, value: Any) -> None:
        entries = self.entries
        entries.pop(key, None)  # re-inserted last: the oldest entry is the first one
        entries[key] = value
        if len(entries) > PER_IDENTITY:
            entries.pop(next(iter(entries)), None)
