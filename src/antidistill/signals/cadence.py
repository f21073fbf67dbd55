"""Volume and cadence of one identity, against its own history.

State is a handful of floats per identity (stored as identity ``fields``):

* ``gm``/``gv``: EWMA of the inter-arrival gap and of its square -> coefficient of variation;
  machine-timed clients are far more regular than people (counted for young identities only).
* ``rf``/``rs``: exponentially decayed request rates with a fast (1 h) and slow (3 d) time
  constant. A sudden jump of the fast rate far above the slow one, for an identity with
  history, is a *shift from its own baseline* -- the one behavioural feature that survives on
  real data (Parallax). A heavy but steady customer has ``rf ~ rs`` and scores nothing.
* ``hm``/``hp``/``hd``: bit masks of active hours (UTC) for the current and previous day, to
  see round-the-clock activity.

Every score here is weak on purpose: batch jobs are regular and run all night too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from antidistill.decision import Signal

FAST_TAU = 3600.0
SLOW_TAU = 3 * 86400.0
GAP_ALPHA = 0.1
YOUNG = 86400.0  # identities younger than this have no baseline of their own yet


def update_fields(
    fields: Mapping[str, float], last_seen: float, now: float, requests: int
) -> dict[str, float]:
    """The identity's cadence state after this request."""
    out = dict(fields)
    gap = max(0.0, now - last_seen) if requests > 0 else None
    if gap is not None:
        if requests == 1:
            out["gm"], out["gv"] = gap, 0.0
        else:
            gm, gv = fields.get("gm", gap), fields.get("gv", 0.0)
            d = gap - gm
            gm += GAP_ALPHA * d
            gv = (1 - GAP_ALPHA) * (gv + GAP_ALPHA * d * d)
            out["gm"], out["gv"] = gm, gv
    dt = max(0.0, now - last_seen) if requests > 0 else 0.0
    out["rf"] = fields.get("rf", 0.0) * math.exp(-dt / FAST_TAU) + 1.0 / FAST_TAU
    out["rs"] = fields.get("rs", 0.0) * math.exp(-dt / SLOW_TAU) + 1.0 / SLOW_TAU
    day = math.floor(now / 86400.0)
    hour = int((now % 86400.0) // 3600.0)
    if fields.get("hd", day) != day:
        out["hp"] = fields.get("hm", 0.0) if fields.get("hd", day) == day - 1 else 0.0
        out["hm"] = 0.0
    out["hd"] = float(day)
    out["hm"] = float(int(out.get("hm", 0.0)) | (1 << hour))
    return out


def cadence_signals(
    fields: Mapping[str, float], requests: int, age: float
) -> list[Signal]:
    """Signals from the state *after* ``update_fields`` for this request."""
    out: list[Signal] = []
    # Machine timing is evidence only for young identities: an established heavy app is
    # regular *for itself* (its own baseline), and that is normal.
    if requests >= 20 and age < YOUNG and fields.get("gm", 0.0) > 0:
        cv = math.sqrt(max(fields.get("gv", 0.0), 0.0)) / fields["gm"]
        if cv < 0.25:
            out.append(Signal("cadence", min(1.0, (0.25 - cv) / 0.2),
                              f"inter-arrival CV {cv:.2f} over {requests} requests"))
    hours = bin(int(fields.get("hm", 0.0))).count("1") + bin(int(fields.get("hp", 0.0))).count("1")
    if hours >= 40:
        out.append(Signal("cadence", 0.3, f"active in {hours} of the last 48 hours"))
    rf, rs = fields.get("rf", 0.0), fields.get("rs", 0.0)
    if age >= 2 * 86400.0 and rs > 0:
        fast_per_h, slow_per_h = rf * 3600.0, rs * 3600.0
        ratio = fast_per_h / max(slow_per_h, 0.5)
        if fast_per_h >= 30 and ratio >= 8:
            score = min(1.0, math.log(ratio / 8) / math.log(8) + 0.3)
            out.append(Signal("shift", score,
                              f"{fast_per_h:.0f} req/h now vs {slow_per_h:.1f} req/h baseline"))
    return out
