"""Header rules of the reverse proxy: hop-by-hop headers dropped, forwarding headers added.

Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection, not the message, so they
are never forwarded in either direction; neither is any header the ``Connection`` header names.
``Host`` is left out of the upstream request, so the client library sets it to the upstream's
own host and port (what a model server behind a virtual host expects).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Headers = Sequence[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
    b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
# Set by us below; what the client sent under these names is replaced or extended.
_REQUEST_OWN = frozenset({b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})
# Answered by the server in front of us (``100 Continue``); the upstream gets the whole body.
_REQUEST_DROP = frozenset({b"expect"})


def _connection_named(headers: Headers) -> frozenset[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(part.strip().lower() for part in value.split(b",") if part.strip())
    return frozenset(named)


def end_to_end(headers: Headers) -> list[tuple[bytes, bytes]]:
    """``headers`` without hop-by-hop headers and without the headers ``Connection`` names."""
    drop = HOP_BY_HOP | _connection_named(headers)
    return [(name, value) for name, value in headers if name.lower() not in drop]


def upstream_request_headers(
    headers: Headers, *, client: str | None, scheme: str
) -> list[tuple[bytes, bytes]]:
    """Headers for the upstream request.

    ``X-Forwarded-For`` gets the peer's address appended to what the client sent (as nginx's
    ``$proxy_add_x_forwarded_for`` does: only the last entry is ours to vouch for);
    ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` are replaced by what this proxy received.
    """
    out: list[tuple[bytes, bytes]] = []
    chain: list[bytes] = []
    host = b""
    for name, value in end_to_end(headers):
        lname = name.lower()
        if lname in _REQUEST_DROP:
            continue
        if lname not in _REQUEST_OWN:
            out.append((name, value))
        elif lname == b"x-forwarded-for":
            chain.append(value.strip())
        elif lname == b"host":
            host = value
    if client:
        chain.append(client.encode("latin-1"))
    if chain:
        out.append((b"x-forwarded-for", b", ".join(v for v in chain if v)))
    out.append((b"x-forwarded-proto", scheme.encode("latin-1")))
    if host:
        out.append((b"x-forwarded-host", host))
    return out


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers to pass on (status and everything end-to-end,
    ``Content-Encoding`` and ``Content-Length`` included: the body is relayed as received)."""
    return end_to_end(list(headers))


def header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case), or None."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
