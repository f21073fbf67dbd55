"""Non-streamed JSON bodies: one document, buffered whole, filtered, re-encoded."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["JSONFilter"]


class JSONFilter:
    """Buffers the body (up to ``max_bytes``) and filters it at :meth:`finish`.

    A body that is not JSON, or larger than the cap, is forwarded exactly as received.
    """

    __slots__ = ("_buf", "_filter_doc", "_max", "_over")

    def __init__(self, filter_doc: Callable[[Any], bool], max_bytes: int) -> None:
        self._buf = bytearray()
        self._filter_doc = filter_doc
        self._max = max_bytes
        self._over = False

    def feed(self, chunk: bytes) -> bytes:
        if self._over:
            return chunk
        self._buf += chunk
        if len(self._buf) > self._max:
            self._over = True
            out, self._buf = bytes(self._buf), bytearray()
            return out
        return b""

    def finish(self) -> bytes:
        raw, self._buf = bytes(self._buf), bytearray()
        if self._over or not raw:
            return raw
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            return raw
        try:
            if not self._filter_doc(doc):
                return raw
        except Exception:  # a shape no filter foresaw: forwarded rather than an error page
            return raw
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass")

    @property
    def over_cap(self) -> bool:
        return self._over
