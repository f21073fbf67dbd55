"""Is the peer really a trusted proxy, after the ASGI server's own proxy-header handling?

uvicorn (``--proxy-headers``, on by default, for peers in ``--forwarded-allow-ips``, default
``127.0.0.1``), gunicorn's ``forwarded_allow_ips`` with uvicorn workers and hypercorn's
``ProxyFixMiddleware`` replace ``scope["client"]`` with an address taken from
``X-Forwarded-For``/``Forwarded`` before the middleware runs. The address the guard then sees
was written by whoever sent the header: a loopback client that sends
``X-Forwarded-For: <a trusted proxy's address>`` would pass for that proxy, and its account
header would be believed.

The rewrite leaves a trace: the new client address is one of the forwarding header's own
entries, which a real TCP peer never is (a proxy appends the address of *its* peer, not its
own). So a peer whose address appears among those entries is not trusted for the account
header or the edge headers. Limits: a client can make its own request look rewritten by
naming the proxy in the header it sends (it then loses the account attribution and is
identified by key or IP, never by another account); and a server that rewrites the client
from a header this check does not read cannot be detected. Run the server without its own
proxy handling (``uvicorn --no-proxy-headers``, or ``--forwarded-allow-ips=''``) when
``ANTIDISTILL_TRUSTED_PROXIES`` is set: antidistill then sees the real peer and walks the
forwarding headers itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from antidistill.identity.client_ip import TrustedProxies, forwarding_hosts

__all__ = ["peer_trusted", "server_rewrote_client"]


def server_rewrote_client(client: Any, headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """True when ``scope["client"]`` looks taken from the forwarding headers (see module)."""
    if not client:
        return False
    host = client[0]
    if not isinstance(host, str):
        return False
    return host in forwarding_hosts(headers)


def peer_trusted(scope: Mapping[str, Any], proxies: TrustedProxies) -> bool:
    """Whether the request's peer is a trusted proxy whose headers (account, JA4, bot score,
    forwarding) may be believed: in ``proxies`` and not an address the ASGI server copied
    from a forwarding header."""
    client = scope.get("client")
    if not client or not proxies:
        return False
    peer = client[0]
    if not isinstance(peer, str) or not proxies.contains(peer):
        return False
    return not server_rewrote_client(client, scope.get("headers") or [])
