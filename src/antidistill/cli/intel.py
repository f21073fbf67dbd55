"""``antidistill intel export|import``: share campaign indicators (see
:mod:`antidistill.intel`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from antidistill.decision import Action
from antidistill.intel import (
    collect_indicators,
    import_indicators,
    load_indicators,
    plan_import,
    read_events,
    to_jsonl,
    to_stix_bundle,
)


def add_subcommands(subparsers: Any) -> None:
    """Register ``intel export`` and ``intel import`` on an argparse subparsers object."""
    intel = subparsers.add_parser("intel", help="export/import campaign indicators (STIX)")
    sub = intel.add_subparsers(dest="intel_command", required=True)
    exp = sub.add_parser("export", help="indicators of confirmed campaigns from decision events")
    exp.add_argument("--events", required=True, metavar="EVENTS.jsonl",
                     help="decision events, one JSON object per line ('-' for stdin)")
    exp.add_argument("--format", choices=("stix", "jsonl"), default="stix")
    exp.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    exp.add_argument("--min-identities", type=int, default=5)
    exp.add_argument("--min-action", choices=[a.value for a in Action], default="throttle")
    exp.add_argument("--allow-sample-rate", type=float, default=0.01,
                     help="the guard's event_sample_allow when the events were written")
    exp.add_argument("--producer", default="antidistill deployment",
                     help="producer name for the STIX identity object")
    exp.add_argument("--no-accounts", action="store_true",
                     help="leave out account pseudonyms (they only match at the producer)")
    imp = sub.add_parser("import", help="put indicators on the watch or deny lists")
    imp.add_argument("file", metavar="FILE", help="STIX bundle or JSON lines")
    imp.add_argument("--as", dest="as_list", choices=("watch", "deny"), default="watch")
    imp.add_argument("--storage-uri", help="default: ANTIDISTILL_STORAGE_URI")
    imp.add_argument("--ttl-days", type=float, default=30.0, help="0 keeps them for good")


def _open_events(path: str) -> IO[str]:
    if path == "-":
        return sys.stdin
    return open(path, encoding="utf-8", errors="replace")


def run(args: argparse.Namespace) -> int:
    """Run ``intel export`` / ``intel import`` from parsed arguments."""
    if args.intel_command == "export":
        return _export(args)
    if args.intel_command == "import":
        return asyncio.run(_import(args))
    return 2


def _export(args: argparse.Namespace) -> int:
    src = _open_events(args.events)
    try:
        indicators = collect_indicators(
            read_events(src), min_identities=args.min_identities, min_action=args.min_action,
            allow_sample_rate=args.allow_sample_rate, include_accounts=not args.no_accounts,
        )
    finally:
        if src is not sys.stdin:
            src.close()
    text = (to_stix_bundle(indicators, producer=args.producer) if args.format == "stix"
            else to_jsonl(indicators))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    campaigns = len({i.campaign for i in indicators})
    print(f"exported {len(indicators)} indicators of {campaigns} campaigns", file=sys.stderr)
    return 0


async def _import(args: argparse.Namespace) -> int:
    from antidistill.settings import Settings
    from antidistill.storage import storage_from_uri

    settings = Settings()
    uri = args.storage_uri or settings.storage_uri
    indicators = load_indicators(args.file)
    if uri.startswith("memory"):
        print("note: memory:// lists live in this process only and vanish when it exits; "
              "point --storage-uri (or ANTIDISTILL_STORAGE_URI) at the deployment's Redis",
              file=sys.stderr)
    store = storage_from_uri(uri, prefix=settings.storage_prefix)
    try:
        ttl = args.ttl_days * 86400.0 if args.ttl_days > 0 else None
        added = await import_indicators(store, indicators, as_list=args.as_list, ttl=ttl)
    finally:
        await store.close()
    _, skipped = plan_import(indicators, as_list=args.as_list)
    extra = "".join(f", skipped {n} {k} (no list)" for k, n in sorted(skipped.items()))
    print(f"imported {added} list entries as {args.as_list}:* from {len(indicators)} "
          f"indicators{extra}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m antidistill.cli.intel export|import ...`` (same as ``antidistill intel``)."""
    parser = argparse.ArgumentParser(prog="antidistill")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["intel", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
