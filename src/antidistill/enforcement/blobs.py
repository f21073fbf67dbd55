"""Reasoning-blob binding: signed/encrypted reasoning handed out is bound to its identity.

Providers return opaque reasoning blobs (Anthropic ``thinking.signature`` and
``redacted_thinking.data``, OpenAI Responses ``encrypted_content``, Gemini
``thoughtSignature``) that clients send back in later turns; a blob replayed by another
account recovers the reasoning. With binding on, every blob leaving the server is wrapped::

    adb1.<base64url(tag[16] || issuer XOR keystream)>.<original blob>

``tag`` is HMAC-SHA256 (key derived from the guard's secret) over the issuer identity and
the original blob, truncated to 16 bytes; the issuer's pseudonymous id travels encrypted
with a keystream derived from the tag. A request's history is checked before the app sees
it: the issuer's own blobs are unwrapped (the upstream sees its original), anyone else's,
forged or unwrapped ones are stripped, and a replay names the issuer so the guard can link
the two identities.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from antidistill.decision import Signal

__all__ = ["PREFIX", "BlobBinder", "BlobCheck", "Opened"]

PREFIX = "adb1."
_TAG = 16


@dataclass(frozen=True, slots=True)
class Opened:
    """One presented blob: ``status`` is ``own``, ``replay``, ``forged`` or ``unbound``."""

    status: str
    original: str | None = None
    issuer: str | None = None


@dataclass(frozen=True, slots=True)
class BlobCheck:
    """The request body after unwrapping, and what was found in it.

    ``replays`` holds the issuer ids of blobs presented by another identity (pseudonymous
    ids, safe to log); ``forged`` counts wrappers whose tag did not verify; ``unbound``
    counts raw blobs that never went through this middleware.
    """

    body: bytes
    changed: bool = False
    own: int = 0
    replays: tuple[str, ...] = ()
    forged: int = 0
    unbound: int = 0

    @property
    def stripped(self) -> int:
        """Blobs stripped (in monitor mode: that would have been)."""
        return len(self.replays) + self.forged + self.unbound

    def signal(self) -> Signal | None:
        """Evidence for scoring: a replayed or forged blob is a strong sign, unbound a weak one."""
        if self.replays or self.forged:
            return Signal("blob_replay", 1.0, f"{len(self.replays)} replayed, "
                                              f"{self.forged} forged reasoning blobs")
        if self.unbound:
            return Signal("blob_replay", 0.3, f"{self.unbound} unbound reasoning blobs")
        return None


class BlobBinder:
    """Seal blobs for an identity and check them when they come back."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.blake2b(key, digest_size=32, person=b"antidistill-blob").digest()

    def _tag(self, issuer: bytes, blob: str) -> bytes:
        msg = b"adb1\x00" + issuer + b"\x00" + blob.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, msg, hashlib.sha256).digest()[:_TAG]

    def _stream(self, tag: bytes, n: int) -> bytes:
        return hashlib.shake_256(b"adb1-issuer\x00" + self._key + tag).digest(n)

    def seal(self, blob: str, identity: str) -> str:
        """``blob`` wrapped for ``identity`` (a pseudonymous id)."""
        issuer = identity.encode("utf-8")
        tag = self._tag(issuer, blob)
        hidden = bytes(a ^ b for a, b in zip(issuer, self._stream(tag, len(issuer)), strict=True))
        token = base64.urlsafe_b64encode(tag + hidden).rstrip(b"=").decode("ascii")
        return f"{PREFIX}{token}.{blob}"

    def sealer(self, identity: str) -> Callable[[str], str]:
        """A one-argument sealer for :class:`~antidistill.enforcement.withhold.WithholdPlan`."""
        def seal(blob: str) -> str:
            return blob if blob.startswith(PREFIX) else self.seal(blob, identity)

        return seal

    def open(self, value: str, identity: str) -> Opened:
        """Check one presented blob against the identity presenting it."""
        if not value.startswith(PREFIX):
            return Opened("unbound")
        token, dot, original = value[len(PREFIX):].partition(".")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return Opened("forged")
        if not dot or len(raw) <= _TAG:
            return Opened("forged")
        tag, hidden = raw[:_TAG], raw[_TAG:]
        issuer = bytes(a ^ b for a, b in zip(hidden, self._stream(tag, len(hidden)), strict=True))
        if not hmac.compare_digest(tag, self._tag(issuer, original)):
            return Opened("forged")
        who = issuer.decode("utf-8", "replace")
        if hmac.compare_digest(issuer, identity.encode("utf-8")):
            return Opened("own", original, who)
        return Opened("replay", None, who)

    def check_request(self, body: bytes, identity: str, *, strip: bool = True) -> BlobCheck:
        """Unwrap the caller's own blobs in a request body and strip everyone else's.

        With ``strip=False`` (monitor mode) nothing is removed: every wrapper is unwrapped
        so the upstream still gets blobs it can verify, and what would have been stripped is
        only counted. Never raises; a body that is not a JSON object comes back unchanged.
        """
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError, TypeError):
            return BlobCheck(body)
        if not isinstance(doc, dict):
            return BlobCheck(body)
        tally = _Tally(self, identity, strip)
        _walk_anthropic(doc, tally)
        _walk_responses(doc, tally)
        _walk_gemini(doc, tally)
        out = body
        if tally.changed:
            out = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8", "surrogatepass")
        return BlobCheck(out, tally.changed, tally.own, tuple(tally.replays), tally.forged,
                         tally.unbound)


class _Tally:
    __slots__ = ("binder", "changed", "forged", "identity", "own", "replays", "strip",
                 "unbound")

    def __init__(self, binder: BlobBinder, identity: str, strip: bool) -> None:
        self.binder, self.identity, self.strip = binder, identity, strip
        self.changed = False
        self.own = self.forged = self.unbound = 0
        self.replays: list[str] = []

    def check(self, value: Any) -> str | None:
        """The original blob to forward, or None when it must be stripped."""
        if not isinstance(value, str) or not value:
            return value if isinstance(value, str) else None
        opened = self.binder.open(value, self.identity)
        if opened.status == "own":
            self.own += 1
            self.changed = True
            return opened.original
        if opened.status == "replay" and opened.issuer is not None:
            self.replays.append(opened.issuer)
        elif opened.status == "forged":
            self.forged += 1
        else:
            self.unbound += 1
        if not self.strip:
            return _unwrapped(value)
        self.changed = True
        return None


def _unwrapped(value: str) -> str:
    """The blob inside a wrapper, checked or not (monitor mode forwards it)."""
    if value.startswith(PREFIX):
        return value[len(PREFIX):].partition(".")[2]
    return value


_ANTHROPIC_BLOB = {"thinking": "signature", "redacted_thinking": "data"}


def _walk_anthropic(doc: dict[str, Any], tally: _Tally) -> None:
    messages = doc.get("messages")
    if not isinstance(messages, list):
        return
    for msg in messages:
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list):
            continue
        kept = []
        for block in content:
            field = _ANTHROPIC_BLOB.get(block.get("type", "")) if isinstance(block, dict) else None
            if field is not None and isinstance(block, dict) and field in block:
                original = tally.check(block[field])
                if original is None:
                    continue  # a thinking block without its valid signature is refused upstream
                if original != block[field]:
                    block[field] = original
                    tally.changed = True
            kept.append(block)
        if len(kept) != len(content):
            msg["content"] = kept


def _walk_responses(doc: dict[str, Any], tally: _Tally) -> None:
    items = doc.get("input")
    if not isinstance(items, list):
        return
    kept = []
    for item in items:
        if isinstance(item, dict) and item.get("type") == "reasoning" and \
                "encrypted_content" in item and item["encrypted_content"] is not None:
            original = tally.check(item["encrypted_content"])
            if original is None:
                continue
            if original != item["encrypted_content"]:
                item["encrypted_content"] = original
                tally.changed = True
        kept.append(item)
    if len(kept) != len(items):
        doc["input"] = kept


def _walk_gemini(doc: dict[str, Any], tally: _Tally) -> None:
    contents = doc.get("contents")
    if not isinstance(contents, list):
        return
    for content in contents:
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            continue
        for part in parts:
            if not isinstance(part, dict):
                continue
            for key in ("thoughtSignature", "thought_signature"):
                if key in part:
                    original = tally.check(part[key])
                    if original is None:
                        del part[key]
                    elif original != part[key]:
                        part[key] = original
                        tally.changed = True
