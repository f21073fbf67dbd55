"""``antidistill`` command line: ``demo`` (a simulated day), ``replay`` and ``intel``.

The terminal output uses ``rich``, which the middleware itself never imports: it comes with
the ``cli`` extra (``pip install 'antidistill[cli]'``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

COMMANDS = ("demo", "replay", "intel")


def main(argv: Sequence[str] | None = None) -> int:
    if importlib.util.find_spec("rich") is None:
        print("antidistill: the command line needs the 'cli' extra: "
              "pip install 'antidistill[cli]'", file=sys.stderr)
        return 2
    from antidistill.cli import demo, intel, replay

    parser = argparse.ArgumentParser(prog="antidistill", description=(
        "antidistill: detect and stop model distillation. Commands: demo (a simulated day), "
        "replay (a recorded request log), intel (campaign indicators)."))
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {"demo": demo, "replay": replay, "intel": intel}
    for module in modules.values():
        module.add_subcommands(sub)
    args = parser.parse_args(argv)
    status: int = modules[args.command].run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
