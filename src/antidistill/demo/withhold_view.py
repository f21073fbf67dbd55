"""The demo's side-by-side view: a degraded request's answer with and without withholding.

The response is a reasoning model's stream in OpenAI chat format (a ``reasoning_content``
field, DeepSeek/vLLM style, plus an inline ``<think>`` block), run through the real
response filter exactly as the middleware runs it for a degraded request.
"""

from __future__ import annotations

import json
from typing import Any

from antidistill.decision import Action
from antidistill.enforcement.withhold import WithholdPlan, response_filter

__all__ = ["SAMPLE_REASONING", "render", "sample_stream", "split_view"]

SAMPLE_REASONING = ("The user asks for the sum of the first ten odd numbers. Odd numbers "
                    "1, 3, 5, ... 19; the sum of the first n odd numbers is n squared, "
                    "so 10 squared is 100. Check: 1+3=4, +5=9, +7=16 - squares, good.")
_INLINE = "<think>Also double-check with the pairing trick: (1+19)*5 = 100.</think>\n\n"
_ANSWER = "The sum of the first ten odd numbers is 100 (the sum of the first n odd numbers is n²)."


def sample_stream() -> bytes:
    """A reasoning model's streamed reply, as an OpenAI-compatible server sends it."""
    base = {"id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": 0,
            "model": "reasoner"}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning_content": w + " "} for w in SAMPLE_REASONING.split(" ")]
    deltas += [{"content": _INLINE[i:i + 9]} for i in range(0, len(_INLINE), 9)]
    deltas += [{"content": w + " "} for w in _ANSWER.split(" ")]
    events = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
              for d in deltas]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return body + b"data: [DONE]\n\n"


def _assemble(raw: bytes) -> tuple[str, str]:
    """(reasoning, answer) as a client would assemble them from a chat stream."""
    reasoning, answer = [], []
    for line in raw.split(b"\n"):
        if not line.startswith(b"data: {"):
            continue
        for choice in json.loads(line[6:]).get("choices", []):
            delta = choice.get("delta") or {}
            reasoning.append(delta.get("reasoning_content") or "")
            answer.append(delta.get("content") or "")
    return "".join(reasoning).strip(), "".join(answer).strip()


def split_view(raw: bytes | None = None) -> tuple[tuple[str, str], tuple[str, str]]:
    """What the client sees without and with withholding: ((reasoning, answer), (...))."""
    raw = raw if raw is not None else sample_stream()
    f = response_filter("openai.chat", 200, [(b"content-type", b"text/event-stream")],
                        WithholdPlan(reasoning=True, logprobs=True))
    assert f is not None
    filtered = b"".join(f.feed(raw[i:i + 64]) for i in range(0, len(raw), 64)) + f.finish()
    return _assemble(raw), _assemble(filtered)


def render(console: Any, report: Any, cohort: str) -> None:
    """Print the side-by-side panels for the first degraded request of ``cohort``."""
    from rich.columns import Columns
    from rich.panel import Panel

    who = "no request of this cohort was degraded; the filter on the demo's sample reply"
    for acct in report.accounts:
        o = report.outcomes[acct.key]
        if acct.cohort == cohort and o.first_flag is not None and \
                o.first_flag.action is Action.DEGRADE:
            who = f"{o.first_flag.identity} request #{o.flagged_at}: degrade"
            break
    (r0, a0), (r1, a1) = split_view()
    left = f"[dim]reasoning:[/] {r0}\n[dim]inline:[/] {_INLINE.strip()}\n\n[bold]{a0}[/]"
    right = (f"[dim]reasoning:[/] {r1 or '(withheld)'}\n\n[bold]{a1}[/]")
    console.print(f"[bold]{cohort}[/] withholding ({who}):")
    console.print(Columns([Panel(left, title="without withholding", width=60),
                           Panel(right, title="with withholding (what is sent)", width=60)]))
