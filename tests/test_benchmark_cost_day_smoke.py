"""Smoke test of ``benchmarks/cost_day.py`` at ``--quick`` size, as a subprocess.

Checks that the realistic day runs through both lanes, that every acceptance line of issue
#15 is printed, and that the JSON holds what the README quotes: added µs overall and per
cohort, body sizes, and per Redis lane the client CPU and the store traffic (the hot path in
two round trips on standalone Redis, a few arguments per script call).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "cost_day.py"
LINES = [
    r"^(PASS|FAIL): realistic day, memory://, defaults: mean added -?\d+ µs \(target <= 120 µs\)$",
    r"^(PASS|FAIL): realistic day, memory://, defaults: p99 added -?\d+ µs \(target <= 1000 µs\)$",
    r"^(PASS|FAIL): Redis on loopback: client CPU -?[\d.]+ ms/request \(target <= 0.6 ms\)$",
    r"^(PASS|FAIL): Redis on loopback: hot-path round trips p99 \d+ \(max \d+\) on served "
    r"requests, mean [\d.]+ over all, \d+ on a budget-refused one \(target <= 2\)$",
    r"^(PASS|FAIL): Redis Cluster on loopback: client CPU -?[\d.]+ ms/request "
    r"\(target <= 0.8 ms\)$",
]


@pytest.mark.redis
@pytest.mark.redis_cluster
def test_cost_day_quick(tmp_path: Path) -> None:
    out = tmp_path / "cost_day.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=str(ROOT),
                          encoding="utf-8")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    for line in LINES:
        assert re.search(line, proc.stdout, re.M), (line, proc.stdout[-3000:])
    assert "NOT MEASURED" not in proc.stdout
    res = json.loads(out.read_text(encoding="utf-8"))

    mem = res["memory"]
    overall = mem["added_us"]["all"]
    assert overall["n"] == mem["measured"] > 300
    assert mem["requests"] > mem["measured"]  # yesterday's history was driven too
    cohorts = set(mem["added_us"]) - {"all"}
    assert {"casual", "coding_agent", "hydra", "evasive_hydra"} <= cohorts
    assert sum(mem["added_us"][c]["n"] for c in cohorts) == overall["n"]
    assert 0 < mem["body_bytes"]["50"] <= mem["body_bytes"]["99"] <= mem["body_bytes"]["100"]
    assert mem["decisions"]["allow"] > 0

    redis = res["redis"]
    assert set(redis) == {"memory://", "Redis", "Redis Cluster"}
    for lane in redis.values():
        assert lane["cpu_added_us"]["n"] > 50
        assert lane["statuses"].get("200", 0) > 0.5 * lane["cpu_added_us"]["n"]
    wire = redis["Redis"]["wire"]
    assert wire["hot_sends_p50"] == 2  # observe + apply
    assert wire["hot_sends_max"] <= 3  # + a refund when a budget refuses
    assert 0 < wire["args_per_script_call"] < 20
    # the settlement and continuity's answer records ride with the next request's round
    # trip (storage/deferred.py): nothing is written after the decision, about 2 in all
    assert wire["after_sends_mean"] < 0.1
    assert wire["store_round_trips_mean"] < 2.3
    cluster = redis["Redis Cluster"]["wire"]
    assert cluster["store_round_trips_mean"] == pytest.approx(
        wire["store_round_trips_mean"], abs=0.2)  # in parallel per node: same round trips
