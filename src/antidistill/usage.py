"""Token usage: what a response reported, and what a request is estimated to cost.

Shared by the budgets (charged before the request, from the estimate) and the response meter
(reconciled after it, from the usage the server reported).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one response.

    ``source`` says where the numbers came from: ``"json"`` (a JSON body's usage object),
    ``"sse.openai_usage"`` (OpenAI chat final chunk with ``stream_options.include_usage``
    or Responses ``response.completed``), ``"sse.anthropic"`` (``message_start`` +
    ``message_delta``), ``"sse.gemini"`` (``usageMetadata`` in a Gemini stream),
    ``"sse.counted"`` (no usage reported: completion estimated from streamed text, prompt
    unknown and reported as 0) or ``"none"`` (see :data:`NO_USAGE`).
    """

    prompt_tokens: int
    completion_tokens: int
    source: str
    #: The first ``ANSWER_CHARS`` characters of the answer text, when they were readable
    #: (session continuity keeps only a keyed hash of them; see ``signals.continuity``).
    answer: str = field(default="", compare=False)

    @property
    def total(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def estimate_tokens(text_chars: int) -> int:
    """Estimate tokens for ``text_chars`` characters of text (about 4 characters a token).

    Returns 0 for no text and at least 1 for any non-empty text.
    """
    if text_chars <= 0:
        return 0
    return (text_chars + 3) // 4


def estimate_request_cost(
    prompt_chars: int,
    max_output_tokens: int | None,
    *,
    default_output: int = 256,
    output_cap: int = 4096,
) -> int:
    """Estimate the tokens a request will cost before it runs, for a pre-flight budget check.

    The prompt is estimated from its length; the output is the requested maximum (or
    ``default_output`` when the client set none), capped at ``output_cap`` so a client
    asking for 100k tokens is not refused on a worst case it rarely reaches. The real
    usage is charged after the response by :class:`ResponseMeter`.
    """
    if max_output_tokens is None:
        output = default_output
    else:
        output = max_output_tokens
    output = max(0, min(output, output_cap))
    return estimate_tokens(prompt_chars) + output
