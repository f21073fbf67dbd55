"""The admin API and live dashboard: ``create_admin_app(guard)``, usually via ``guard.admin_app()``.

Mount it under any prefix (the dashboard uses relative URLs only)::

    app.mount("/antidistill", guard.admin_app())

and exempt that prefix from inspection (``ANTIDISTILL_ROUTES='{"* /antidistill/**":
"exempt"}'``) so that the dashboard's polling is not scored as API traffic.

Disabled (every request answers 404 with a JSON explanation) unless ``ANTIDISTILL_ADMIN_TOKEN``
is set. Every ``/api/*`` call needs ``Authorization: Bearer <token>``; the dashboard page and
its static files are served without it (they hold no data) and the page asks for the token,
keeping it in ``sessionStorage``. ``/openapi.json`` describes the API (OpenAPI 3.1).

What the API shows is pseudonymised: identity and cluster ids, fingerprints and coarse network
prefixes. List members are validated so that a raw API key or IP address is never stored.
Recent decisions and reason counts are this instance's in-process view; risks, clusters, lists
and the mode come from the shared store.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from antidistill.decision import Action
from antidistill.errors import StorageError
from antidistill.lists import (
    CUSTOM_IDENTITY,
    IDENTITY_LISTS,
    LIST_NAMES,
    MEMBER_FORMATS,
    NETWORK_BITS,
    OWN_IDENTITY_KINDS,
)

if TYPE_CHECKING:
    from antidistill.guard import Guard

__all__ = ["LIST_NAMES", "create_admin_app", "normalize_member", "openapi_document"]

MAX_LIMIT = 1000
MAX_LIST_LIMIT = 10_000
MAX_BODY = 4096
MAX_TTL = 10 * 365 * 86400.0
RECENT_LIMIT = 50

_ASN = re.compile(r"(?:as)?([0-9]{1,10})", re.IGNORECASE)  # operator input: "AS13335"
# Well-known secret-key prefixes (OpenAI, Anthropic, Stripe-style, Groq, xAI, Hugging Face,
# GitHub, GitLab, Google, AWS) and a pasted header value.
_RAW_KEY = re.compile(
    r"(?:bearer\s|basic\s|sk[-_]|pk[-_]|rk[-_]|sess-|gsk_|xai-|hf_|gh[pousr]_|github_pat_|"
    r"glpat-|aiza|akia|asia)",
    re.IGNORECASE,
)

_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STATIC = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}

Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    pass


class _NotFound(Exception):
    pass


def _finite(value: Any) -> Any:
    """JSON-safe copy: non-finite floats (an unlimited bucket's reset time) become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False).encode()
    h = {"cache-control": "no-store", **_SECURITY_HEADERS, **(headers or {})}
    return Response(body, status_code=status, media_type="application/json", headers=h)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None
           ) -> Response:
    return _json({"error": {"code": code, "message": message}}, status, headers)


def _raw_key_like(text: str) -> bool:
    return _RAW_KEY.match(text) is not None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def normalize_member(name: str, member: Any) -> str:
    """Validate ``member`` for list ``name`` and return its canonical form.

    Raises ``ValueError`` with an operator-facing message. Raw API keys and IP addresses are
    refused: lists hold pseudonymised ids, fingerprints and coarse prefixes only.
    """
    if name not in LIST_NAMES:
        raise ValueError(f"unknown list {name!r}; choose from {', '.join(LIST_NAMES)}")
    if not isinstance(member, str) or not member.strip():
        raise ValueError("member must be a non-empty string")
    text = member.strip()
    if len(text) > 200:
        raise ValueError("member is too long (at most 200 characters)")
    kind = name.partition(":")[2]
    tail = text.partition(":")[2]
    if _raw_key_like(text) or (tail and _raw_key_like(tail)):
        raise ValueError("this looks like a raw API key; use the pseudonymised identity id "
                         "shown by the API (e.g. 'key:3f9a...')")
    if kind == "identity":
        if _is_ip(text) or (tail and _is_ip(tail)):
            raise ValueError("raw IP addresses are not stored; use the identity id "
                             "(e.g. 'ip:...') or the deny:network list with a prefix")
        if text.startswith(OWN_IDENTITY_KINDS):
            if not MEMBER_FORMATS["identity"].fullmatch(text):
                raise ValueError("identity ids look like 'key:' followed by 20 hex digits")
        elif not CUSTOM_IDENTITY.fullmatch(text):
            raise ValueError("identity ids look like '<kind>:<id>', e.g. 'key:3f9a...'")
        return text
    if kind == "template":
        if not MEMBER_FORMATS["template"].fullmatch(text):
            raise ValueError("template fingerprints look like 'pt1:' followed by hex digits")
        return text
    if kind == "client":
        if not MEMBER_FORMATS["client"].fullmatch(text):
            raise ValueError("client fingerprints look like 'cf1:' followed by hex digits")
        return text
    if kind == "ja4":
        low = text.lower()
        if not MEMBER_FORMATS["ja4"].fullmatch(low):
            raise ValueError("not a JA4 fingerprint (e.g. 't13d1516h2_8daaf6152771_b186095e22b6')")
        return low
    if kind == "asn":
        m = _ASN.fullmatch(text)
        if m is None:
            raise ValueError("ASNs look like '13335' or 'AS13335'")
        return str(int(m.group(1)))
    return _normalize_network(text)


def _normalize_network(text: str) -> str:
    raw = text[2:] if text[:2] in ("4:", "6:") else text
    if "/" not in raw:
        raise ValueError("give a network prefix ('203.0.113.0/24' or '2001:db8:1::/48'), "
                         "not a single address")
    try:
        net = ipaddress.ip_network(raw, strict=False)
    except ValueError as exc:
        raise ValueError(f"not a network prefix: {exc}") from None
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        raise ValueError("use the IPv4 prefix for IPv4-mapped addresses")
    bits = NETWORK_BITS[net.version]
    if net.prefixlen != bits:
        raise ValueError(f"network lists match /{NETWORK_BITS[4]} (IPv4) and /{NETWORK_BITS[6]} "
                         f"(IPv6) prefixes; got /{net.prefixlen}")
    return f"{net.version}:{net.network_address}/{bits}"


def _limit(request: Request, default: int = 50, maximum: int = MAX_LIMIT) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise _BadRequest("limit must be an integer") from None
    if not 1 <= n <= maximum:
        raise _BadRequest(f"limit must be between 1 and {maximum}")
    return n


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise _BadRequest(f"request body too large (at most {MAX_BODY} bytes)")
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise _BadRequest("request body must be JSON") from None
    if not isinstance(data, dict):
        raise _BadRequest("request body must be a JSON object")
    return data


def _reason_counts(items: list[dict[str, Any]], top: int = 5) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    for item in items:
        for r in item.get("reasons", ())[:3]:
            counts[r["name"]] += 1
    return [{"name": n, "count": c} for n, c in counts.most_common(top)]


def _budget(name: str, res: Any, capacity: float) -> dict[str, Any]:
    return {
        "name": name, "limit": capacity, "remaining": round(res.remaining, 3),
        "reset_after": round(res.reset_after, 3), "retry_after": round(res.retry_after, 3),
        "allowed": res.allowed,
    }


class _Admin:
    def __init__(self, guard: Guard, token: bytes) -> None:
        self.guard = guard
        self.token = token
        files = resources.files("antidistill.reporting") / "dashboard"
        self.index = (files / "index.html").read_bytes()
        self.static = {name: (files / name).read_bytes() for name in _STATIC}

    # -- plumbing ---------------------------------------------------------------------
    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        # Constant-time comparison; compare_digest also handles unequal lengths safely.
        return hmac.compare_digest(value.strip().encode("utf-8", "surrogateescape"), self.token)

    def api(self, fn: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not self.authorized(request):
                return _error(401, "unauthorized",
                              "missing or wrong admin token: send 'Authorization: Bearer "
                              "<ANTIDISTILL_ADMIN_TOKEN>'",
                              {"www-authenticate": 'Bearer realm="antidistill"'})
            try:
                return await fn(request)
            except _BadRequest as exc:
                return _error(400, "invalid_request", str(exc))
            except _NotFound as exc:
                return _error(404, "not_found", str(exc))
            except StorageError as exc:
                return _error(503, "store_unavailable",
                              f"the shared store is unavailable ({type(exc).__name__}); "
                              "nothing was changed")

        endpoint.__name__ = fn.__name__
        return endpoint

    def now(self) -> float:
        return self.guard.clock()

    # -- pages --------------------------------------------------------------------------
    async def dashboard(self, request: Request) -> Response:
        if not request.url.path.endswith("/"):
            # Relative URLs in the page resolve against the mount point only with the slash.
            return RedirectResponse(request.url.path + "/", status_code=307)
        return Response(self.index, media_type="text/html; charset=utf-8", headers={
            "cache-control": "no-cache", "content-security-policy": _CSP, **_SECURITY_HEADERS})

    async def static_file(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        return Response(self.static[name], media_type=_STATIC[name],
                        headers={"cache-control": "no-cache", **_SECURITY_HEADERS})

    async def openapi(self, request: Request) -> Response:
        return _json(openapi_document())

    # -- read side ------------------------------------------------------------------------
    async def summary(self, request: Request) -> Response:
        g = self.guard
        store: Any = g.store
        degraded = getattr(store, "degraded", None)
        store_info: dict[str, Any] = {
            "backend": type(store).__name__,
            "degraded": bool(degraded) if degraded is not None else None,
        }
        for attr in ("errors", "fallbacks", "trips"):
            if isinstance(getattr(store, attr, None), int):
                store_info[attr] = getattr(store, attr)
        recent = list(g.recent.events)[-20:]
        recent.reverse()
        return _json({
            "mode": g.mode,
            "now": self.now(),
            "actions": [a.value for a in Action],
            "totals": {a.value: g.counters.get(a.value, 0) for a in Action},
            "counters": dict(g.counters),
            "timeline": g.timeline.series(),
            "top_reasons": [{"name": n, "count": c} for n, c in g.recent.reasons.most_common(20)],
            "store": store_info,
            "hook_errors": dict(g.hooks.errors),
            "recent": recent,
        })

    async def identities(self, request: Request) -> Response:
        g = self.guard
        limit = _limit(request)
        ranked = await g.store.top_identities(limit, self.now())
        out = []
        for entry in ranked:
            items = g.recent.for_identity(entry.id)
            last = items[-1] if items else None
            out.append({
                "id": entry.id, "risk": round(entry.risk, 4), "last_seen": entry.last_seen,
                "recent": len(items),
                "last_action": last["action"] if last else None,
                "cluster": last["cluster"] if last else None,
                "reasons": _reason_counts(items, 3),
            })
        return _json({"identities": out})

    async def identity(self, request: Request) -> Response:
        g = self.guard
        ident = request.path_params["identity"]
        now = self.now()
        state = await g.store.identity_state(ident, now)
        items = g.recent.for_identity(ident)
        if state is None and not items:
            raise _NotFound("no state for this identity (unknown or expired)")
        # The same buckets the guard charges, sized as last resolved for this identity on
        # this instance (a per-plan budget from the budget resolver included).
        budgets = g.budgets.budgets_of(ident)
        specs = g.budgets.bucket_specs(ident, budgets, 1.0, peek=True)
        rq, tk = await g.store.buckets(specs, now)
        listed = []
        for name in IDENTITY_LISTS:
            if ident in await g.store.list_members(name, MAX_LIST_LIMIT):
                listed.append(name)
        return _json({
            "id": ident,
            "state": None if state is None else {
                "first_seen": state.first_seen, "last_seen": state.last_seen,
                "requests": state.requests, "risk": round(state.risk, 4),
                "cluster": state.cluster, "values": dict(state.values),
                "fields": {k: round(v, 6) for k, v in state.fields.items()},
            },
            "plan": budgets.plan or None,
            "budgets": [_budget("requests", rq, specs[0].capacity),
                        _budget("tokens", tk, specs[1].capacity)],
            "lists": listed,
            "reasons": _reason_counts(items),
            "recent": list(reversed(items)),
        })

    async def clusters(self, request: Request) -> Response:
        g = self.guard
        limit = _limit(request)
        now = self.now()
        ranked = await g.store.top_clusters(limit, now)
        states = await asyncio.gather(*(g.store.cluster_state(c.id, now) for c in ranked))
        out = []
        for entry, st in zip(ranked, states, strict=True):
            reasons = g.recent.cluster_reasons.get(entry.id, Counter())
            out.append({
                "id": entry.id, "risk": round(entry.risk, 4), "last_seen": entry.last_seen,
                "members": st.members if st is not None else None,
                "first_seen": st.first_seen if st is not None else None,
                "reasons": [{"name": n, "count": c} for n, c in reasons.most_common(5)],
            })
        return _json({"clusters": out})

    async def cluster(self, request: Request) -> Response:
        g = self.guard
        cid = request.path_params["cluster"]
        now = self.now()
        st = await g.store.cluster_state(cid, now)
        reasons = g.recent.cluster_reasons.get(cid)
        if st is None and reasons is None:
            raise _NotFound("no state for this cluster (unknown or expired)")
        (ct,) = g.budgets.bucket_specs("", g.budgets.default, 1.0, cid, peek=True)[2:]
        (ct_state,) = await g.store.buckets([ct], now)
        recent = [e for e in reversed(g.recent.events) if e.get("cluster") == cid]
        members = list(dict.fromkeys(e["identity"] for e in recent))
        return _json({
            "id": cid,
            "state": None if st is None else {
                "risk": round(st.risk, 4), "members": st.members,
                "first_seen": st.first_seen, "last_seen": st.last_seen,
            },
            "budgets": [_budget("cluster_tokens", ct_state, ct.capacity)],
            "reasons": [{"name": n, "count": c} for n, c in (reasons or Counter()).most_common()],
            "recent_identities": members[:RECENT_LIMIT],
            "recent": recent[:RECENT_LIMIT],
        })

    # -- lists -----------------------------------------------------------------------------
    async def lists(self, request: Request) -> Response:
        store = self.guard.store
        counts = await asyncio.gather(*(store.list_members(n, MAX_LIST_LIMIT)
                                        for n in LIST_NAMES))
        return _json({"lists": [{"name": n, "count": len(m)}
                                for n, m in zip(LIST_NAMES, counts, strict=True)]})

    def _list_name(self, request: Request) -> str:
        name = str(request.path_params["name"])
        if name not in LIST_NAMES:
            raise _NotFound(f"unknown list {name!r}; choose from {', '.join(LIST_NAMES)}")
        return name

    async def list_get(self, request: Request) -> Response:
        name = self._list_name(request)
        members = await self.guard.store.list_members(
            name, _limit(request, MAX_LIST_LIMIT, MAX_LIST_LIMIT))
        return _json({"name": name, "members": members, "count": len(members)})

    async def list_add(self, request: Request) -> Response:
        name = self._list_name(request)
        data = await _body(request)
        ttl = data.get("ttl")
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
                raise _BadRequest("ttl must be a number of seconds or null")
            if not 0 < ttl <= MAX_TTL:
                raise _BadRequest(f"ttl must be between 0 and {MAX_TTL:.0f} seconds")
            ttl = float(ttl)
        try:
            member = normalize_member(name, data.get("member"))
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        await self.guard.store.list_add(name, member, ttl)
        return _json({"name": name, "member": member, "ttl": ttl}, 201)

    async def list_remove(self, request: Request) -> Response:
        name = self._list_name(request)
        raw = request.query_params.get("member")
        if raw is None:
            raw = (await _body(request)).get("member")
        try:
            member = normalize_member(name, raw)
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        await self.guard.store.list_remove(name, member)
        return _json({"name": name, "member": member, "removed": True})

    # -- mode --------------------------------------------------------------------------------
    async def mode_get(self, request: Request) -> Response:
        # Another instance (or operator) may have switched it: read it through.
        await self.guard.refresh_mode(self.now())
        return _json({"mode": self.guard.mode})

    async def mode_put(self, request: Request) -> Response:
        mode = (await _body(request)).get("mode")
        if mode not in ("monitor", "enforce"):
            raise _BadRequest("mode must be 'monitor' or 'enforce'")
        await self.guard.set_mode(mode)
        return _json({"mode": self.guard.mode})

    def routes(self) -> list[Route]:
        api = self.api
        return [
            Route("/", self.dashboard, methods=["GET"]),
            Route("/dashboard.js", self.static_file, methods=["GET"]),
            Route("/dashboard.css", self.static_file, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/api/summary", api(self.summary), methods=["GET"]),
            Route("/api/identities", api(self.identities), methods=["GET"]),
            Route("/api/identities/{identity}", api(self.identity), methods=["GET"]),
            Route("/api/clusters", api(self.clusters), methods=["GET"]),
            Route("/api/clusters/{cluster}", api(self.cluster), methods=["GET"]),
            Route("/api/lists", api(self.lists), methods=["GET"]),
            Route("/api/lists/{name}", api(self.list_get), methods=["GET"]),
            Route("/api/lists/{name}", api(self.list_add), methods=["POST"]),
            Route("/api/lists/{name}", api(self.list_remove), methods=["DELETE"]),
            Route("/api/mode", api(self.mode_get), methods=["GET"]),
            Route("/api/mode", api(self.mode_put), methods=["PUT"]),
        ]


async def _disabled(request: Request) -> Response:
    return _error(404, "admin_disabled",
                  "the antidistill admin API is disabled: set ANTIDISTILL_ADMIN_TOKEN "
                  "to a long random value to enable it")


def create_admin_app(guard: Guard) -> Starlette:
    """The admin ASGI app (JSON API, OpenAPI document and dashboard) for ``guard``."""
    secret = guard.settings.admin_token
    token = secret.get_secret_value() if secret is not None else ""
    if not token:
        return Starlette(routes=[Route(
            "/{path:path}", _disabled,
            methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])])
    admin = _Admin(guard, token.encode("utf-8", "surrogateescape"))
    return Starlette(routes=admin.routes())


# -- OpenAPI 3.1 ---------------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: str, description: str = "OK", status: str = "200") -> dict[str, Any]:
    return {status: {"description": description,
                     "content": {"application/json": {"schema": _ref(schema)}}}}


_ERRORS: dict[str, Any] = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "503": {"$ref": "#/components/responses/StoreUnavailable"},
}
_LIMIT_PARAM = {"name": "limit", "in": "query", "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}}
_LIST_PARAM = {"name": "name", "in": "path", "required": True,
               "schema": {"type": "string", "enum": list(LIST_NAMES)}}
_NUM = {"type": "number"}
_NUM_NULL = {"type": ["number", "null"]}
_STR_NULL = {"type": ["string", "null"]}
_REASON_COUNT = {"type": "object", "required": ["name", "count"],
                 "properties": {"name": {"type": "string"}, "count": {"type": "integer"}}}
_BUDGET = {"type": "object", "properties": {
    "name": {"type": "string"}, "limit": _NUM, "remaining": _NUM, "reset_after": _NUM_NULL,
    "retry_after": _NUM_NULL, "allowed": {"type": "boolean"}}}
_DECISION = {"type": "object", "description": "A recent non-allow decision (Decision.as_dict "
             "plus its time).", "properties": {
                 "ts": _NUM, "action": {"type": "string", "enum": [a.value for a in Action]},
                 "enforced": {"type": "boolean"}, "score": _NUM, "identity": {"type": "string"},
                 "cluster": _STR_NULL, "reasons": {"type": "array", "items": {"type": "object"}},
                 "budgets": {"type": "array", "items": _BUDGET}},
             "additionalProperties": True}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the admin API (paths relative to the mount point)."""
    read = "Needs the admin bearer token."
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "antidistill admin API",
            "version": "1",
            "description": "Read detection state, manage allow/deny/watch lists and switch "
                           "monitor/enforce mode. Paths are relative to where the admin app "
                           "is mounted (e.g. /antidistill). Ids are pseudonymised.",
        },
        "servers": [{"url": "."}],
        "security": [{"bearer": []}],
        "paths": {
            "/": {"get": {
                "summary": "The live dashboard (HTML; asks for the token in the page).",
                "security": [],
                "responses": {"200": {"description": "HTML page",
                                      "content": {"text/html": {}}}}}},
            "/dashboard.js": {"get": {
                "summary": "Dashboard script.", "security": [],
                "responses": {"200": {"description": "JavaScript",
                                      "content": {"text/javascript": {}}}}}},
            "/dashboard.css": {"get": {
                "summary": "Dashboard style sheet.", "security": [],
                "responses": {"200": {"description": "CSS", "content": {"text/css": {}}}}}},
            "/openapi.json": {"get": {
                "summary": "This document.", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1",
                                      "content": {"application/json": {}}}}}},
            "/api/summary": {"get": {
                "summary": "Mode, action totals, per-minute action timeline, top reasons, "
                           "store health and recent flagged decisions.",
                "description": read, "operationId": "getSummary",
                "responses": {**_ok("Summary"), **_ERRORS}}},
            "/api/identities": {"get": {
                "summary": "Identities by decayed risk, with their recent reasons.",
                "operationId": "listIdentities", "parameters": [_LIMIT_PARAM],
                "responses": {**_ok("IdentityList"), "400": {"$ref":
                              "#/components/responses/BadRequest"}, **_ERRORS}}},
            "/api/identities/{identity}": {"get": {
                "summary": "One identity: state, budgets (peeked), list membership, recent "
                           "decisions.",
                "operationId": "getIdentity",
                "parameters": [{"name": "identity", "in": "path", "required": True,
                                "schema": {"type": "string"},
                                "description": "pseudonymised id, e.g. key:3f9a..."}],
                "responses": {**_ok("IdentityDetail"),
                              "404": {"$ref": "#/components/responses/NotFound"}, **_ERRORS}}},
            "/api/clusters": {"get": {
                "summary": "Clusters by decayed risk, with member counts and top reasons.",
                "operationId": "listClusters", "parameters": [_LIMIT_PARAM],
                "responses": {**_ok("ClusterList"), "400": {"$ref":
                              "#/components/responses/BadRequest"}, **_ERRORS}}},
            "/api/clusters/{cluster}": {"get": {
                "summary": "One cluster: state, shared token budget, reasons, recent members.",
                "operationId": "getCluster",
                "parameters": [{"name": "cluster", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {**_ok("ClusterDetail"),
                              "404": {"$ref": "#/components/responses/NotFound"}, **_ERRORS}}},
            "/api/lists": {"get": {
                "summary": "Every list name with its member count.",
                "operationId": "listLists",
                "responses": {**_ok("ListIndex"), **_ERRORS}}},
            "/api/lists/{name}": {
                "parameters": [_LIST_PARAM],
                "get": {
                    "summary": "Members of one list.", "operationId": "getList",
                    "parameters": [{**_LIMIT_PARAM, "schema": {
                        "type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT}}],
                    "responses": {**_ok("ListMembers"),
                                  "404": {"$ref": "#/components/responses/NotFound"},
                                  **_ERRORS}},
                "post": {
                    "summary": "Add a member (pseudonymised id, fingerprint or prefix; raw "
                               "API keys and IP addresses are refused).",
                    "operationId": "addListMember",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": _ref("ListAdd")}}},
                    "responses": {**_ok("ListChange", "Added", "201"),
                                  "400": {"$ref": "#/components/responses/BadRequest"},
                                  "404": {"$ref": "#/components/responses/NotFound"},
                                  **_ERRORS}},
                "delete": {
                    "summary": "Remove a member (query parameter, or a JSON body "
                               "{\"member\": ...}).",
                    "operationId": "removeListMember",
                    "parameters": [{"name": "member", "in": "query", "required": False,
                                    "schema": {"type": "string"}}],
                    "responses": {**_ok("ListChange", "Removed"),
                                  "400": {"$ref": "#/components/responses/BadRequest"},
                                  "404": {"$ref": "#/components/responses/NotFound"},
                                  **_ERRORS}},
            },
            "/api/mode": {
                "get": {"summary": "The run-time mode.", "operationId": "getMode",
                        "responses": {**_ok("Mode"), **_ERRORS}},
                "put": {"summary": "Switch monitor/enforce on every instance (persisted).",
                        "operationId": "setMode",
                        "requestBody": {"required": True, "content": {"application/json": {
                            "schema": _ref("Mode")}}},
                        "responses": {**_ok("Mode"),
                                      "400": {"$ref": "#/components/responses/BadRequest"},
                                      **_ERRORS}},
            },
        },
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "The value of ANTIDISTILL_ADMIN_TOKEN."}},
            "responses": {
                "Unauthorized": {"description": "Missing or wrong token.",
                                 "content": {"application/json": {"schema": _ref("Error")}}},
                "BadRequest": {"description": "Invalid parameter or body.",
                               "content": {"application/json": {"schema": _ref("Error")}}},
                "NotFound": {"description": "Unknown list, identity or cluster.",
                             "content": {"application/json": {"schema": _ref("Error")}}},
                "StoreUnavailable": {"description": "The shared store is down.",
                                     "content": {"application/json": {
                                         "schema": _ref("Error")}}},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}}}}},
                "Summary": {"type": "object", "required": ["mode", "totals", "timeline"],
                            "properties": {
                    "mode": {"type": "string", "enum": ["monitor", "enforce"]},
                    "now": _NUM,
                    "actions": {"type": "array", "items": {"type": "string"}},
                    "totals": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "counters": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "timeline": {"type": "array", "items": {
                        "type": "object", "description": "t (minute start, epoch seconds) and "
                        "one count per action", "properties": {"t": _NUM},
                        "additionalProperties": {"type": "integer"}}},
                    "top_reasons": {"type": "array", "items": _REASON_COUNT},
                    "store": {"type": "object", "properties": {
                        "backend": {"type": "string"}, "degraded": {"type": ["boolean", "null"]},
                        "errors": {"type": "integer"}, "fallbacks": {"type": "integer"},
                        "trips": {"type": "integer"}}},
                    "hook_errors": {"type": "object",
                                    "additionalProperties": {"type": "integer"}},
                    "recent": {"type": "array", "items": _DECISION}}},
                "IdentityList": {"type": "object", "properties": {"identities": {
                    "type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "risk": _NUM, "last_seen": _NUM,
                        "recent": {"type": "integer"}, "last_action": _STR_NULL,
                        "cluster": _STR_NULL,
                        "reasons": {"type": "array", "items": _REASON_COUNT}}}}}},
                "IdentityDetail": {"type": "object", "properties": {
                    "id": {"type": "string"},
                    "state": {"type": ["object", "null"], "properties": {
                        "first_seen": _NUM, "last_seen": _NUM, "requests": {"type": "integer"},
                        "risk": _NUM, "cluster": _STR_NULL, "values": {"type": "object"},
                        "fields": {"type": "object"}}},
                    "budgets": {"type": "array", "items": _BUDGET},
                    "lists": {"type": "array", "items": {"type": "string"}},
                    "reasons": {"type": "array", "items": _REASON_COUNT},
                    "recent": {"type": "array", "items": _DECISION}}},
                "ClusterList": {"type": "object", "properties": {"clusters": {
                    "type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "risk": _NUM, "last_seen": _NUM,
                        "members": {"type": ["integer", "null"]}, "first_seen": _NUM_NULL,
                        "reasons": {"type": "array", "items": _REASON_COUNT}}}}}},
                "ClusterDetail": {"type": "object", "properties": {
                    "id": {"type": "string"},
                    "state": {"type": ["object", "null"]},
                    "budgets": {"type": "array", "items": _BUDGET},
                    "reasons": {"type": "array", "items": _REASON_COUNT},
                    "recent_identities": {"type": "array", "items": {"type": "string"}},
                    "recent": {"type": "array", "items": _DECISION}}},
                "ListIndex": {"type": "object", "properties": {"lists": {
                    "type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string", "enum": list(LIST_NAMES)},
                        "count": {"type": "integer"}}}}}},
                "ListMembers": {"type": "object", "properties": {
                    "name": {"type": "string"}, "count": {"type": "integer"},
                    "members": {"type": "array", "items": {"type": "string"}}}},
                "ListAdd": {"type": "object", "required": ["member"], "properties": {
                    "member": {"type": "string", "maxLength": 200},
                    "ttl": {"type": ["number", "null"], "exclusiveMinimum": 0,
                            "maximum": MAX_TTL, "description": "seconds; null = no expiry"}}},
                "ListChange": {"type": "object", "properties": {
                    "name": {"type": "string"}, "member": {"type": "string"},
                    "ttl": _NUM_NULL, "removed": {"type": "boolean"}}},
                "Mode": {"type": "object", "required": ["mode"], "properties": {
                    "mode": {"type": "string", "enum": ["monitor", "enforce"]}}},
            },
        },
    }
