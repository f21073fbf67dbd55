"""The operator's lists: their names and the format of their members, in one place.

A list is ``<verb>:<kind>``: ``allow``/``deny``/``watch`` of an ``identity``, or
``deny``/``watch`` of a ``template``, ``client``, ``ja4``, ``network`` or ``asn``. Members are
pseudonyms and fingerprints only (see :data:`MEMBER_FORMATS`): never a raw key or address.
The detectors check them, the admin API edits them, and shared indicators are imported into
them.
"""

from __future__ import annotations

import re

KINDS = ("identity", "template", "client", "ja4", "network", "asn")

#: Every list the guard consults, in display order.
LIST_NAMES = (
    "allow:identity", "deny:identity", "watch:identity",
    "deny:template", "watch:template",
    "deny:client", "watch:client",
    "deny:ja4", "watch:ja4",
    "deny:network", "watch:network",
    "deny:asn", "watch:asn",
)
IDENTITY_LISTS = ("deny:identity", "allow:identity", "watch:identity")

_HEX16 = "[0-9a-f]{16}"
#: Member formats per kind (``network`` is checked by code: canonical prefixes only).
MEMBER_FORMATS: dict[str, re.Pattern[str]] = {
    # The guard's own identity kinds: a keyed 80-bit hash.
    "identity": re.compile(r"(?:key|acct|ip):[0-9a-f]{20}"),
    # Versioned fingerprints: any version of the same scheme is a valid member.
    "template": re.compile("pt[0-9]{1,3}:" + _HEX16),
    "segment": re.compile("pg[0-9]{1,3}:" + _HEX16),
    "client": re.compile("cf[0-9]{1,3}:" + _HEX16),
    "ja4": re.compile(r"[tqd][0-9a-z]{9}_[0-9a-f]{12}_[0-9a-f]{12}"),
    "asn": re.compile(r"[1-9][0-9]{0,9}"),
}
#: Identities named by a custom identity resolver: ``<kind>:<id>``.
CUSTOM_IDENTITY = re.compile(r"[a-z][a-z0-9_]{0,15}:[A-Za-z0-9._\-]{1,128}")
OWN_IDENTITY_KINDS = ("key:", "acct:", "ip:")
#: Network prefix lengths the guard produces and network lists match.
NETWORK_BITS = {4: 24, 6: 48}
MAX_ASN = 4_294_967_295


def list_name(verb: str, kind: str) -> str:
    return f"{verb}:{kind}"
