"""Client-stack fingerprint of an HTTP request, built from the raw ASGI header list.

Distillation farms run thousands of accounts from one piece of software. Whatever they rotate
(keys, IPs, prompts), the HTTP stack tends to stay: the same header names in the same order,
the same SDK and version, the same ``x-stainless-*`` telltales, the same TLS stack at the edge.
This module turns one request's headers into a few short, versioned strings that detectors can
count across identities.

The header-order hash is our own scheme (names only, lowercased, arrival order, proxy and
volatile headers dropped); it deliberately does not reproduce JA4H.

Everything here reads a bounded prefix of the input, so hostile headers (hundreds of them,
megabyte values, non-ASCII bytes) cost a bounded amount of work and never raise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import xxhash
from user_agents import parse as _ua_parse

__all__ = ["FINGERPRINT_VERSION", "ClientFingerprint", "fingerprint_request"]

FINGERPRINT_VERSION = 1

# Caps on what we read. Real clients send 5-30 headers with short names; anything beyond
# these caps is either an attack or irrelevant to identifying the stack.
_MAX_HEADERS = 128
_MAX_ORDER_NAMES = 64
_MAX_NAME = 64
_MAX_UA = 256
_MAX_VALUE = 128
_MAX_TELLTALE_VALUE = 40

# Headers whose presence or position depends on the path (proxies, CDNs, tracing), on the
# request size, or that carry secrets. Dropping them keeps the header-order hash equal for
# the same client whether it reaches us directly or through one or more proxy hops.
_DROP_NAMES = frozenset(
    {
        b"host",  # proxies (nginx, envoy) re-emit it first; HTTP/2 turns it into :authority
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"upgrade",
        b"via",
        b"forwarded",
        b"x-real-ip",
        b"true-client-ip",
        b"x-client-ip",
        b"x-cluster-client-ip",
        b"x-original-forwarded-for",
        b"cdn-loop",
        b"traceparent",
        b"tracestate",
        b"baggage",
        b"b3",
        b"sentry-trace",
        b"x-request-id",
        b"x-correlation-id",
        b"request-id",
        b"x-request-start",
        b"x-cloud-trace-context",
        b"x-amzn-trace-id",
        b"cookie",
        b"authorization",
        b"proxy-authorization",
        b"x-api-key",
        b"api-key",
        b"x-goog-api-key",
    }
)
_DROP_PREFIXES = (
    b"x-forwarded-",
    b"cf-",
    b"x-envoy-",
    b"x-b3-",
    b"x-datadog-",
    b"fastly-",
    b"akamai-",
    b"x-akamai-",
    b"x-amz-cf-",
    b"x-azure-",
    b"x-vercel-",
    b"x-appengine-",
    b"x-google-",
    b"x-fly-",
    b"x-railway-",
    b"x-render-",
)

# Values that go into the client fingerprint (slot index per header name).
_SLOT_UA, _SLOT_ACCEPT, _SLOT_ENCODING, _SLOT_LANGUAGE = 0, 1, 2, 3
_SLOT_STAINLESS_LANG, _SLOT_STAINLESS_PKG, _SLOT_ANTHROPIC_VERSION = 4, 5, 6
_SLOT_GOOG_CLIENT, _SLOT_FERN_NAME, _SLOT_FERN_VERSION, _SLOT_FERN_LANG = 7, 8, 9, 10
_N_SLOTS = 11
_SLOTS = {
    b"user-agent": _SLOT_UA,
    b"accept": _SLOT_ACCEPT,
    b"accept-encoding": _SLOT_ENCODING,
    b"accept-language": _SLOT_LANGUAGE,
    b"x-stainless-lang": _SLOT_STAINLESS_LANG,
    b"x-stainless-package-version": _SLOT_STAINLESS_PKG,
    b"anthropic-version": _SLOT_ANTHROPIC_VERSION,
    b"x-goog-api-client": _SLOT_GOOG_CLIENT,
    b"x-fern-sdk-name": _SLOT_FERN_NAME,
    b"x-fern-sdk-version": _SLOT_FERN_VERSION,
    b"x-fern-language": _SLOT_FERN_LANG,
}

# Headers SDKs set on their own whose values tell the stack apart (runtime, OS, API version
# pin). Account-identifying headers (openai-organization, openai-project) are not included.
_TELLTALE_NAMES = frozenset(
    {
        b"x-stainless-lang",
        b"x-stainless-os",
        b"x-stainless-arch",
        b"x-stainless-runtime",
        b"x-stainless-runtime-version",
        b"x-stainless-package-version",
        b"x-stainless-async",
        b"anthropic-version",
        b"anthropic-beta",
        b"openai-beta",
        b"x-goog-api-client",
        b"x-fern-language",
        b"x-fern-sdk-name",
        b"x-fern-sdk-version",
        b"x-title",
    }
)
_STAINLESS_PREFIX = b"x-stainless-"

_UNSAFE_VALUE = re.compile(r"[^a-z0-9._:/=,;+ -]+")
_VER = r"(?P<ver>\d{1,5}(?:\.\d{1,6}){0,3})"

# Stainless-generated SDKs (OpenAI, Anthropic, Groq, ...) send "<ClientClass>/<Lang> <version>",
# e.g. "OpenAI/Python 1.47.0", "AsyncAnthropic/Python 0.71.0", "OpenAI/JS 4.52.0".
_STAINLESS_UA = re.compile(
    r"(?P<cls>[A-Za-z][A-Za-z0-9]{0,39})/(?P<lang>Python|JS|Go|Java|Kotlin|Ruby|PHP|CSharp) " + _VER
)
_GENAI_UA = re.compile(r"google-genai-sdk/" + _VER + r"(?: gl-(?P<lang>[a-z]{1,12})/)?")
# Other SDKs that name themselves first: litellm/1.60.2, ollama-python/0.4.4,
# langchain-core/0.3.1, Boto3/1.35.0, aws-sdk-js/3.600.0.
_NAMED_SDK_UA = re.compile(
    r"(?P<name>litellm|ollama-(?:python|js)|langchain(?:-[a-z]{1,20})?|boto3|botocore"
    r"|aws-sdk-[a-z]{1,12}|cohere(?:-[a-z]{1,12})?|groq-[a-z]{1,12})/v?" + _VER,
    re.IGNORECASE,
)
# Speakeasy-generated SDKs (Mistral, ...): "speakeasy-sdk/python 1.2.5 2.486.1 0.0.2 mistralai".
_SPEAKEASY_UA = re.compile(
    r"speakeasy-sdk/(?P<lang>[a-z]{1,12}) " + _VER + r" \S{1,20} \S{1,20} (?P<pkg>[\w.-]{1,40})"
)
# Azure SDKs: "azsdk-python-ai-inference/1.0.0b9 Python/3.12.1 (...)".
_AZSDK_UA = re.compile(r"azsdk-(?P<lang>python|js|net|java)-(?P<pkg>[a-z0-9.-]{1,40})/" + _VER)
# The leading product token of non-browser clients.
_PRODUCT_UA = re.compile(r"(?P<name>[A-Za-z][\w.+-]{0,39})(?:/v?" + _VER + r")?")
_AIOHTTP_UA = re.compile(r"aiohttp/" + _VER)
_AUTOMATION_UA = re.compile(
    r"HeadlessChrome|Playwright|Puppeteer|Selenium|PhantomJS|Electron/\d", re.IGNORECASE
)
_JA4 = re.compile(r"[tqd][0-9a-z]{9}_[0-9a-f]{12}_[0-9a-f]{12}", re.IGNORECASE)

# Canonical family names of HTTP libraries and tools, keyed by the lowercased product token.
_HTTP_LIBRARIES = {
    "python-httpx": "python-httpx",
    "python-requests": "python-requests",
    "python-urllib": "Python-urllib",
    "python-urllib3": "python-urllib3",
    "aiohttp": "aiohttp",
    "curl": "curl",
    "wget": "Wget",
    "go-http-client": "Go-http-client",
    "okhttp": "okhttp",
    "axios": "axios",
    "node-fetch": "node-fetch",
    "node": "node",
    "undici": "undici",
    "got": "got",
    "java": "Java",
    "apache-httpclient": "Apache-HttpClient",
    "ahc": "AHC",
    "jersey": "Jersey",
    "httpie": "HTTPie",
    "postmanruntime": "PostmanRuntime",
    "insomnia": "insomnia",
    "dart": "Dart",
    "deno": "Deno",
    "bun": "Bun",
    "faraday": "Faraday",
    "ruby": "Ruby",
    "rest-client": "rest-client",
    "guzzlehttp": "GuzzleHttp",
    "libwww-perl": "libwww-perl",
    "lwp-trivial": "lwp-trivial",
    "reqwest": "reqwest",
    "hyper": "hyper",
    "scrapy": "Scrapy",
    "colly": "colly",
    "php-curl-class": "PHP-Curl-Class",
    "cpp-httplib": "cpp-httplib",
    "libcurl": "curl",
}

_SDK_LANGS = {
    "python": "python",
    "js": "node",
    "node": "node",
    "typescript": "node",
    "go": "go",
    "java": "java",
    "kotlin": "kotlin",
    "ruby": "ruby",
    "php": "php",
    "csharp": "dotnet",
    "net": "dotnet",
}


@dataclass(frozen=True, slots=True)
class ClientFingerprint:
    """What the request says about the software that sent it.

    ``header_order`` and ``client`` are versioned hash strings (``ho1:``/``cf1:`` plus 16 hex
    digits) safe to store and export. ``ja4`` and ``bot_score`` are only set when the peer is a
    trusted edge proxy; from anyone else those headers are attacker-controlled.
    """

    header_order: str
    client: str
    ua_family: str
    ua_version: str
    ua_kind: str
    sdk: str | None
    sdk_telltales: tuple[str, ...]
    ja4: str | None
    bot_score: int | None


@dataclass(frozen=True, slots=True)
class _UAInfo:
    family: str
    version: str
    kind: str
    sdk: str | None


def _major_minor(version: str) -> str:
    parts = version.split(".", 2)
    return ".".join(parts[:2])


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def _sdk_package(cls: str) -> str:
    """Map a Stainless client class name to its package: AsyncAzureOpenAI -> openai."""
    name = cls
    if name.startswith("Async"):
        name = name[5:]
    if name.startswith("Azure") and len(name) > 5:
        name = name[5:]
    for suffix in ("Bedrock", "Vertex", "Foundry"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.lower()


def _classify_known(ua: str) -> _UAInfo | None:
    """Recognise SDK and HTTP-library UAs, which ``user-agents`` reports as "Other"."""
    m = _STAINLESS_UA.match(ua)
    if m is not None:
        ver = m["ver"]
        lang = _SDK_LANGS.get(m["lang"].lower(), m["lang"].lower())
        sdk = f"{_sdk_package(m['cls'])}-{lang}/{_major(ver)}"
        return _UAInfo(f"{m['cls']}/{m['lang']}", _major_minor(ver), "sdk", sdk)
    m = _GENAI_UA.match(ua)
    if m is not None:
        ver = m["ver"]
        return _UAInfo("google-genai", _major_minor(ver), "sdk", f"google-genai/{_major(ver)}")
    m = _NAMED_SDK_UA.match(ua)
    if m is not None:
        ver = m["ver"]
        name = m["name"].lower()
        return _UAInfo(m["name"], _major_minor(ver), "sdk", f"{name}/{_major(ver)}")
    m = _SPEAKEASY_UA.match(ua)
    if m is not None:
        ver = m["ver"]
        lang = _SDK_LANGS.get(m["lang"], m["lang"])
        pkg = m["pkg"].lower()
        return _UAInfo(pkg, _major_minor(ver), "sdk", f"{pkg}-{lang}/{_major(ver)}")
    m = _AZSDK_UA.match(ua)
    if m is not None:
        ver = m["ver"]
        lang = _SDK_LANGS.get(m["lang"], m["lang"])
        pkg = m["pkg"]
        sdk = f"azure-{pkg}-{lang}/{_major(ver)}"
        return _UAInfo(f"azsdk-{pkg}", _major_minor(ver), "sdk", sdk)
    m = _PRODUCT_UA.match(ua)
    if m is not None:
        token = m["name"].lower()
        if token == "python":
            # aiohttp announces itself second: "Python/3.11 aiohttp/3.9.5".
            a = _AIOHTTP_UA.search(ua)
            if a is not None:
                return _UAInfo("aiohttp", _major_minor(a["ver"]), "http-library", None)
        family = _HTTP_LIBRARIES.get(token)
        if family is not None:
            ver = m["ver"] or ""
            return _UAInfo(family, _major_minor(ver), "http-library", None)
    return None


@lru_cache(maxsize=4096)
def _classify_ua(ua: str) -> _UAInfo:
    if not ua:
        return _UAInfo("", "", "unknown", None)
    known = _classify_known(ua)
    if known is not None:
        return known
    parsed = _ua_parse(ua)
    browser = parsed.browser
    family = str(browser.family or "Other")
    version = ".".join(str(v) for v in tuple(browser.version)[:2])
    if parsed.is_bot or _AUTOMATION_UA.search(ua) is not None:
        kind = "bot"
    elif family == "Other":
        kind = "unknown"
    elif family.startswith("Python "):
        kind = "http-library"  # uap-core's names for requests/urllib variants we did not match
    else:
        kind = "browser"
    return _UAInfo(family, version, kind, None)


def _clean(value: bytes, cap: int) -> str:
    # latin-1 maps every byte, so hostile bytes cannot make decoding fail.
    return value[:cap].decode("latin-1").strip().lower()


@lru_cache(maxsize=4096)
def _telltale(name: bytes, value: bytes) -> str:
    # Cached: a fleet sends the same few (name, value) pairs over and over.
    return f"{name.decode('latin-1')}={_UNSAFE_VALUE.sub('_', _clean(value, _MAX_TELLTALE_VALUE))}"


def _sdk_from_telltales(values: list[bytes | None]) -> str | None:
    """Name the SDK from its own headers when the UA is missing, scrubbed or overridden."""
    raw_lang = values[_SLOT_STAINLESS_LANG]
    if raw_lang is not None:
        lang = _clean(raw_lang, 16)
        lang = _SDK_LANGS.get(lang, _UNSAFE_VALUE.sub("_", lang))
        raw_pkg = values[_SLOT_STAINLESS_PKG]
        major = _major(_clean(raw_pkg, 16)) if raw_pkg is not None else ""
        major = major if major.isdigit() else "?"
        # Several vendors ship Stainless SDKs; only Anthropic's pins an API version header.
        vendor = "anthropic" if values[_SLOT_ANTHROPIC_VERSION] is not None else "stainless"
        return f"{vendor}-{lang}/{major}"
    raw_goog = values[_SLOT_GOOG_CLIENT]
    if raw_goog is not None:
        m = _GENAI_UA.search(_clean(raw_goog, _MAX_VALUE))
        if m is not None:
            return f"google-genai/{_major(m['ver'])}"
    raw_fern = values[_SLOT_FERN_NAME]
    if raw_fern is not None:
        name = _UNSAFE_VALUE.sub("_", _clean(raw_fern, 32))
        raw_lang = values[_SLOT_FERN_LANG]
        flang = _clean(raw_lang, 16) if raw_lang is not None else ""
        flang = _SDK_LANGS.get(flang, _UNSAFE_VALUE.sub("_", flang) or "?")
        raw_ver = values[_SLOT_FERN_VERSION]
        major = _major(_clean(raw_ver, 16)) if raw_ver is not None else ""
        return f"{name}-{flang}/{major if major.isdigit() else '?'}"
    return None


def _hex64(data: bytes) -> str:
    return xxhash.xxh3_64_hexdigest(data)


_EMPTY_ORDER = "ho1:" + _hex64(b"")


def fingerprint_request(
    headers: Sequence[tuple[bytes, bytes]],
    *,
    trusted_peer: bool,
    ja4_header: str = "cf-ja4",
    bot_score_header: str = "cf-bot-score",
) -> ClientFingerprint:
    """Fingerprint the client stack from the raw ASGI ``scope["headers"]`` list.

    ``trusted_peer`` must be True only when the direct peer is an edge proxy you control
    (checked against trusted CIDRs by the caller); otherwise the JA4 and bot-score headers
    are ignored, since any client can send them. Never raises.
    """
    try:
        key = _cache_key(headers, trusted_peer, ja4_header, bot_score_header)
        cached = _CACHE.get(key) if key is not None else None
    except Exception:  # odd header lists (unhashable or short pairs) are not cached
        key = cached = None
    if cached is not None:
        return cached
    try:
        fp = _fingerprint(headers, trusted_peer, ja4_header, bot_score_header)
    except Exception:  # defensive: a fingerprint must never fail a request
        return ClientFingerprint(
            _EMPTY_ORDER, "cf1:" + _hex64(b"error"), "", "", "unknown", None, (), None, None
        )
    if key is not None and _small(key):
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = fp
    return fp


# One client stack sends the same headers request after request: the fingerprint is cached,
# keyed by every header it can depend on (in order), i.e. all but the dropped ones (keys,
# sizes, tracing ids), whose names and values never reach it. Bounded in entries and in the
# bytes a key may hold.
_CACHE: dict[tuple[Any, ...], ClientFingerprint] = {}
_CACHE_MAX = 2048
_CACHE_VALUE_BYTES = 4096  # so at most ~8 MiB of header values are held


@lru_cache(maxsize=64)
def _edge_names(ja4_header: str, bot_score_header: str) -> bool:
    """Whether the edge headers are outside the dropped set (else no caching)."""
    names = {h.lower().encode("latin-1", "replace") for h in (ja4_header, bot_score_header)}
    return not (names & _DROP_NAMES)


def _cache_key(
    headers: Sequence[tuple[bytes, bytes]], trusted_peer: bool, ja4_header: str,
    bot_score_header: str,
) -> tuple[Any, ...] | None:
    if len(headers) > _MAX_HEADERS or not _edge_names(ja4_header, bot_score_header):
        return None
    return (trusted_peer, ja4_header, bot_score_header,
            *[h for h in headers if h[0] not in _DROP_NAMES])


def _small(key: tuple[Any, ...]) -> bool:
    try:
        return sum(len(value) for _, value in key[3:]) <= _CACHE_VALUE_BYTES
    except (TypeError, ValueError):
        return False


@dataclass(slots=True)
class _Scan:
    """What one pass over the headers found."""

    names: list[bytes] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=lambda: [None] * _N_SLOTS)
    telltales: list[str] = field(default_factory=list)
    ja4_raw: bytes | None = None
    bot_raw: bytes | None = None


def _scan(headers: Sequence[tuple[bytes, bytes]], ja4_name: bytes, bot_name: bytes) -> _Scan:
    out = _Scan()
    seen: set[bytes] = set()
    count = 0
    for pair in headers:
        count += 1
        if count > _MAX_HEADERS:
            break
        try:
            raw_name, raw_value = pair[0], pair[1]
        except (TypeError, IndexError, KeyError):
            continue
        if not isinstance(raw_name, bytes) or not isinstance(raw_value, bytes):
            continue
        name = raw_name[:_MAX_NAME].lower()
        # The edge sets these; if a client also sent one, the edge's copy comes last.
        if name == ja4_name or name == bot_name:
            if name == ja4_name:
                out.ja4_raw = raw_value[:_MAX_VALUE]
            else:
                out.bot_raw = raw_value[:16]
            continue
        if name in seen:
            continue
        seen.add(name)
        if name in _DROP_NAMES or name.startswith(_DROP_PREFIXES):
            continue
        if len(out.names) < _MAX_ORDER_NAMES:
            out.names.append(name)
        slot = _SLOTS.get(name)
        if slot is not None:
            out.values[slot] = raw_value
        if name in _TELLTALE_NAMES:
            out.telltales.append(_telltale(name, raw_value[:_MAX_TELLTALE_VALUE]))
    return out


def _edge(scan: _Scan, trusted_peer: bool) -> tuple[str | None, int | None]:
    """The edge's JA4 and bot score, believed only from a trusted peer."""
    ja4: str | None = None
    bot_score: int | None = None
    if trusted_peer:
        if scan.ja4_raw is not None:
            candidate = scan.ja4_raw.decode("latin-1").strip()
            if _JA4.fullmatch(candidate) is not None:
                ja4 = candidate.lower()
        if scan.bot_raw is not None:
            text = scan.bot_raw.strip()
            if 0 < len(text) <= 2 and text.isdigit():
                score = int(text)
                bot_score = score if 1 <= score <= 99 else None
    return ja4, bot_score


def _fingerprint(
    headers: Sequence[tuple[bytes, bytes]],
    trusted_peer: bool,
    ja4_header: str,
    bot_score_header: str,
) -> ClientFingerprint:
    scan = _scan(headers, ja4_header.lower().encode("latin-1", "replace"),
                 bot_score_header.lower().encode("latin-1", "replace"))
    names, values = scan.names, scan.values
    order_blob = b"\n".join(names)
    header_order = "ho1:" + _hex64(order_blob)

    raw_ua = values[_SLOT_UA]
    ua_text = raw_ua[:_MAX_UA].decode("latin-1").strip() if raw_ua is not None else ""
    info = _classify_ua(ua_text)
    sdk = info.sdk if info.sdk is not None else _sdk_from_telltales(values)

    stainless = sorted(n for n in names if n.startswith(_STAINLESS_PREFIX))
    accept = values[_SLOT_ACCEPT]
    encoding = values[_SLOT_ENCODING]
    language = values[_SLOT_LANGUAGE]
    client_blob = b"\x1f".join(
        (
            order_blob,
            info.family.encode("latin-1", "replace"),
            _major(info.version).encode("latin-1", "replace"),
            (sdk or "").encode("latin-1", "replace"),
            b",".join(stainless),
            b"".join(accept[:_MAX_VALUE].lower().split()) if accept is not None else b"-",
            b"".join(encoding[:_MAX_VALUE].lower().split()) if encoding is not None else b"-",
            b"".join(language[:_MAX_VALUE].lower().split()) if language is not None else b"-",
        )
    )
    ja4, bot_score = _edge(scan, trusted_peer)
    return ClientFingerprint(
        header_order=header_order,
        client="cf1:" + _hex64(client_blob),
        ua_family=info.family,
        ua_version=info.version,
        ua_kind=info.kind,
        sdk=sdk,
        sdk_telltales=tuple(sorted(scan.telltales)),
        ja4=ja4,
        bot_score=bot_score,
    )
