"""The console the demo and replay reports print on."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

#: Width when the output is not a terminal: rich would otherwise assume 80 columns and cut the
#: report's tables (``antidistill demo | tee report.txt``).
PIPE_WIDTH = 200


def report_console(file: TextIO | None = None) -> Any:
    """A rich ``Console`` that keeps the terminal's width on a TTY and uses ``PIPE_WIDTH``
    columns (or ``$COLUMNS``) when piped."""
    from rich.console import Console

    out = file if file is not None else sys.stdout
    if out.isatty():
        return Console(file=file)
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH
    return Console(file=file, width=width)
