"""Import another checkout's antidistill under another name, to time it in the same run.

A benchmark that compares this code with an older commit is only fair when both are timed
interleaved in one process (a shared machine drifts more than the differences measured). Two
versions of one package cannot be imported under one name, so the other checkout's
``src/antidistill`` is copied to a temporary directory as ``antidistill_baseline`` with its
own imports renamed, and imported from there. Nothing here imports antidistill.
"""

from __future__ import annotations

import atexit
import importlib
import re
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

NAME = "antidistill_baseline"
# "antidistill." in dotted names and "import antidistill" / "from antidistill import":
# every way the package names its own modules (imports and importlib.resources strings).
_OWN = re.compile(r"\bantidistill(?=\.[A-Za-z_])|(?<=import )antidistill\b|"
                  r"(?<=from )antidistill(?= import)")


def _package_dir(src: Path) -> Path:
    for candidate in (src / "antidistill", src / "src" / "antidistill"):
        if (candidate / "__init__.py").is_file():
            return candidate
    raise FileNotFoundError(f"no antidistill package under {src} (give a checkout or its src/)")


def load_baseline(src: str | Path) -> ModuleType:
    """The package of the checkout at ``src`` (a repository or its ``src/``), importable as
    ``antidistill_baseline`` (and its submodules) for the rest of the process."""
    if NAME in sys.modules:
        return sys.modules[NAME]
    origin = _package_dir(Path(src).resolve())
    root = Path(tempfile.mkdtemp(prefix="antidistill-baseline-"))
    atexit.register(shutil.rmtree, root, True)
    target = root / NAME
    shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in target.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        renamed = _OWN.sub(NAME, text)
        if renamed != text:
            path.write_text(renamed, encoding="utf-8")
    sys.path.insert(0, str(root))
    return importlib.import_module(NAME)
