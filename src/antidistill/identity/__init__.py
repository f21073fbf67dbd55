"""Who is calling: API-key pseudonyms, the real client IP behind trusted proxies, accounts."""

from __future__ import annotations

from antidistill.identity.client_ip import TrustedProxies, client_ip
from antidistill.identity.resolve import Identity, Pseudonymizer, extract_api_key

__all__ = ["Identity", "Pseudonymizer", "TrustedProxies", "client_ip", "extract_api_key"]
