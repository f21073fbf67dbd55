"""Tests for the client-stack fingerprint (antidistill.fingerprints.request)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from antidistill.fingerprints.request import (
    FINGERPRINT_VERSION,
    ClientFingerprint,
    fingerprint_request,
)

DATA = Path(__file__).parent / "data" / "headers"
HO = re.compile(r"ho1:[0-9a-f]{16}")
CF = re.compile(r"cf1:[0-9a-f]{16}")
JA4 = "t13d1516h2_8daaf6152771_e5627efa2ab1"

Headers = list[tuple[bytes, bytes]]


def _load_sets() -> dict[str, Headers]:
    raw: list[dict[str, Any]] = json.loads((DATA / "sdk_header_sets.json").read_text("utf-8"))
    return {
        entry["label"]: [(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry["headers"]]
        for entry in raw
    }


SETS = _load_sets()


def fp(headers: Headers, *, trusted: bool = False, **kw: str) -> ClientFingerprint:
    return fingerprint_request(headers, trusted_peer=trusted, **kw)


def replace_value(headers: Headers, name: bytes, value: bytes) -> Headers:
    return [(k, value if k.lower() == name else v) for k, v in headers]


def ua(value: str) -> ClientFingerprint:
    return fp([(b"accept", b"*/*"), (b"user-agent", value.encode("latin-1"))])


def test_version_and_formats() -> None:
    assert FINGERPRINT_VERSION == 1
    result = fp(SETS["openai-python-1.66.3"])
    assert HO.fullmatch(result.header_order)
    assert CF.fullmatch(result.client)


# --- real SDK header sets (crewAI VCR cassettes) ---------------------------------------------


@pytest.mark.parametrize(
    ("label", "sdk", "family", "version", "kind"),
    [
        ("openai-python-1.66.3", "openai-python/1", "OpenAI/Python", "1.66", "sdk"),
        ("openai-python-1.47.0", "openai-python/1", "OpenAI/Python", "1.47", "sdk"),
        ("openai-python-1.109.1", "openai-python/1", "OpenAI/Python", "1.109", "sdk"),
        ("anthropic-python-0.71.0", "anthropic-python/0", "Anthropic/Python", "0.71", "sdk"),
        ("litellm-1.60.2-openrouter", "litellm/1", "litellm", "1.60", "sdk"),
        ("google-genai-1.2.0", "google-genai/1", "google-genai", "1.2", "sdk"),
        # UA scrubbed upstream: the SDK is still recognised from its own headers.
        ("anthropic-python-scrubbed-ua", "anthropic-python/0", "Other", "", "unknown"),
        ("google-genai-scrubbed-ua", "google-genai/1", "Other", "", "unknown"),
    ],
)
def test_real_sdk_header_sets(label: str, sdk: str, family: str, version: str, kind: str) -> None:
    result = fp(SETS[label])
    assert result.sdk == sdk
    assert result.ua_family == family
    assert result.ua_version == version
    assert result.ua_kind == kind


def test_stainless_telltales() -> None:
    openai = fp(SETS["openai-python-1.66.3"]).sdk_telltales
    assert "x-stainless-lang=python" in openai
    assert "x-stainless-os=macos" in openai
    assert "x-stainless-arch=arm64" in openai
    assert "x-stainless-package-version=1.66.3" in openai
    assert list(openai) == sorted(openai)
    anthropic = fp(SETS["anthropic-python-0.71.0"]).sdk_telltales
    assert "anthropic-version=2023-06-01" in anthropic
    genai = fp(SETS["google-genai-1.2.0"]).sdk_telltales
    assert "x-goog-api-client=google-genai-sdk/1.2.0 gl-python/3.12.9" in genai
    # Credentials never become telltales.
    assert not any(t.startswith(("authorization", "x-goog-api-key")) for t in genai)


def test_different_sdks_have_different_fingerprints() -> None:
    results = {label: fp(headers) for label, headers in SETS.items()}
    # openai-python 1.66.3 and 1.109.1 send the same header names and accept values and share
    # a major version: one client stack, by design. Every other pair differs.
    same = ("openai-python-1.66.3", "openai-python-1.109.1")
    assert results[same[0]].client == results[same[1]].client
    others = {label: r for label, r in results.items() if label != same[1]}
    assert len({r.client for r in others.values()}) == len(others)
    assert len({r.header_order for r in others.values()}) == len(others)


# --- header order ----------------------------------------------------------------------------


def test_same_client_different_values_same_fingerprint() -> None:
    base = SETS["openai-python-1.66.3"]
    other = replace_value(base, b"content-length", b"98765")
    other = replace_value(other, b"x-stainless-retry-count", b"2")
    other = replace_value(other, b"x-stainless-package-version", b"1.66.5")
    other = replace_value(other, b"user-agent", b"OpenAI/Python 1.66.5")
    other = replace_value(other, b"host", b"api.example.net")
    a, b = fp(base), fp(other)
    assert a.header_order == b.header_order
    assert a.client == b.client


def test_reordered_headers_change_fingerprint() -> None:
    base = SETS["openai-python-1.66.3"]
    swapped = list(base)
    i = next(n for n, (k, _) in enumerate(swapped) if k == b"user-agent")
    j = next(n for n, (k, _) in enumerate(swapped) if k == b"x-stainless-os")
    swapped[i], swapped[j] = swapped[j], swapped[i]
    assert fp(base).header_order != fp(swapped).header_order
    assert fp(base).client != fp(swapped).client
    assert fp(list(reversed(base))).header_order != fp(base).header_order


def test_header_name_case_is_ignored() -> None:
    base = SETS["openai-python-1.66.3"]
    upper = [(k.upper(), v) for k, v in base]
    assert fp(upper) == fp(base)


def test_proxy_hop_does_not_change_fingerprint() -> None:
    base = SETS["openai-python-1.66.3"]
    without_host = [(k, v) for k, v in base if k not in (b"host", b"connection")]
    # nginx-style hop: Host first, Connection rewritten, forwarding and tracing headers added.
    proxied: Headers = [(b"host", b"internal-upstream:8000"), (b"connection", b"close")]
    proxied += [(b"x-real-ip", b"203.0.113.9"), (b"x-forwarded-for", b"203.0.113.9")]
    proxied += without_host[:3]
    proxied += [(b"cf-ray", b"8a1b2c3d4e5f6789-AMS"), (b"cf-connecting-ip", b"203.0.113.9")]
    proxied += [(b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    proxied += without_host[3:]
    proxied += [
        (b"x-forwarded-proto", b"https"),
        (b"forwarded", b"for=203.0.113.9;proto=https"),
        (b"via", b"1.1 edge"),
        (b"x-request-id", b"5d1f0a"),
        (b"x-amzn-trace-id", b"Root=1-5759e988"),
        (b"cookie", b"session=abc"),
        (b"authorization", b"Bearer sk-test"),
    ]
    a, b = fp(base), fp(proxied)
    assert a.header_order == b.header_order
    assert a.client == b.client


def test_custom_header_is_not_dropped() -> None:
    base = SETS["openai-python-1.66.3"]
    extra = [*base[:2], (b"x-my-app", b"1"), *base[2:]]
    assert fp(base).header_order != fp(extra).header_order


def test_repeated_names_count_once() -> None:
    base = SETS["openai-python-1.66.3"]
    doubled = [*base, (b"accept", b"text/plain"), (b"x-stainless-lang", b"js")]
    a, b = fp(base), fp(doubled)
    assert a == b  # first occurrence wins for values too


def test_client_includes_accept_values_and_ua_major() -> None:
    base = SETS["openai-python-1.66.3"]
    a = fp(base)
    enc = fp(replace_value(base, b"accept-encoding", b"gzip"))
    assert enc.header_order == a.header_order
    assert enc.client != a.client
    major = fp(replace_value(base, b"user-agent", b"OpenAI/Python 2.1.0"))
    assert major.header_order == a.header_order
    assert major.sdk == "openai-python/2"
    assert major.client != a.client
    lang = [*base, (b"accept-language", b"en-US,en;q=0.9")]
    assert fp(lang).client != a.client


# --- user-agent recognition ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "family", "version", "kind", "sdk"),
    [
        ("AsyncOpenAI/Python 1.30.1", "AsyncOpenAI/Python", "1.30", "sdk", "openai-python/1"),
        ("AzureOpenAI/Python 1.51.0", "AzureOpenAI/Python", "1.51", "sdk", "openai-python/1"),
        ("OpenAI/JS 4.52.7", "OpenAI/JS", "4.52", "sdk", "openai-node/4"),
        (
            "AsyncAnthropic/Python 0.34.2",
            "AsyncAnthropic/Python",
            "0.34",
            "sdk",
            "anthropic-python/0",
        ),
        ("Anthropic/JS 0.27.3", "Anthropic/JS", "0.27", "sdk", "anthropic-node/0"),
        ("google-genai-sdk/1.2.0 gl-python/3.12.9", "google-genai", "1.2", "sdk", "google-genai/1"),
        ("litellm/1.80.7", "litellm", "1.80", "sdk", "litellm/1"),
        (
            "ollama-python/0.4.4 (x86_64 linux) Python/3.12.3",
            "ollama-python",
            "0.4",
            "sdk",
            "ollama-python/0",
        ),
        (
            "speakeasy-sdk/python 1.2.5 2.486.1 0.0.2 mistralai",
            "mistralai",
            "1.2",
            "sdk",
            "mistralai-python/1",
        ),
        ("curl/8.5.0", "curl", "8.5", "http-library", None),
        ("curl", "curl", "", "http-library", None),
        ("python-requests/2.32.3", "python-requests", "2.32", "http-library", None),
        ("python-httpx/0.27.0", "python-httpx", "0.27", "http-library", None),
        ("Python-urllib/3.11", "Python-urllib", "3.11", "http-library", None),
        ("Python/3.11 aiohttp/3.9.5", "aiohttp", "3.9", "http-library", None),
        ("Go-http-client/2.0", "Go-http-client", "2.0", "http-library", None),
        ("okhttp/4.12.0", "okhttp", "4.12", "http-library", None),
        ("axios/1.6.8", "axios", "1.6", "http-library", None),
        (
            "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
            "node-fetch",
            "1.0",
            "http-library",
            None,
        ),
        ("Wget/1.21.4", "Wget", "1.21", "http-library", None),
        (
            "Apache-HttpClient/4.5.14 (Java/17.0.2)",
            "Apache-HttpClient",
            "4.5",
            "http-library",
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36",
            "Chrome",
            "124.0",
            "browser",
            None,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Firefox",
            "125.0",
            "browser",
            None,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/120.0.6099.28 Safari/537.36",
            "HeadlessChrome",
            "120.0",
            "bot",
            None,
        ),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.1; "
            "+https://openai.com/gptbot)",
            "GPTBot",
            "1.1",
            "bot",
            None,
        ),
        ("X-USER-AGENT-XXX", "Other", "", "unknown", None),
        ("", "", "", "unknown", None),
    ],
)
def test_user_agent_recognition(
    agent: str, family: str, version: str, kind: str, sdk: str | None
) -> None:
    result = ua(agent)
    assert (result.ua_family, result.ua_version, result.ua_kind, result.sdk) == (
        family,
        version,
        kind,
        sdk,
    )


def test_missing_user_agent() -> None:
    result = fp([(b"accept", b"*/*"), (b"content-type", b"application/json")])
    assert result.ua_family == ""
    assert result.ua_kind == "unknown"
    assert result.sdk is None


# --- edge headers (JA4, bot score) -----------------------------------------------------------


def test_edge_headers_ignored_from_untrusted_peer() -> None:
    base = SETS["openai-python-1.66.3"]
    spoofed = [*base, (b"cf-ja4", JA4.encode()), (b"cf-bot-score", b"99")]
    result = fp(spoofed, trusted=False)
    assert result.ja4 is None
    assert result.bot_score is None


def test_edge_headers_read_from_trusted_peer() -> None:
    base = SETS["openai-python-1.66.3"]
    edged = [*base, (b"cf-ja4", JA4.encode()), (b"cf-bot-score", b"12")]
    result = fp(edged, trusted=True)
    assert result.ja4 == JA4
    assert result.bot_score == 12
    # Edge headers never change the header order or client hash.
    plain = fp(base, trusted=True)
    assert (result.header_order, result.client) == (plain.header_order, plain.client)


def test_custom_edge_header_names() -> None:
    base = SETS["openai-python-1.66.3"]
    edged = [*base, (b"X-JA4", JA4.upper().encode()), (b"x-bot-score", b" 7 ")]
    result = fp(edged, trusted=True, ja4_header="x-ja4", bot_score_header="X-Bot-Score")
    assert result.ja4 == JA4
    assert result.bot_score == 7
    assert result.header_order == fp(base).header_order
    # The defaults are not read when other names are configured.
    assert fp([*base, (b"cf-ja4", JA4.encode())], trusted=True, ja4_header="x-ja4").ja4 is None


def test_edge_copy_wins_over_client_copy() -> None:
    edge = "t13d1715h2_5b57614c22b0_3d5424432f57"
    headers = [*SETS["openai-python-1.66.3"], (b"cf-ja4", JA4.encode()), (b"cf-ja4", edge.encode())]
    assert fp(headers, trusted=True).ja4 == edge


@pytest.mark.parametrize("value", [b"0", b"100", b"abc", b"-5", b"", b"9" * 40, b"1.5", b"\xff"])
def test_invalid_bot_scores(value: bytes) -> None:
    assert fp([(b"cf-bot-score", value)], trusted=True).bot_score is None


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"garbage",
        b"t13d1516h2_8daaf6152771",
        JA4.encode() + b"_extra",
        b"\xff" * 36,
        b"t13d1516h2_8daaf615277z_e5627efa2ab1",
    ],
)
def test_invalid_ja4(value: bytes) -> None:
    assert fp([(b"cf-ja4", value)], trusted=True).ja4 is None


# --- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"user-agent", b"")],
        [(b"user-agent", b"\xff\xfe\x00\x81 Mozilla/\xe2\x98\x83")],
        [
            (b"\xff\xfe-name", b"\x00\x01\x02"),
            (b"", b""),
            (b"x-stainless-lang", b"\xf0\x9f\x98\x80"),
        ],
        [(b"user-agent", b"Mozilla/5.0 (" * 20000)],
        [(b"x" * 100_000, b"y" * 1_000_000)],
        [(f"x-h{i}".encode(), b"v") for i in range(200)],
        [(b"accept", b"*/*"), ("user-agent", "curl/8")],  # str instead of bytes
        [(b"accept",), (b"a", b"b", b"c"), None, 42],  # malformed pairs
        [(b"cf-ja4", b"\x80" * 5000), (b"cf-bot-score", b"\x80" * 5000)],
    ],
)
def test_garbage_never_raises(headers: Any) -> None:
    for trusted in (False, True):
        result = fingerprint_request(headers, trusted_peer=trusted)
        assert HO.fullmatch(result.header_order)
        assert CF.fullmatch(result.client)
        assert isinstance(result.ua_family, str)
        assert result.ua_kind in {"sdk", "browser", "http-library", "bot", "unknown"}
        assert all(len(t) < 200 for t in result.sdk_telltales)


def test_huge_user_agent_is_capped() -> None:
    head = b"python-requests/2.32.3 " + b"a" * 300
    short = fp([(b"user-agent", head[:256])])
    huge = fp([(b"user-agent", head + b"b" * 1_000_000)])
    assert huge.ua_family == "python-requests"
    assert huge == short


def test_many_headers_are_capped() -> None:
    many = [(f"x-h{i}".encode(), b"v") for i in range(200)]
    # Names past the cap do not move the hash, so a flood costs bounded work.
    assert fp(many).header_order == fp(many[:100]).header_order
    assert fp(many[:10]).header_order != fp(many[:11]).header_order


def test_cached_fingerprint_equals_a_fresh_one() -> None:
    """The cache keys on every header the fingerprint can depend on: changing a kept header
    changes the answer, changing a dropped one (key, size, trace id) does not."""
    from antidistill.fingerprints import request as rq

    base = [(b"user-agent", b"OpenAI/Python 1.50.0"), (b"accept", b"application/json"),
            (b"x-stainless-lang", b"python"), (b"authorization", b"Bearer sk-a"),
            (b"content-length", b"10")]
    rq._CACHE.clear()
    first = fingerprint_request(base, trusted_peer=False)
    assert len(rq._CACHE) == 1
    other_key = [h if h[0] != b"authorization" else (h[0], b"Bearer sk-b") for h in base]
    assert fingerprint_request(other_key, trusted_peer=False) is first  # a cache hit
    changed = [h if h[0] != b"x-stainless-lang" else (h[0], b"node") for h in base]
    rq._CACHE.clear()
    fresh = fingerprint_request(changed, trusted_peer=False)
    assert fresh != first
    rq._CACHE.clear()
    assert fingerprint_request(changed, trusted_peer=False) == fresh
    # odd pairs are answered (uncached), never raised
    odd = [*base, (b"x-odd", 5), (b"only-name",)]
    assert fingerprint_request(odd, trusted_peer=False)  # type: ignore[arg-type]
    huge = [*base, (b"x-big", b"v" * 20000)]
    rq._CACHE.clear()
    fingerprint_request(huge, trusted_peer=False)
    assert not rq._CACHE  # values over the byte bound are not kept
