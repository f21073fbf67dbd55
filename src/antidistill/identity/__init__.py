"""Who is calling: API-key pseudonyms, the real client IP behind trusted proxies, accounts."""

from __future__ import annotations

from antidistill.identity.client_ip import TrustedProxies, client_ip
from antidistill.identity.peer import peer_trusted, server_rewrote_client
from antidistill.identity.resolve import (
    IDENTITY_MISMATCH,
    Identity,
    KeyResult,
    Pseudonymizer,
    cache_token,
    extract_api_key,
    resolve_api_key,
)

__all__ = [
    "IDENTITY_MISMATCH",
    "Identity",
    "KeyResult",
    "Pseudonymizer",
    "TrustedProxies",
    "cache_token",
    "client_ip",
    "extract_api_key",
    "peer_trusted",
    "resolve_api_key",
    "server_rewrote_client",
]
