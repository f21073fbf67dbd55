"""Configuration: one frozen object, read from ``ANTIDISTILL_*`` environment variables.

Explicit keyword arguments override the environment::

    Settings()                                   # everything from the environment
    Settings(storage_uri="redis://localhost:6379/0", mode="monitor")

List values accept JSON (``["10.0.0.0/8"]``) or a comma-separated string; mappings accept JSON.
Every field is documented in the README's settings table.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ACTIONS = ("allow", "flag", "degrade", "delay", "throttle", "block")
WITHHOLD_KINDS = ("reasoning", "logprobs")


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            return json.loads(text)
        sep = ";" if ";" in text and "," not in text else ","
        return [part.strip() for part in text.split(sep) if part.strip()]
    return value


def _json_map(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        return json.loads(text) if text else {}
    return value


StrList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]
FloatMap = Annotated[dict[str, float], NoDecode, BeforeValidator(_json_map)]
StrMap = Annotated[dict[str, str], NoDecode, BeforeValidator(_json_map)]
IntMap = Annotated[dict[str, int], NoDecode, BeforeValidator(_json_map)]


class Settings(BaseSettings):
    """All antidistill settings. Field ``foo_bar`` is read from ``ANTIDISTILL_FOO_BAR``."""

    model_config = SettingsConfigDict(
        env_prefix="ANTIDISTILL_",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
    )

    # -- operation ---------------------------------------------------------------------
    mode: Literal["enforce", "monitor"] = "enforce"
    secret: SecretStr | None = None
    storage_uri: str = "memory://"
    storage_prefix: str = "antidistill"
    storage_timeout: float = Field(default=0.1, gt=0, le=5)
    fail_mode: Literal["open", "closed"] = "open"

    # -- which requests -----------------------------------------------------------------
    routes: StrMap = Field(default_factory=dict)
    default_policy: Literal["inspect", "budget", "exempt"] = "inspect"
    max_body_bytes: int = Field(default=1_048_576, ge=0)
    oversize_action: Literal["pass", "reject"] = "pass"
    degrade_max_body_bytes: int = Field(default=33_554_432, ge=0)

    # -- identity -------------------------------------------------------------------------
    api_key_headers: StrList = Field(
        default_factory=lambda: ["authorization", "x-api-key", "x-goog-api-key", "api-key"])
    account_header: str = ""
    trusted_proxies: StrList = Field(default_factory=list)
    forwarded_header: Literal["auto", "x-forwarded-for", "forwarded"] = "auto"
    ja4_header: str = "cf-ja4"
    bot_score_header: str = "cf-bot-score"
    asn_db: str = ""
    anon_ip_db: str = ""

    # -- budgets (token buckets; Arcjet vocabulary) ------------------------------------
    request_capacity: float = Field(default=120, gt=0)
    request_refill_rate: float = Field(default=2, ge=0)
    request_interval: float = Field(default=1, gt=0)
    token_capacity: float = Field(default=400_000, gt=0)
    token_refill_rate: float = Field(default=2_000, ge=0)
    token_interval: float = Field(default=1, gt=0)
    cluster_token_capacity: float = Field(default=200_000, gt=0)
    cluster_token_refill_rate: float = Field(default=500, ge=0)
    cluster_token_interval: float = Field(default=1, gt=0)
    rate_limits: str = ""
    monitor_enforce_budgets: bool = False
    new_key_ip_capacity: float = Field(default=0, ge=0)
    new_key_ip_refill_rate: float = Field(default=60, ge=0)
    new_key_prefix_capacity: float = Field(default=0, ge=0)
    new_key_prefix_refill_rate: float = Field(default=240, ge=0)
    new_key_interval: float = Field(default=60, gt=0)
    default_output_tokens: int = Field(default=256, ge=1)
    max_output_tokens: int = Field(default=4096, ge=1)
    model_output_caps: IntMap = Field(default_factory=dict)

    # -- detection and policy -------------------------------------------------------------
    detectors: StrList = Field(
        default_factory=lambda: [
            "fanout", "sybil", "intent", "harvesting", "cadence", "shift", "churn",
            "continuity", "spread", "lists",
        ]
    )
    weights: FloatMap = Field(default_factory=dict)
    thresholds: FloatMap = Field(default_factory=dict)
    actions: StrList = Field(default_factory=lambda: list(ACTIONS))
    short_window: float = Field(default=3600, gt=0)
    long_window: float = Field(default=7 * 86400, gt=0)
    risk_half_life: float = Field(default=6 * 3600, gt=0)
    max_delay: float = Field(default=2.0, ge=0, le=60)
    degrade_max_tokens: int = Field(default=256, ge=1)
    withhold: StrList = Field(default_factory=lambda: ["reasoning", "logprobs"])
    withhold_actions: StrList = Field(default_factory=list)
    bind_reasoning_blobs: bool = False
    max_analysis_chars: int = Field(default=16384, ge=256)
    intent_max_chars: int = Field(default=4096, ge=256)
    reasoning_extraction_degrade: float = Field(default=0.8, gt=0)

    # -- memory store bounds --------------------------------------------------------------
    memory_max_identities: int = Field(default=200_000, ge=100)
    memory_max_features: int = Field(default=500_000, ge=100)
    memory_max_sightings: int = Field(default=0, ge=0)

    # -- hooks and reporting --------------------------------------------------------------
    hooks: StrList = Field(default_factory=list)
    hook_timeout: float = Field(default=0.05, gt=0)
    events: bool = True
    metrics: bool = False
    event_sample_allow: float = Field(default=0.01, ge=0, le=1)
    admin_token: SecretStr | None = None
    log_events: bool = False

    # -- reverse proxy (``antidistill proxy``, ``antidistill.proxy:app``) ---------------------
    upstream_url: str = ""
    upstream_timeout: float = Field(default=300.0, gt=0)
    upstream_connect_timeout: float = Field(default=5.0, gt=0)
    upstream_max_connections: int = Field(default=100, ge=1)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("actions")
    @classmethod
    def _check_actions(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ACTIONS]
        if bad:
            raise ValueError(f"unknown actions {bad}; choose from {ACTIONS}")
        return value

    @field_validator("withhold")
    @classmethod
    def _check_withhold(cls, value: list[str]) -> list[str]:
        bad = [w for w in value if w not in WITHHOLD_KINDS]
        if bad:
            raise ValueError(f"unknown withhold kinds {bad}; choose from {WITHHOLD_KINDS}")
        return value

    @field_validator("withhold_actions")
    @classmethod
    def _check_withhold_actions(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ("allow", "flag", "delay")]
        if bad:
            raise ValueError(f"withhold_actions {bad}: choose from allow, flag, delay "
                             "(degrade always withholds; throttle and block answer themselves)")
        return value

    @field_validator("routes")
    @classmethod
    def _check_routes(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern, policy in value.items():
            if policy not in ("inspect", "budget", "exempt"):
                raise ValueError(f"route {pattern!r}: policy must be inspect, budget or exempt")
        return value


#: One line per setting; the README's table is generated from this (``settings_markdown``).
DOCS: dict[str, str] = {
    "mode": "`enforce` applies actions; `monitor` computes and reports everything and enforces "
            "nothing (roll-out mode; see `monitor_enforce_budgets`). Switchable at run time "
            "from the admin API.",
    "secret": "Key for pseudonymising API keys, accounts and IPs (keyed BLAKE2b). Unset: a "
              "random per-process key, a loud warning, and shared storage is refused.",
    "storage_uri": "`memory://` (default, one process), `redis://`, `rediss://`, "
                   "`redis+unix://`, `redis+cluster://h1:p1,h2:p2`, `redis+sentinel://h:p/name`.",
    "storage_prefix": "Prefix of every storage key.",
    "storage_timeout": "Socket timeout (seconds) for the storage backend; no retries.",
    "fail_mode": "`open`: when storage is down, serve from an in-process fallback; `closed`: "
                 "answer 503.",
    "routes": "JSON map of `\"METHOD /path/glob\"` to `inspect` (detection and budgets), "
              "`budget` (budgets and the identity allow/deny lists, no detection) or `exempt` "
              "(passed through untouched); most specific match wins.",
    "default_policy": "Policy of every request no route pattern matches (never a silent "
                      "exemption).",
    "max_body_bytes": "Bytes of request body read for analysis; the rest streams through "
                      "untouched.",
    "oversize_action": "`pass` (analyse the prefix) or `reject` (413) for bodies over the cap.",
    "degrade_max_body_bytes": "A degraded request over `max_body_bytes` is read to its end "
                              "for the rewrite, up to this many bytes; a longer one is "
                              "refused with 413 (it cannot be rewritten).",
    "api_key_headers": "Headers holding the API key, in order of precedence: put the one your "
                       "app authenticates first (`Authorization: Bearer` is unwrapped; keys in "
                       "several headers that disagree are flagged `identity_mismatch`).",
    "account_header": "Header with the account/org id set by your gateway (read only from "
                      "trusted proxies).",
    "trusted_proxies": "CIDRs whose `X-Forwarded-For`/`Forwarded`, JA4 and bot-score headers "
                       "are believed.",
    "forwarded_header": "Which forwarding header a trusted proxy writes: `x-forwarded-for`, "
                        "`forwarded`, or `auto` (X-Forwarded-For when present, else "
                        "Forwarded; set `forwarded` behind a proxy that writes only that).",
    "ja4_header": "Header carrying the edge's JA4 TLS fingerprint (trusted proxies only).",
    "bot_score_header": "Header carrying the edge's bot score (trusted proxies only).",
    "asn_db": "Path to a MaxMind-format ASN (or ISP) database.",
    "anon_ip_db": "Path to a MaxMind-format anonymous-IP / residential-proxy database.",
    "request_capacity": "Request token bucket: capacity per identity. Budgets are always "
                        "tracked; they are enforced only once any `REQUEST_*`/`TOKEN_*` "
                        "budget or `RATE_LIMITS` is set, or a budget resolver returns one.",
    "request_refill_rate": "Request bucket: tokens added per `request_interval`.",
    "request_interval": "Request bucket: refill interval in seconds.",
    "token_capacity": "LLM-token bucket: capacity per identity (tokens).",
    "token_refill_rate": "LLM-token bucket: tokens added per `token_interval`.",
    "token_interval": "LLM-token bucket: refill interval in seconds.",
    "cluster_token_capacity": "Shared LLM-token bucket of a flagged cluster.",
    "cluster_token_refill_rate": "Cluster bucket: tokens added per `cluster_token_interval`.",
    "cluster_token_interval": "Cluster bucket: refill interval in seconds.",
    "new_key_ip_capacity": "Never-seen API keys one public client IP may bring in a burst (a "
                           "bucket charged only by a key's first request; private and loopback "
                           "addresses are proxy hops and exempt; 0: off, the default). Caps "
                           "junk-key floods; enable (e.g. 60) where the client IP is reliable "
                           "(`trusted_proxies`).",
    "new_key_ip_refill_rate": "New-key bucket per IP: keys added per `new_key_interval`.",
    "new_key_prefix_capacity": "Never-seen API keys per /24 (IPv4) or /48 (IPv6) prefix in "
    "a burst (0: off, the default; e.g. 240).",
    "new_key_prefix_refill_rate": "New-key bucket per prefix: keys added per "
    "`new_key_interval`.",
    "new_key_interval": "New-key buckets: refill interval in seconds.",
    "rate_limits": "Familiar window limits per identity in `limits` syntax, e.g. "
                   "`60/minute;10000/day` (empty: none).",
    "monitor_enforce_budgets": "In monitor mode, still answer 429 when a configured budget "
                               "is exhausted (default: monitor mode enforces nothing).",
    "default_output_tokens": "Output tokens assumed when a request sets no max.",
    "max_output_tokens": "Ceiling for token estimates only (a larger `max_tokens` is "
                         "estimated at this); never evidence of harvesting.",
    "model_output_caps": "JSON map model name -> its output-token cap, e.g. "
                         '`{"gpt-x": 16384}`. `max_tokens` at a stated cap is a weak '
                         "harvesting hint; a model without a stated cap gives none.",
    "detectors": "Built-in detectors to run: `fanout`, `sybil`, `intent`, `harvesting`, "
                 "`cadence`, `shift`, `churn`, `continuity`, `spread`, `lists`. `[]` runs "
                 "budgets only: "
                 "identity allow/deny lists still apply, no detection history is read (unless a "
                 "scorer hook is registered).",
    "weights": "JSON map detector -> weight in the noisy-OR combination.",
    "thresholds": "JSON map action -> minimum risk (`flag`, `degrade`, `delay`, `throttle`, "
                  "`block`).",
    "actions": "Actions that may be taken; a disabled action steps down to the next enabled "
               "one.",
    "short_window": "Seconds: the fan-out \"now\" window.",
    "long_window": "Seconds: the fan-out baseline window.",
    "risk_half_life": "Seconds: half-life of identity and cluster risk.",
    "max_delay": "Longest tarpit delay in seconds.",
    "degrade_max_tokens": "`max_tokens` cap applied by the degrade action.",
    "withhold": "What is removed from the responses to degraded requests: `reasoning` "
                "(reasoning fields, items, blocks, thought parts, `<think>` spans) and/or "
                "`logprobs`; empty: nothing.",
    "withhold_actions": "Actions besides `degrade` whose responses are filtered the same way "
                        "(`allow`, `flag`, `delay`).",
    "bind_reasoning_blobs": "Bind reasoning blobs (signatures, `encrypted_content`, "
                            "`thoughtSignature`) to the identity they were issued to; a blob "
                            "replayed by another identity is stripped and counted.",
    "max_analysis_chars": "Characters of user/system text analysed per request (head and "
                          "tail).",
    "intent_max_chars": "Characters of user text (head and tail) the intent detector reads; "
                        "extraction instructions sit at the start or end of a prompt.",
    "reasoning_extraction_degrade": "Reasoning-extraction intent score from which a request "
                                    "is degraded (reasoning withheld) on that evidence alone, "
                                    "without adding to identity or cluster risk; above 1 "
                                    "turns the rule off.",
    "memory_max_identities": "`memory://` bound on identities (LRU).",
    "memory_max_features": "`memory://` bound on fingerprint features (LRU).",
    "memory_max_sightings": "`memory://` bound on the (feature, identity) pairs shared "
                            "features keep after their identities leave (fan-out history; "
                            "about 160 bytes each); 0: 2 x `MEMORY_MAX_IDENTITIES`.",
    "hooks": "`module:function` entries called with the Guard at start-up to register hooks.",
    "hook_timeout": "Seconds an async hook may take before it is abandoned (and counted).",
    "events": "Emit JSON decision events on the `antidistill.events` logger.",
    "metrics": "Record Prometheus metrics (needs `antidistill[metrics]`).",
    "event_sample_allow": "Fraction of `allow` decisions emitted as events.",
    "admin_token": "Bearer token of the admin API and dashboard; unset disables them.",
    "log_events": "Attach a stderr handler (INFO) to the `antidistill.events` logger at start-up, "
                  "so decisions are visible under a plain ASGI server; `antidistill proxy` turns "
                  "it on.",
    "upstream_url": "Model server the reverse proxy forwards to (`antidistill proxy`, "
                    "`antidistill.proxy:app`), e.g. `http://127.0.0.1:8000`; a path is a prefix.",
    "upstream_timeout": "Proxy: seconds to wait for each read from (or write to) the upstream, "
                        "including its first byte; exceeded: 504.",
    "upstream_connect_timeout": "Proxy: seconds to connect to the upstream (or wait for a pooled "
                                "connection); unreachable: 502, too slow: 504.",
    "upstream_max_connections": "Proxy: pooled connections to the upstream per process.",
}


def settings_markdown() -> str:
    """The README's settings table."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, list):
            shown = ",".join(default) if default else "(empty)"
        elif isinstance(default, dict):
            shown = "{}" if not default else json.dumps(default)
        elif default is None or default == "":
            shown = "(unset)"
        else:
            shown = str(default)
        rows.append(f"| `ANTIDISTILL_{name.upper()}` | `{shown}` | {DOCS.get(name, '')} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(settings_markdown())
