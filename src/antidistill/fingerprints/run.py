"""Fingerprint one request as far as the enabled detectors need: client stack, network,
parsed body and prompt. Pure CPU, no I/O."""

from __future__ import annotations

from collections.abc import Set

from antidistill.context import RequestContext
from antidistill.fingerprints.memo import MEMO_IDENTITIES, TurnMemo
from antidistill.fingerprints.network import NetworkResolver
from antidistill.fingerprints.parse import ParsedPrompt, parse_body
from antidistill.fingerprints.prompt import fingerprint_prompt
from antidistill.fingerprints.request import fingerprint_request
from antidistill.settings import Settings


class Fingerprinter:
    def __init__(self, settings: Settings, detectors: Set[str],
                 memo_identities: int = MEMO_IDENTITIES) -> None:
        self.settings = settings
        # Results derived from text each identity sent before (a resent history); never for
        # more identities than the store keeps.
        self.memo = TurnMemo(min(memo_identities, settings.memory_max_identities))
        self.network = NetworkResolver(settings.asn_db or None, settings.anon_ip_db or None)
        self.need_client = bool(detectors & {"sybil", "lists", "churn"})
        self.need_prompt = bool(detectors & {"fanout", "lists"})

    def parse(self, ctx: RequestContext) -> ParsedPrompt:
        """Never raises: token estimates need ``max_tokens`` even when detection failed."""
        return parse_body(ctx.body, ctx.header("content-type"), truncated=ctx.body_truncated,
                          path=ctx.path, max_chars=self.settings.max_analysis_chars)

    def run(self, ctx: RequestContext) -> None:
        """Fill ``ctx.client``, ``ctx.network``, ``ctx.parsed`` and ``ctx.prompt``. The body is
        always parsed."""
        s = self.settings
        if self.need_client:
            ctx.client = fingerprint_request(
                ctx.headers, trusted_peer=ctx.trusted_peer, ja4_header=s.ja4_header,
                bot_score_header=s.bot_score_header,
            )
            if ctx.identity.ip:
                ctx.network = self.network.lookup(ctx.identity.ip)
        if ctx.body:
            ctx.parsed = self.parse(ctx)
            if self.need_prompt and (ctx.parsed.user or ctx.parsed.system):
                ctx.prompt = fingerprint_prompt(ctx.parsed, self.memo.scope(ctx.identity.id))

    def close(self) -> None:
        self.network.close()
