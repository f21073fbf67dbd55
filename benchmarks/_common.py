"""Helpers shared by the benchmarks: environment banner, statistics, tables, ports.

Nothing here imports antidistill, so a benchmark can print its banner before importing
the code it measures.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import socket
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

MICRO = "\u00b5s"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; ``values`` need not be sorted."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return float(data[lo] + (data[hi] - data[lo]) * (pos - lo))


def median(values: Iterable[float]) -> float:
    data = list(values)
    return float(statistics.median(data)) if data else math.nan


@dataclass(frozen=True)
class Stats:
    """Summary of one sample of durations (same unit as the input)."""

    n: int
    median: float
    p99: float
    mean: float
    minimum: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(values: Sequence[float]) -> Stats:
    if not values:
        return Stats(0, math.nan, math.nan, math.nan, math.nan)
    return Stats(len(values), median(values), percentile(values, 99),
                 statistics.fmean(values), float(min(values)))


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """(slope, intercept) of the ordinary least-squares line through the points."""
    n = len(xs)
    if n < 2:
        return math.nan, math.nan
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return math.nan, my
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, my - slope * mx


def rotated(items: Sequence[str], round_no: int) -> list[str]:
    """``items`` started at a different position each round, so no variant always runs
    right after the same neighbour (cache and allocator state carry over between them)."""
    if not items:
        return []
    k = round_no % len(items)
    return list(items[k:]) + list(items[:k])


def package_versions(names: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def environment(packages: Iterable[str]) -> dict[str, Any]:
    """What a reader needs to compare two runs of a benchmark."""
    affinity: int | None = None
    if hasattr(os, "sched_getaffinity"):
        affinity = len(os.sched_getaffinity(0))
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "packages": package_versions(packages),
    }


def print_environment(env: dict[str, Any]) -> None:
    print(f"Python {env['python']} ({env['implementation']}) on {env['platform']}")
    print(f"CPUs: {env['cpu_count']} (usable by this process: {env['cpus_usable']})")
    pkgs = env["packages"]
    print("Packages: " + ", ".join(f"{k} {v}" for k, v in pkgs.items()))


def fmt_us(value: float, digits: int = 1) -> str:
    """Microseconds, or milliseconds when large; ``-`` for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 10_000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.{digits}f} {MICRO}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                title: str | None = None) -> None:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        rest = zip(row[1:], widths[1:], strict=True)
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in rest]
        return "  ".join(parts).rstrip()

    if title:
        print()
        print(title)
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def write_json(path: str | None, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` (a benchmark's ``--json``), if one was given."""
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, default=str)
        print(f"wrote {path}")


def free_port() -> int:
    """A loopback TCP port that is free right now (a small race is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds used so far by process ``pid`` (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            raw = fh.read()
    except OSError:
        return None
    # the command name may contain spaces; fields resume after the closing parenthesis
    fields = raw[raw.rfind(")") + 2:].split()
    try:
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
    except (IndexError, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")
