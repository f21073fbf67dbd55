"""``antidistill pseudonym``: the pseudonymised id of a raw API key, account id or IP address.

Deny lists, the admin API and events only ever hold pseudonyms (``key:3f9a...``), the keyed
hash the middleware computes with ``ANTIDISTILL_SECRET``. This prints the same value for a raw
key read from **stdin** (never argv: arguments end up in shell history and ``ps``)::

    printf '%s' "$RAW_KEY" | ANTIDISTILL_SECRET=... antidistill pseudonym --kind key
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: ``--kind`` -> the pseudonym's prefix (the kinds the guard computes).
KINDS = {"key": "key", "account": "acct", "ip": "ip"}
MAX_KEY_CHARS = 512  # the middleware reads at most this much of a key


def add_subcommands(subparsers: Any) -> None:
    """Register ``pseudonym`` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "pseudonym", help="print the pseudonymised id of a raw key, account or IP read from stdin",
        description="Reads one value per line from stdin and prints its pseudonym (needs "
                    "ANTIDISTILL_SECRET, the same secret the middleware uses).")
    p.add_argument("--kind", choices=sorted(KINDS), default="key",
                   help="what the values are (default: key)")


def pseudonym(kind: str, value: str, secret: str) -> str:
    """The id the middleware gives ``value`` (an ``Authorization: Bearer`` prefix is removed)."""
    from antidistill.identity.resolve import Pseudonymizer

    text = value.strip()
    if kind == "key":
        scheme, _, token = text.partition(" ")
        if scheme.lower() in ("bearer", "token") and token.strip():
            text = token.strip()
        text = text[:MAX_KEY_CHARS]
    elif kind == "account":
        text = text[:256]
    return Pseudonymizer(secret.encode())(KINDS[kind], text)


def run(args: argparse.Namespace) -> int:
    """Run ``pseudonym``: one pseudonym per non-empty stdin line."""
    from antidistill.settings import Settings

    settings = Settings()
    if settings.secret is None:
        print("antidistill pseudonym: ANTIDISTILL_SECRET is not set; without the middleware's "
              "secret the pseudonym would not match", file=sys.stderr)
        return 2
    secret = settings.secret.get_secret_value()
    found = False
    for line in sys.stdin:
        if line.strip():
            print(pseudonym(args.kind, line, secret))
            found = True
    if not found:
        print("antidistill pseudonym: no value on stdin", file=sys.stderr)
        return 2
    return 0
