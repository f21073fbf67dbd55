"""Indicator sharing: turn confirmed campaigns into indicators, export, import as lists.

A deployment's decision events (schema ``antidistill.decision/1``) name the cluster each
request belongs to and carry its fingerprints. :func:`collect_indicators` keeps the clusters
that are confirmed campaigns and gathers the fingerprints their members share; the result is
exported as a STIX 2.1 bundle (:func:`to_stix_bundle`) or JSON lines (:func:`to_jsonl`),
loaded back with :func:`load_indicators`, and put on another deployment's ``watch:*`` (or
``deny:*``) lists with :func:`import_indicators`. A request matching a ``watch:*`` list gets
the ``shared_indicator`` signal.

Indicator kinds and what matches where:

=========  ==========================================  ======================================
kind       value                                       matches at
=========  ==========================================  ======================================
template   ``pt1:`` + 16 hex (prompt skeleton hash)    any deployment (unkeyed hash)
segment    ``pg2:`` + 16 hex (prompt segment hash)     exported for the record; no list yet
client     ``cf1:`` + 16 hex (client-stack hash)       any deployment
ja4        JA4 TLS fingerprint                         any deployment behind a JA4 edge
asn        autonomous-system number                    any deployment with an ASN database
network    ``4:a.b.c.0/24`` / ``6:x:y:z::/48`` prefix  any deployment
account    pseudonym (``key:``/``acct:``/``ip:`` + 20  the SAME provider only: pseudonyms are
           hex)                                        keyed by each deployment's secret
=========  ==========================================  ======================================

Privacy: an :class:`Indicator` refuses any value that is not in one of these formats, so raw
prompt text, API keys and client addresses (networks must be /24 or wider, /64 for IPv6)
cannot be exported, whatever the events contain.

STIX has no property for these fingerprints, so patterns use custom object paths
(``[x-antidistill-prompt:template_fingerprint = 'pt1:...']``,
``[x-antidistill-client:client_fingerprint = 'cf1:...']``, ``[x-antidistill-client:ja4 = ...]``)
next to the standard ``autonomous-system``, ``ipv4-addr``/``ipv6-addr`` and ``user-account``
objects. Each indicator also carries ``x_antidistill_kind`` / ``x_antidistill_value``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from antidistill.decision import Action
from antidistill.lists import MAX_ASN, MEMBER_FORMATS

logger = logging.getLogger("antidistill")

SCHEMA = "antidistill.indicator/1"
EVENT_SCHEMA = "antidistill.decision/1"
KINDS = ("template", "segment", "client", "ja4", "asn", "network", "account")
# Kind -> the list-name suffix the guard checks (``antidistill.lists``); segments have none.
LIST_OF_KIND: dict[str, str | None] = {
    "template": "template",
    "segment": None,
    "client": "client",
    "ja4": "ja4",
    "asn": "asn",
    "network": "network",
    "account": "identity",
}
DEFAULT_TTL = 30 * 86400.0

_FORMATS: dict[str, re.Pattern[str]] = {
    "template": MEMBER_FORMATS["template"],
    # pg1 (6-word windows, prompt fingerprint version 1) still reads as a record.
    "segment": MEMBER_FORMATS["segment"],
    "client": MEMBER_FORMATS["client"],
    "ja4": MEMBER_FORMATS["ja4"],
    "asn": MEMBER_FORMATS["asn"],
    "account": MEMBER_FORMATS["identity"],
}
_NETWORK = re.compile(r"([46]):([0-9a-f.:]{2,45})/([0-9]{1,3})")
_CLUSTER = re.compile(r"cl:[a-z0-9]{1,8}:[0-9a-f]{4,64}")
# Widest-allowed prefix lengths: anything narrower could single out one client address.
_MAX_V4_BITS = 24
_MAX_V6_BITS = 64


def _check_network(value: str) -> bool:
    m = _NETWORK.fullmatch(value)
    if m is None:
        return False
    try:
        net = ipaddress.ip_network(f"{m[2]}/{m[3]}", strict=True)
    except ValueError:
        return False
    if str(net.version) != m[1]:
        return False
    limit = _MAX_V4_BITS if net.version == 4 else _MAX_V6_BITS
    # Canonical text only, so one network is one list member everywhere.
    return net.prefixlen <= limit and str(net) == f"{m[2]}/{m[3]}"


def valid_value(kind: str, value: str) -> bool:
    """True when ``value`` is a well-formed fingerprint of ``kind`` (never raw data)."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    if kind == "network":
        return _check_network(value)
    pattern = _FORMATS.get(kind)
    if pattern is None or pattern.fullmatch(value) is None:
        return False
    return kind != "asn" or int(value) <= MAX_ASN


@dataclass(frozen=True, slots=True)
class Indicator:
    """One shareable fingerprint of a confirmed campaign.

    ``first_seen``/``last_seen`` are epoch seconds; ``identities`` counts the campaign's
    distinct identities that carried the value; ``campaign`` is the producer's cluster id;
    ``confidence`` is 0-100 (the STIX scale). Construction raises ``ValueError`` for a value
    that is not a fingerprint of its kind: that check is what keeps raw data out of exports.
    """

    kind: str
    value: str
    first_seen: float
    last_seen: float
    identities: int
    campaign: str
    confidence: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown indicator kind {self.kind!r}")
        if not valid_value(self.kind, self.value):
            # Never echo the value: it may be exactly the raw data this check keeps out.
            raise ValueError(f"{self.kind} indicator value is not a {self.kind} fingerprint")
        if _CLUSTER.fullmatch(self.campaign) is None:
            raise ValueError("campaign must be an antidistill cluster id (cl:...)")
        if not 0 <= self.confidence <= 100:
            raise ValueError("confidence must be within 0..100")
        if self.identities < 0 or self.last_seen < self.first_seen:
            raise ValueError("identities must be >= 0 and last_seen >= first_seen")

    @property
    def list_suffix(self) -> str | None:
        """The guard's list-name suffix for this kind (``None``: no list checks it)."""
        return LIST_OF_KIND[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Indicator:
        return cls(
            kind=str(data["kind"]), value=str(data["value"]),
            first_seen=float(data["first_seen"]), last_seen=float(data["last_seen"]),
            identities=int(data["identities"]), campaign=str(data["campaign"]),
            confidence=int(data["confidence"]),
        )


# -- collection -----------------------------------------------------------------------------
_SEVERITY = {a.value: a.severity for a in Action}
_CLUSTER_REASONS = ("fanout", "cluster")


@dataclass(slots=True)
class _Seen:
    """Per fingerprint: each identity's (allow events, other events, first ts, last ts)."""

    by_identity: dict[str, list[float]] = field(default_factory=dict)

    def add(self, identity: str, allow: bool, ts: float) -> None:
        row = self.by_identity.get(identity)
        if row is None:
            self.by_identity[identity] = [1.0 if allow else 0.0, 0.0 if allow else 1.0, ts, ts]
            return
        row[0 if allow else 1] += 1.0
        row[2] = min(row[2], ts)
        row[3] = max(row[3], ts)


@dataclass(slots=True)
class _Cluster:
    identities: set[str] = field(default_factory=set)
    flagged: set[str] = field(default_factory=set)
    max_severity: int = 0
    strong_reason: bool = False


def _event_fingerprints(event: dict[str, Any]) -> Iterator[tuple[str, str]]:
    fp = event.get("fingerprints")
    if isinstance(fp, dict):
        if isinstance(fp.get("template"), str):
            yield "template", fp["template"]
        segs = fp.get("segments")
        if isinstance(segs, list):
            for seg in segs[:8]:
                if isinstance(seg, str):
                    yield "segment", seg
        if isinstance(fp.get("client"), str):
            yield "client", fp["client"]
        if isinstance(fp.get("ja4"), str):
            yield "ja4", fp["ja4"]
    net = event.get("network")
    if isinstance(net, dict):
        if isinstance(net.get("prefix"), str) and net["prefix"]:
            yield "network", net["prefix"]
        asn = net.get("asn")
        if isinstance(asn, int) and not isinstance(asn, bool):
            yield "asn", str(asn)


def _confidence(members: int, purity: float, min_identities: int, severity: int) -> int:
    # More members and a purer fingerprint mean more confidence; a campaign that reached
    # block is surer than one that only reached throttle.
    spread = 1.0 - float(0.5 ** (members / max(1, min_identities)))
    action = 1.0 if severity >= Action.BLOCK.severity else 0.85
    return max(1, min(100, round(100 * purity * spread * action)))


def collect_indicators(
    events: Iterable[dict[str, Any]],
    *,
    min_identities: int = 5,
    min_action: str = "throttle",
    min_purity: float = 0.8,
    min_flagged_share: float = 0.5,
    reason_score: float = 0.8,
    allow_sample_rate: float = 0.01,
    include_accounts: bool = True,
) -> list[Indicator]:
    """Indicators of the confirmed campaigns found in decision ``events``.

    A cluster is a confirmed campaign when it has at least ``min_identities`` distinct
    identities, at least ``min_flagged_share`` of them had a decision of ``flag`` or more,
    and one decision reached ``min_action`` or carried a ``fanout``/``cluster`` reason
    scoring ``reason_score`` or more.

    A fingerprint (template, segment, client, ja4, network, asn) becomes an indicator of a
    campaign when at least ``min_identities`` of its members carried it and its users are
    mostly suspect: requests from campaign members and from identities flagged at least once
    must be at least ``min_purity`` of all requests carrying it, and the same for distinct
    identities; identities only ever allowed count as honest users. Allow events are sampled
    by the guard (``event_sample_allow``), so allow events count ``1 / allow_sample_rate``
    each; the default assumes the guard's default of 1%, which errs towards dropping a
    fingerprint (a popular SDK's client stack is never exported). Pass the real rate.

    ``include_accounts`` adds the flagged members' pseudonyms (``account`` indicators; they
    only mean something to the producer and its partners' records).
    """
    if min_action not in _SEVERITY:
        raise ValueError(f"min_action must be one of {sorted(_SEVERITY)}")
    if not 0.0 < allow_sample_rate <= 1.0:
        raise ValueError("allow_sample_rate must be within (0, 1]")
    clusters, seen = _tally(events, reason_score)
    need = _SEVERITY[min_action]
    confirmed = {
        cid: c for cid, c in clusters.items()
        if len(c.identities) >= min_identities
        and len(c.flagged) >= min_flagged_share * len(c.identities)
        and (c.max_severity >= need or c.strong_reason)
    }
    out = _fingerprint_indicators(seen, confirmed, min_identities, min_purity,
                                  1.0 / allow_sample_rate)
    if include_accounts:
        out.extend(_account_indicators(confirmed, seen, min_identities))
    out.sort(key=lambda i: (i.campaign, KINDS.index(i.kind), -i.identities, i.value))
    return out


def _valid_event(event: Any) -> tuple[str, str, float] | None:
    """``(identity, action, ts)`` of a well-formed decision event, else None."""
    if not isinstance(event, dict) or event.get("schema", EVENT_SCHEMA) != EVENT_SCHEMA:
        return None
    identity, ts, action = event.get("identity"), event.get("ts"), event.get("action")
    if not isinstance(identity, str) or not identity or action not in _SEVERITY:
        return None
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return None
    return identity, str(action), float(ts)


def _strong_reason(event: dict[str, Any], reason_score: float) -> bool:
    return any(isinstance(r, dict) and r.get("name") in _CLUSTER_REASONS
               and isinstance(r.get("score"), (int, float)) and r["score"] >= reason_score
               for r in event.get("reasons") or ())


def _tally(
    events: Iterable[dict[str, Any]], reason_score: float,
) -> tuple[dict[str, _Cluster], dict[tuple[str, str], _Seen]]:
    """Clusters with their members, and every fingerprint with the identities that sent it."""
    flag = Action.FLAG.severity
    clusters: dict[str, _Cluster] = {}
    seen: dict[tuple[str, str], _Seen] = {}
    for event in events:
        valid = _valid_event(event)
        if valid is None:
            continue
        identity, action, ts = valid
        severity = _SEVERITY[action]
        cid = event.get("cluster")
        if isinstance(cid, str) and _CLUSTER.fullmatch(cid):
            c = clusters.get(cid)
            if c is None:
                c = clusters[cid] = _Cluster()
            c.identities.add(identity)
            if severity >= flag:
                c.flagged.add(identity)
                c.strong_reason = c.strong_reason or _strong_reason(event, reason_score)
            c.max_severity = max(c.max_severity, severity)
        allow = action == Action.ALLOW.value
        for key in _event_fingerprints(event):
            s = seen.get(key)
            if s is None:
                s = seen[key] = _Seen()
            s.add(identity, allow, ts)
    return clusters, seen


def _fingerprint_indicators(
    seen: dict[tuple[str, str], _Seen], confirmed: dict[str, _Cluster], min_identities: int,
    min_purity: float, allow_weight: float,
) -> list[Indicator]:
    member_of: dict[str, str] = {}
    # An identity in two confirmed clusters counts for the larger (ties: the smaller id).
    for cid in sorted(confirmed, key=lambda k: (len(confirmed[k].identities), k)):
        for ident in confirmed[cid].identities:
            member_of[ident] = cid
    out: list[Indicator] = []
    for (kind, value), s in seen.items():
        if not valid_value(kind, value):
            continue
        per_cluster, purity = _purity(s, member_of, allow_weight)
        if not per_cluster or purity < min_purity:
            continue
        for cid, idents in per_cluster.items():
            if len(idents) < min_identities:
                continue
            rows = [s.by_identity[i] for i in idents]
            out.append(Indicator(
                kind, value, first_seen=min(r[2] for r in rows),
                last_seen=max(r[3] for r in rows), identities=len(idents), campaign=cid,
                confidence=_confidence(len(idents), purity, min_identities,
                                       confirmed[cid].max_severity),
            ))
    return out


def _purity(
    s: _Seen, member_of: dict[str, str], allow_weight: float,
) -> tuple[dict[str, list[str]], float]:
    """The fingerprint's users per confirmed campaign, and the suspect share of its use."""
    bad_req = honest_req = 0.0
    bad = honest = 0
    per_cluster: dict[str, list[str]] = {}
    for ident, (n_allow, n_other, _, _) in s.by_identity.items():
        weight = n_allow * allow_weight + n_other
        cid = member_of.get(ident)
        if cid is not None:
            per_cluster.setdefault(cid, []).append(ident)
        # Flagged identities outside the cluster are campaign stragglers (accounts that
        # were stopped before the cluster formed), not honest evidence.
        if cid is not None or n_other > 0:
            bad_req += weight
            bad += 1
        else:
            honest_req += weight
            honest += 1
    if not per_cluster:
        return per_cluster, 0.0
    return per_cluster, min(bad_req / (bad_req + honest_req), bad / (bad + honest))


def _account_indicators(
    confirmed: dict[str, _Cluster], seen: dict[tuple[str, str], _Seen], min_identities: int
) -> Iterator[Indicator]:
    # Times per identity come from any fingerprint row (every inspected event has some).
    times: dict[str, tuple[float, float]] = {}
    for s in seen.values():
        for ident, row in s.by_identity.items():
            t = times.get(ident)
            times[ident] = (row[2], row[3]) if t is None else (min(t[0], row[2]),
                                                              max(t[1], row[3]))
    for cid, c in confirmed.items():
        conf = _confidence(len(c.identities), 1.0, min_identities, c.max_severity)
        # Only members that were themselves flagged: membership alone may be a neighbour's.
        for ident in sorted(c.flagged):
            if not valid_value("account", ident) or ident not in times:
                continue
            first, last = times[ident]
            yield Indicator("account", ident, first, last, 1, cid, conf)


def read_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Decision events from JSON lines; a logging prefix before the ``{`` is ignored."""
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            obj = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj


# -- STIX 2.1 -------------------------------------------------------------------------------
_NS = uuid.UUID("2f0c6c1e-4d0b-5c47-9a8e-6e7469646973")


def _stix_time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def stix_pattern(ind: Indicator) -> str:
    """The STIX pattern for one indicator (values are format-checked, so need no escaping)."""
    v = ind.value
    if ind.kind == "template":
        return f"[x-antidistill-prompt:template_fingerprint = '{v}']"
    if ind.kind == "segment":
        return f"[x-antidistill-prompt:segment_fingerprint = '{v}']"
    if ind.kind == "client":
        return f"[x-antidistill-client:client_fingerprint = '{v}']"
    if ind.kind == "ja4":
        return f"[x-antidistill-client:ja4 = '{v}']"
    if ind.kind == "asn":
        return f"[autonomous-system:number = {int(v)}]"
    if ind.kind == "network":
        family, cidr = v.split(":", 1)
        return f"[ipv{family}-addr:value ISSUBSET '{cidr}']"
    return f"[user-account:user_id = '{v}']"


_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("template", re.compile(r"\[x-antidistill-prompt:template_fingerprint = '([^']*)'\]")),
    ("segment", re.compile(r"\[x-antidistill-prompt:segment_fingerprint = '([^']*)'\]")),
    ("client", re.compile(r"\[x-antidistill-client:client_fingerprint = '([^']*)'\]")),
    ("ja4", re.compile(r"\[x-antidistill-client:ja4 = '([^']*)'\]")),
    ("asn", re.compile(r"\[autonomous-system:number = ([0-9]{1,10})\]")),
    ("network", re.compile(r"\[ipv([46])-addr:value ISSUBSET '([^']*)'\]")),
    ("account", re.compile(r"\[user-account:user_id = '([^']*)'\]")),
)


def _from_pattern(pattern: str) -> tuple[str, str] | None:
    for kind, rx in _PATTERNS:
        m = rx.fullmatch(pattern.strip())
        if m is not None:
            return (kind, f"{m[1]}:{m[2]}") if kind == "network" else (kind, m[1])
    return None


def to_stix_bundle(indicators: Sequence[Indicator], *, producer: str) -> str:
    """A STIX 2.1 bundle: the producer identity, one ``campaign`` per cluster, one
    ``indicator`` per item and an ``indicates`` relationship from each to its campaign.

    Ids are UUIDv5 of the producer and the content, so re-exports of the same campaign
    keep their ids and partners can de-duplicate.
    """
    import stix2

    def sid(kind: str, *parts: str) -> str:
        return f"{kind}--{uuid.uuid5(_NS, chr(0).join((producer, kind, *parts)))}"

    ident = stix2.Identity(id=sid("identity"), name=producer, identity_class="organization")
    objects: list[Any] = [ident]
    campaigns: dict[str, Any] = {}
    for cid in sorted({i.campaign for i in indicators}):
        mine = [i for i in indicators if i.campaign == cid]
        first = min(i.first_seen for i in mine)
        last = max(i.last_seen for i in mine)
        size = max((i.identities for i in mine if i.kind != "account"), default=0)
        campaigns[cid] = stix2.Campaign(
            id=sid("campaign", cid), created_by_ref=ident.id,
            name=f"antidistill cluster {cid}",
            description=(f"Distillation campaign detected by antidistill: cluster {cid}, "
                         f"at least {size} identities sharing the indicated fingerprints."),
            first_seen=_stix_time(first), last_seen=_stix_time(last),
            allow_custom=True, x_antidistill_cluster=cid,
        )
        objects.append(campaigns[cid])
    for ind in indicators:
        camp = campaigns[ind.campaign]
        note = (" The value is a pseudonym keyed by the producer's secret: it matches only "
                "at the producer." if ind.kind == "account" else "")
        obj = stix2.Indicator(
            id=sid("indicator", ind.kind, ind.value, ind.campaign), created_by_ref=ident.id,
            name=f"antidistill {ind.kind} {ind.value}",
            description=(f"{ind.kind} fingerprint shared by {ind.identities} identities of "
                         f"campaign {ind.campaign}.{note}"),
            indicator_types=["malicious-activity"], pattern=stix_pattern(ind),
            pattern_type="stix", valid_from=_stix_time(ind.first_seen),
            valid_until=_stix_time(ind.last_seen + DEFAULT_TTL), confidence=ind.confidence,
            allow_custom=True, x_antidistill_kind=ind.kind, x_antidistill_value=ind.value,
            x_antidistill_identities=ind.identities,
            x_antidistill_first_seen=ind.first_seen, x_antidistill_last_seen=ind.last_seen,
        )
        objects.append(obj)
        objects.append(stix2.Relationship(
            id=sid("relationship", obj.id, camp.id), created_by_ref=ident.id,
            relationship_type="indicates", source_ref=obj.id, target_ref=camp.id,
        ))
    bundle = stix2.Bundle(objects=objects, allow_custom=True)
    # stix2's own pretty printer is quadratic in the bundle size; indent it with json.
    return json.dumps(json.loads(bundle.serialize()), indent=2) + "\n"


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    text = str(value).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def _from_stix(bundle: dict[str, Any]) -> Iterator[Indicator]:
    objs = [o for o in bundle.get("objects") or () if isinstance(o, dict)]
    campaign_of_obj = {o["id"]: o.get("x_antidistill_cluster") for o in objs
                       if o.get("type") == "campaign" and "id" in o}
    campaign_of_ind: dict[str, str] = {}
    for o in objs:
        if o.get("type") == "relationship" and o.get("relationship_type") == "indicates":
            cid = campaign_of_obj.get(o.get("target_ref", ""))
            if isinstance(cid, str):
                campaign_of_ind[o.get("source_ref", "")] = cid
    for o in objs:
        if o.get("type") != "indicator":
            continue
        kind, value = o.get("x_antidistill_kind"), o.get("x_antidistill_value")
        if not (isinstance(kind, str) and isinstance(value, str)):
            parsed = _from_pattern(str(o.get("pattern", "")))
            if parsed is None:
                continue
            kind, value = parsed
        first = o.get("x_antidistill_first_seen", o.get("valid_from"))
        last = o.get("x_antidistill_last_seen", first)
        yield Indicator(
            kind, value, first_seen=_epoch(first), last_seen=_epoch(last),
            identities=int(o.get("x_antidistill_identities", 0)),
            campaign=campaign_of_ind.get(o.get("id", ""), "cl:ext:0000"),
            confidence=int(o.get("confidence", 50)),
        )


# -- JSON lines -----------------------------------------------------------------------------
def to_jsonl(indicators: Iterable[Indicator]) -> str:
    """One JSON object per indicator (schema ``antidistill.indicator/1``)."""
    return "".join(json.dumps(i.as_dict(), sort_keys=True) + "\n" for i in indicators)


def parse_indicators(text: str) -> list[Indicator]:
    """Indicators from a STIX bundle or JSON lines (told apart by content).

    Items whose value is not a fingerprint of its kind are dropped (and counted in a
    warning), so a partner's feed cannot plant raw data or junk in the lists.
    """
    body = text.strip()
    first = body.split("\n", 1)[0].strip()
    bundle: Any = None
    try:
        head = json.loads(first) if first else None
    except ValueError:
        head = None
    if isinstance(head, dict) and head.get("type") != "bundle":
        rows: Iterable[Any] = (_loads(line) for line in body.splitlines() if line.strip())
    else:
        bundle = head if isinstance(head, dict) else _loads(body)
        if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
            raise ValueError("neither antidistill JSON lines nor a STIX 2.1 bundle")
        rows = ()
    out: list[Indicator] = []
    bad = 0
    items: Iterable[Any] = _safe_stix(bundle) if bundle is not None else rows
    for row in items:
        if isinstance(row, Indicator):
            out.append(row)
            continue
        try:
            if not isinstance(row, dict) or row.get("schema", SCHEMA) != SCHEMA:
                raise ValueError("not an indicator")
            out.append(Indicator.from_dict(row))
        except (KeyError, TypeError, ValueError):
            bad += 1
    if bad:
        logger.warning("antidistill: skipped %d malformed or non-fingerprint indicators", bad)
    return out


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _safe_stix(bundle: dict[str, Any]) -> Iterator[Indicator | None]:
    it = _from_stix(bundle)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except (KeyError, TypeError, ValueError):
            yield None  # counted as malformed by the caller


def load_indicators(path: str | Path) -> list[Indicator]:
    """Read a STIX bundle or JSON-lines file written by :func:`to_stix_bundle` /
    :func:`to_jsonl` (or another producer using the same patterns)."""
    return parse_indicators(Path(path).read_text(encoding="utf-8"))


# -- import ---------------------------------------------------------------------------------
def plan_import(
    indicators: Iterable[Indicator], *, as_list: Literal["watch", "deny"] = "watch"
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """The ``(list name, member)`` pairs to add, de-duplicated, and skipped counts by kind."""
    if as_list not in ("watch", "deny"):
        raise ValueError("as_list must be 'watch' or 'deny'")
    pairs: dict[tuple[str, str], None] = {}
    skipped: dict[str, int] = {}
    for ind in indicators:
        suffix = ind.list_suffix
        if suffix is None:
            skipped[ind.kind] = skipped.get(ind.kind, 0) + 1
            continue
        pairs[(f"{as_list}:{suffix}", ind.value)] = None
    return list(pairs), skipped


async def import_indicators(
    store: Any,
    indicators: Iterable[Indicator],
    *,
    as_list: Literal["watch", "deny"] = "watch",
    ttl: float | None = DEFAULT_TTL,
) -> int:
    """Add the indicators to the store's lists; returns how many list entries were added.

    ``template`` goes to ``watch:template`` (or ``deny:template``), ``client`` to
    ``watch:client``, ``ja4``, ``asn`` and ``network`` likewise, ``account`` to
    ``watch:identity``. ``segment`` indicators have no list and are skipped (see
    :func:`plan_import` for the counts). ``ttl`` is in seconds (``None``: for good).
    """
    pairs, skipped = plan_import(indicators, as_list=as_list)
    for name, member in pairs:
        await store.list_add(name, member, ttl)
    if skipped:
        logger.info("antidistill: imported %d indicators; skipped (no list) %s", len(pairs),
                    ", ".join(f"{k} x{n}" for k, n in sorted(skipped.items())))
    return len(pairs)
