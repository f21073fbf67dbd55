"""Server-sent events: split into whole events, filter each, re-emit the rest untouched."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from antidistill.enforcement.withhold.plan import Out, StreamHandler

__all__ = ["SSEFilter"]

# A blank line ends an event; atomic groups keep a CRLF one line ending (never CR, then LF).
_BOUNDARY = re.compile(rb"(?>\r\n|\r|\n)(?>\r\n|\r|\n)")
_LINE = re.compile(rb"\r\n|\r|\n")


def _encode(name: str | None, obj: dict[str, Any]) -> bytes:
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8",
                                                                             "surrogatepass")
    head = b"event: " + name.encode("utf-8") + b"\n" if name else b""
    return head + b"data: " + data + b"\n\n"


class SSEFilter:
    """Feed raw body chunks; get back bytes with filtered events.

    Only the current incomplete event is held. Events a handler leaves alone are forwarded
    as the very bytes received. ``pick`` chooses the handler from the first JSON event.
    """

    __slots__ = ("_buf", "_handler", "_pick", "_scan", "errors")

    def __init__(self, pick: Callable[[dict[str, Any]], StreamHandler | None]) -> None:
        self._buf = bytearray()
        self._scan = 0
        self._pick = pick
        self._handler: StreamHandler | None = None
        self.errors = 0

    def feed(self, chunk: bytes) -> bytes:
        buf = self._buf
        buf += chunk
        out = bytearray()
        start = 0
        pos = self._scan
        while True:
            m = _BOUNDARY.search(buf, pos)
            if m is None:
                pos = max(start, len(buf) - 2)
                break
            if m.end() == len(buf) and buf.endswith(b"\r"):
                pos = m.start()  # a trailing CR may be the first half of a CRLF to come
                break
            out += self._event(bytes(buf[start:m.end()]))
            start = pos = m.end()
        if start:
            del buf[:start]
        self._scan = pos - start
        return bytes(out)

    def finish(self) -> bytes:
        out = bytearray()
        if self._buf.strip():
            out += self._event(bytes(self._buf))
        self._buf = bytearray()
        if self._handler is not None:
            out += b"".join(_encode(n, o) for n, o in self._handler.finish())
        return bytes(out)

    def _event(self, raw: bytes) -> bytes:
        try:
            return self._filter_event(raw)
        except Exception:
            # An event shape no handler foresaw is forwarded rather than breaking the stream.
            self.errors += 1
            return raw

    def _filter_event(self, raw: bytes) -> bytes:
        if self._handler is not None and self._handler.quiet(raw):
            return raw
        name: str | None = None
        data: list[bytes] = []
        head: list[bytes] = []  # event:, id:, retry: and comments, kept on a rewritten event
        for line in _LINE.split(raw):
            if line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line:
                head.append(line)
                if line.startswith(b"event:"):
                    name = line[6:].strip().decode("utf-8", "replace")
        if not data:
            return raw
        payload = data[0] if len(data) == 1 else b"\n".join(data)
        if payload.strip() == b"[DONE]":
            extra = self._handler.on_done() if self._handler is not None else []
            return b"".join(_encode(n, o) for n, o in extra) + raw
        if payload.lstrip()[:1] != b"{":
            return raw
        try:
            obj = json.loads(payload)
        except (ValueError, RecursionError):
            return raw
        if not isinstance(obj, dict):
            return raw
        if self._handler is None:
            self._handler = self._pick(obj)
            if self._handler is None:
                return raw
        got: list[Out] | None = self._handler.on_event(name, obj)
        if got is None:
            return raw
        out = []
        for n, o in got:
            if o is obj:
                out.append(b"".join(h + b"\n" for h in head) + _encode(None, o))
            else:
                out.append(_encode(n, o))
        return b"".join(out)
