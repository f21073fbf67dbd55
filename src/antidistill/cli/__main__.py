"""``python -m antidistill.cli ...`` (same as ``antidistill ...``)."""

from __future__ import annotations

import sys

from antidistill.cli import main

sys.exit(main())
