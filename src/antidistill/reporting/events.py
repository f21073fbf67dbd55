"""Structured decision events (schema ``antidistill.decision/1``).

An event carries pseudonymised ids, fingerprints and coarse network data only: never a raw
prompt, API key or IP address.
"""

from __future__ import annotations

import json
from typing import Any

from antidistill.context import RequestContext
from antidistill.decision import Decision

SCHEMA = "antidistill.decision/1"


def build_event(ctx: RequestContext, decision: Decision, *, mode: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema": SCHEMA,
        "ts": round(ctx.now, 3),
        "mode": mode,
        "method": ctx.method,
        "route": decision.route,
        "policy": ctx.policy,
        **decision.as_dict(),
        "identity_kind": ctx.identity.kind,
    }
    fp: dict[str, Any] = {}
    if ctx.prompt is not None:
        fp["template"] = ctx.prompt.skeleton
        fp["exact"] = ctx.prompt.exact
        fp["system"] = ctx.prompt.system
        fp["segments"] = list(ctx.prompt.segments[:4])
    if ctx.client is not None:
        fp["client"] = ctx.client.client
        fp["header_order"] = ctx.client.header_order
        fp["sdk"] = ctx.client.sdk
        fp["ja4"] = ctx.client.ja4
    event["fingerprints"] = fp
    if ctx.network is not None:
        event["network"] = {
            "prefix": ctx.network.prefix,
            "asn": ctx.network.asn,
            "type": ctx.network.network_type,
        }
    return event


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), sort_keys=True, default=str)
