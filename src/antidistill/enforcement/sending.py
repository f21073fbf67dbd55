"""The response side of one request: usage metering, and the withholding filter when the
decision asks for it.

Without a withholding plan every message is forwarded as the very object the app sent (no
filter object, no copy); with one, bodies go through a
:class:`~antidistill.enforcement.withhold.ResponseFilter` while the meter still reads the
upstream's own bytes, so what the server reports is what is charged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from antidistill.enforcement.metering import ResponseMeter
from antidistill.enforcement.withhold import ResponseFilter, WithholdPlan, response_filter
from antidistill.usage import Usage

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


class ResponseSender:
    """Wraps ``send``: meters usage; filters bodies when given a plan."""

    __slots__ = ("api_format", "filter", "held", "keep_answer", "meter", "plan", "status")

    def __init__(self, plan: WithholdPlan | None = None, api_format: str | None = None,
                 keep_answer: bool = True) -> None:
        self.meter: ResponseMeter | None = None
        self.keep_answer = keep_answer
        self.status = 0
        self.plan = plan
        self.api_format = api_format
        self.filter: ResponseFilter | None = None
        self.held: tuple[Message, Message] | None = None

    def _on_start(self, message: Message) -> None:
        self.status = message.get("status", 0)
        ctype = encoding = None
        for name, value in message.get("headers") or ():
            lname = name.lower()
            if lname == b"content-type":
                ctype = value.decode("latin-1")
            elif lname == b"content-encoding":
                encoding = value.decode("latin-1")
        if 200 <= self.status < 300:
            self.meter = ResponseMeter(ctype, content_encoding=encoding,
                                       keep_answer=self.keep_answer)

    def wrap(self, send: Send) -> Send:
        if self.plan is not None:
            return self._wrap_filtered(send, self.plan)

        async def metered_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                self._on_start(message)
            elif kind == "http.response.body" and self.meter is not None:
                chunk = message.get("body", b"")
                if chunk:
                    self.meter.feed(chunk)
            await send(message)

        return metered_send

    def _wrap_filtered(self, send: Send, plan: WithholdPlan) -> Send:
        async def filtered_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                await self._start_filtered(send, message, plan)
                return
            if kind != "http.response.body":
                await send(message)
                return
            chunk = message.get("body", b"")
            if chunk and self.meter is not None:
                self.meter.feed(chunk)  # the meter sees the upstream's own bytes
            if self.filter is None:
                await send(message)
                return
            await self._send_filtered(send, self.filter, chunk,
                                      bool(message.get("more_body", False)))

        return filtered_send

    async def _start_filtered(self, send: Send, message: Message, plan: WithholdPlan) -> None:
        self._on_start(message)
        headers = list(message.get("headers") or ())
        f = self.filter = response_filter(self.api_format, self.status, headers, plan)
        if f is None:
            await send(message)
            return
        fixed = {**message, "headers": f.start_headers(headers)}
        if f.buffers:
            self.held = (message, fixed)  # sent once the filtered length is known
        else:
            await send(fixed)

    async def _send_filtered(self, send: Send, f: ResponseFilter, chunk: bytes,
                             more: bool) -> None:
        data = f.feed(chunk) if chunk else b""
        if not more:
            data += f.finish()
        if self.held is not None:
            original, fixed = self.held
            if f.over_cap:
                self.held = None
                await send(original)  # too large to filter: forwarded as received
            elif more:
                return
            else:
                self.held = None
                length = (b"content-length", str(len(data)).encode())
                await send({**fixed, "headers": [*fixed["headers"], length]})
        if data or not more:
            await send({"type": "http.response.body", "body": data, "more_body": more})

    def finish(self) -> Usage | None:
        return self.meter.finish() if self.meter is not None else None
