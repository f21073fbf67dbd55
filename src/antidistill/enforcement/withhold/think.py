"""``<think>...</think>`` spans in generated text, removed incrementally.

Open-weight reasoning models served without a reasoning parser put their chain of thought
inline. Some chat templates open the block in the prompt, so the output carries only the
closing tag; text before a bare ``</think>`` is then reasoning too.
"""

from __future__ import annotations

__all__ = ["ThinkScanner", "strip_think"]

OPEN = "<think>"
CLOSE = "</think>"
_START, _PENDING, _INSIDE, _OUTSIDE = range(4)
_TAIL = len(CLOSE) - 1


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ThinkScanner:
    """Feed one text stream in pieces; get back the text with reasoning spans removed.

    Holds back at most a partial tag (under 9 characters), except at the start of an
    output that does not open with ``<think>``: that text is held (up to ``hold_chars``)
    until a bare ``</think>`` proves it was reasoning or the stream ends and proves it was
    the answer. Past ``hold_chars`` the held text is released as answer.
    """

    __slots__ = ("_carry", "_held_len", "_hold", "_hold_chars", "_skip_ws", "_state", "_tail")

    def __init__(self, hold_chars: int = 65536) -> None:
        self._state = _START
        self._carry = ""
        self._hold: list[str] = []
        self._held_len = 0
        self._tail = ""
        self._hold_chars = hold_chars
        self._skip_ws = False

    def feed(self, text: str) -> str:
        """The part of ``text`` (with what was carried) that is safe to emit now."""
        if not text:
            return ""
        buf, self._carry = self._carry + text, ""
        out: list[str] = []
        while buf:
            buf = self._step(buf, out)
        return "".join(out)

    @property
    def idle(self) -> bool:
        """Outside any span with nothing carried or held: plain text passes unchanged."""
        return self._state == _OUTSIDE and not self._carry and not self._skip_ws

    def settle(self) -> str:
        """The server parses reasoning into its own field: text held at the start is answer."""
        if self._state not in (_START, _PENDING):
            return ""
        held = "".join(self._hold) + self._carry
        self._carry = ""
        self._reset_hold(_OUTSIDE)
        return held

    def flush(self) -> str:
        """End of stream: release held answer text; unterminated reasoning is dropped."""
        state, carry, hold = self._state, self._carry, "".join(self._hold)
        self._carry = ""
        self._reset_hold(_OUTSIDE)
        if state == _INSIDE:
            return ""
        return hold + carry

    def _step(self, buf: str, out: list[str]) -> str:
        state = self._state
        if state == _START:
            return self._start(buf)
        if state == _PENDING:
            return self._pending(buf, out)
        if state == _INSIDE:
            at = buf.find(CLOSE)
            if at < 0:
                self._carry = buf[len(buf) - _partial_suffix(buf, CLOSE):]
                return ""
            self._state, self._skip_ws = _OUTSIDE, True
            return buf[at + len(CLOSE):]
        if self._skip_ws:
            stripped = buf.lstrip()
            if not stripped:
                return ""
            self._skip_ws, buf = False, stripped
        at = buf.find(OPEN)
        if at < 0:
            keep = _partial_suffix(buf, OPEN)
            out.append(buf[: len(buf) - keep])
            self._carry = buf[len(buf) - keep:] if keep else ""
            return ""
        out.append(buf[:at])
        self._state = _INSIDE
        return buf[at + len(OPEN):]

    def _start(self, buf: str) -> str:
        lead = buf.lstrip()
        if not lead or OPEN.startswith(lead):
            self._carry = buf  # whitespace or the first letters of "<think>": wait
            return ""
        if lead.startswith(OPEN):
            self._state = _INSIDE
            return lead[len(OPEN):]
        self._state = _PENDING
        return buf

    def _pending(self, buf: str, out: list[str]) -> str:
        # Only the new text and the last few held characters are searched: linear overall.
        tail = self._tail + buf
        close, opened = tail.find(CLOSE), tail.find(OPEN)
        if opened >= 0 and (close < 0 or opened < close):
            # The answer opens a block later on: everything held so far was answer.
            held = "".join(self._hold)
            out.append(held[: len(held) - len(self._tail)] + tail[:opened])
            self._reset_hold(_INSIDE)
            return tail[opened + len(OPEN):]
        if close >= 0:
            self._reset_hold(_OUTSIDE)
            self._skip_ws = True
            return tail[close + len(CLOSE):]
        self._hold.append(buf)
        self._held_len += len(buf)
        self._tail = tail[-_TAIL:]
        if self._held_len > self._hold_chars:
            held = "".join(self._hold)
            self._reset_hold(_OUTSIDE)
            return held
        return ""

    def _reset_hold(self, state: int) -> None:
        self._hold, self._held_len, self._tail = [], 0, ""
        self._state = state


def strip_think(text: str, hold_chars: int = 1 << 62) -> str:
    """``text`` without its reasoning spans; the same result as streaming it in any pieces."""
    scanner = ThinkScanner(hold_chars)
    return scanner.feed(text) + scanner.flush()
