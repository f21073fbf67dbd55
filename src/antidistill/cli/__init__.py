"""antidistill command line: demo (a simulated day), replay, intel, proxy and pseudonym.

The terminal output uses rich, which the middleware itself never imports: it comes with the
cli extra (pip install 'antidistill[cli]').
"""

# The docstring is the --help text: plain words, no reST markup.

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    if importlib.util.find_spec("rich") is None:
        print("antidistill: the command line needs the 'cli' extra: "
              "pip install 'antidistill[cli]'", file=sys.stderr)
        return 2
    from antidistill import pseudonym
    from antidistill.cli import demo, intel, replay
    from antidistill.proxy import cli as proxy

    parser = argparse.ArgumentParser(prog="antidistill", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    modules: dict[str, Any] = {"demo": demo, "replay": replay, "intel": intel, "proxy": proxy,
                               "pseudonym": pseudonym}
    for module in modules.values():
        module.add_subcommands(sub)
    args = parser.parse_args(argv)
    status: int = modules[args.command].run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
