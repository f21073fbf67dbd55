"""Indicator sharing: collection, STIX 2.1 / JSONL export, import, and the cross-provider test.

The key test runs two deployments with different ``ANTIDISTILL_SECRET``s and separate memory
stores. Deployment A sees a hydra campaign (templated reasoning-elicitation prompts wrapping
real GSM8K questions, one client stack, a proxy pool) among honest users sending real
Arena-Hard / awesome-chatgpt-prompts prompts; its events become indicators, B imports them
as watch lists, and B's first requests from the same campaign are flagged with
``shared_indicator`` while B's honest users are not.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2patterns.validator import run_validator  # type: ignore[import-untyped]

from antidistill import intel
from antidistill.cli import intel as intel_cli
from antidistill.decision import Action, Decision
from antidistill.demo.app import create_app
from antidistill.demo.simulate import (
    HYDRA_TEMPLATES,
    Clock,
    _hydra_stack,
    _openai_node,
    _openai_python,
    call_asgi,
)
from antidistill.guard import Guard
from antidistill.intel import Indicator
from antidistill.middleware import AntiDistillMiddleware
from antidistill.settings import Settings
from antidistill.storage import MemoryStore

DATA = Path(__file__).parent / "data" / "intent"
SECRET_A = "deployment-a-secret-0123456789abcdef"
SECRET_B = "deployment-b-secret-fedcba9876543210"
T0 = 1_780_000_000.0
PATH = "/v1/chat/completions"


def _jsonl(name: str, key: str) -> list[str]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line)[key] for line in f if line.strip()]


GSM8K = _jsonl("gsm8k_sample.jsonl", "question")
BENIGN = _jsonl("arena_hard_sample.jsonl", "prompt") + [
    p[:800] for p in _jsonl("awesome_chatgpt_sample.jsonl", "prompt")]


@dataclass
class Req:
    ts: float
    key: str
    ip: str
    headers: list[tuple[str, str]]
    body: dict[str, Any]
    hydra: bool


def hydra_requests(rng: random.Random, n_accounts: int, start: float, tag: str) -> list[Req]:
    """A hydra as in ``demo/simulate.py``: fresh accounts, a few templated requests each."""
    pool = [f"45.{130 + i // 10}.{(i * 7) % 256}." for i in range(4)]
    out = []
    for i in range(n_accounts):
        key = f"sk-{tag}-{i:05d}-{rng.getrandbits(48):012x}"
        ip = rng.choice(pool) + str(rng.randrange(2, 250))
        first = start + i * 50 + rng.uniform(0, 30)
        tmpl = HYDRA_TEMPLATES[i % 2]
        for j in range(rng.randint(3, 5)):
            body = {"model": "demo-model", "max_tokens": 4096, "temperature": 0.6,
                    "messages": [{"role": "user", "content": tmpl.format(q=rng.choice(GSM8K))}]}
            out.append(Req(first + j * rng.uniform(90, 300), key, ip, _hydra_stack(), body, True))
    return out


def benign_requests(rng: random.Random, n_accounts: int, start: float, span: float,
                    tag: str) -> list[Req]:
    out = []
    for i in range(n_accounts):
        key = f"sk-{tag}-{i:05d}-{rng.getrandbits(48):012x}"
        ip = f"{rng.choice([24, 68, 73, 86])}.{rng.randrange(256)}.{rng.randrange(256)}." \
             f"{rng.randrange(1, 255)}"
        stack = rng.choice((_openai_python, _openai_node))()
        for _ in range(rng.randint(1, 4)):
            body = {"model": "demo-model",
                    "messages": [{"role": "user", "content": rng.choice(BENIGN)}]}
            out.append(Req(start + rng.uniform(0, span), key, ip, stack, body, False))
    return out


@dataclass
class Deployment:
    guard: Guard
    app: AntiDistillMiddleware
    clock: Clock
    events: list[dict[str, Any]] = field(default_factory=list)
    last: dict[str, Decision] = field(default_factory=dict)

    async def send(self, r: Req, n: int) -> Decision:
        self.clock.now = r.ts
        headers = [(k, f"Bearer {r.key}" if k == "authorization" else v) for k, v in r.headers]
        self.last.clear()
        await call_asgi(self.app, "POST", PATH, headers, json.dumps(r.body).encode(),
                        (r.ip, 40000 + n))
        return self.last["d"]


def deployment(secret: str) -> Deployment:
    clock = Clock(T0)
    settings = Settings(secret=secret, events=False, event_sample_allow=1.0, max_delay=0.0)
    guard = Guard(settings, clock=clock, store=MemoryStore(warn_workers=False),
                  load_env_hooks=False)
    dep = Deployment(guard, AntiDistillMiddleware(create_app(), guard=guard), clock)
    guard.event_sink(dep.events.append)

    @guard.on_decision
    def capture(ctx: Any, decision: Decision) -> None:
        dep.last["d"] = decision

    return dep


async def run_traffic(dep: Deployment, reqs: list[Req]) -> list[tuple[Req, Decision]]:
    return [(r, await dep.send(r, n)) for n, r in enumerate(sorted(reqs, key=lambda r: r.ts))]


@pytest.fixture(scope="module")
def campaign_a() -> Iterator[tuple[list[Req], list[dict[str, Any]]]]:
    """Deployment A's traffic and decision events (60 hydra accounts, 40 honest ones).

    The hydra starts three hours after A's first request: fan-out ignores content first
    seen in a deployment's first hours (its age is unknown), see ``signals/fanout.py``.
    """
    import asyncio

    rng = random.Random(11)
    reqs = hydra_requests(rng, 60, T0 + 3 * 3600, "hyA") + benign_requests(
        rng, 40, T0, 6 * 3600, "benA")
    dep = deployment(SECRET_A)
    asyncio.run(run_traffic(dep, reqs))
    yield reqs, dep.events


@pytest.fixture(scope="module")
def indicators(campaign_a: tuple[list[Req], list[dict[str, Any]]]) -> list[Indicator]:
    return intel.collect_indicators(campaign_a[1], allow_sample_rate=1.0)


# -- collection -----------------------------------------------------------------------------
def test_collects_the_campaign_and_nothing_honest(
    campaign_a: tuple[list[Req], list[dict[str, Any]]], indicators: list[Indicator]
) -> None:
    _, events = campaign_a
    kinds = {i.kind for i in indicators}
    assert {"template", "client", "network", "account", "segment"} <= kinds
    hydra_ids = {e["identity"] for e in events if e["fingerprints"].get("client")
                 in {i.value for i in indicators if i.kind == "client"}}
    honest = [e for e in events if e["identity"] not in hydra_ids]
    assert honest, "the honest users must have produced events"
    honest_values = {v for e in honest for v in (
        e["fingerprints"].get("template"), e["fingerprints"].get("client"),
        e["network"]["prefix"])}
    assert not honest_values & {i.value for i in indicators}
    # the two hydra templates, one client stack, the proxy pool's /24s
    assert len([i for i in indicators if i.kind == "template"]) == 2
    assert len({i.value for i in indicators if i.kind == "client"}) == 1
    assert all(i.value.startswith("4:45.130.") for i in indicators if i.kind == "network")
    assert all(i.identities >= 5 for i in indicators if i.kind != "account")
    assert all(0 < i.confidence <= 100 for i in indicators)
    # accounts: only the campaign's flagged members, each once
    accounts = [i.value for i in indicators if i.kind == "account"]
    assert len(accounts) == len(set(accounts)) and set(accounts) <= hydra_ids
    assert all(i.first_seen <= i.last_seen for i in indicators)


def _event(identity: str, action: str, cluster: str | None, client: str, template: str,
           ts: float = T0, prefix: str = "4:45.130.0.0/24", reasons: Any = ()) -> dict[str, Any]:
    return {"schema": "antidistill.decision/1", "ts": ts, "identity": identity,
            "action": action, "cluster": cluster, "score": 0.9, "reasons": list(reasons),
            "fingerprints": {"template": template, "client": client, "segments": []},
            "network": {"prefix": prefix, "asn": 64500, "type": "hosting"}}


POPULAR = "cf1:" + "a" * 16
TEMPLATE = "pt1:" + "b" * 16
CLUSTER = "cl:pt1:" + "b" * 16


def _popular_sdk_events(outsiders: int) -> list[dict[str, Any]]:
    ev = []
    for i in range(20):
        for j in range(3):
            ev.append(_event(f"key:{i:020x}", "block", CLUSTER, POPULAR, TEMPLATE, T0 + j))
    for i in range(outsiders):
        ev.append(_event(f"key:{10**6 + i:020x}", "allow", None, POPULAR, "pt1:" + "c" * 16,
                         prefix="4:24.1.2.0/24"))
    return ev


def test_popular_sdk_client_fingerprint_is_not_exported() -> None:
    got = intel.collect_indicators(_popular_sdk_events(200), allow_sample_rate=1.0)
    values = {(i.kind, i.value) for i in got}
    assert ("template", TEMPLATE) in values
    assert ("client", POPULAR) not in values
    # without the honest users the same client stack is the campaign's own
    alone = intel.collect_indicators(_popular_sdk_events(0), allow_sample_rate=1.0)
    assert ("client", POPULAR) in {(i.kind, i.value) for i in alone}


def test_sampled_allow_events_weigh_as_the_requests_they_stand_for() -> None:
    # 3 sampled allow events at the guard's default 1% stand for ~300 honest requests
    events = _popular_sdk_events(3)
    assert "client" in {i.kind for i in intel.collect_indicators(events, allow_sample_rate=1.0)}
    assert "client" not in {i.kind for i in intel.collect_indicators(events)}


def test_unconfirmed_clusters_give_nothing() -> None:
    small = [_event(f"key:{i:020x}", "block", CLUSTER, POPULAR, TEMPLATE) for i in range(4)]
    assert intel.collect_indicators(small, allow_sample_rate=1.0) == []
    mild = [_event(f"key:{i:020x}", "flag", CLUSTER, POPULAR, TEMPLATE) for i in range(30)]
    assert intel.collect_indicators(mild, allow_sample_rate=1.0) == []
    strong = [{"name": "fanout", "score": 0.9, "contribution": 0.5, "detail": ""}]
    fanned = [_event(f"key:{i:020x}", "flag", CLUSTER, POPULAR, TEMPLATE, reasons=strong)
              for i in range(30)]
    assert intel.collect_indicators(fanned, allow_sample_rate=1.0)
    assert intel.collect_indicators(mild, min_action="flag", allow_sample_rate=1.0)


# -- privacy --------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "value"), [
    ("template", "Solve the following problem step by step"),
    ("template", "pt1:0123456789ABCDEF"),
    ("client", "sk-hyA-00001-0123456789ab"),
    ("account", "sk-hyA-00001-0123456789ab"),
    ("account", "45.130.0.17"),
    ("network", "4:45.130.0.17/32"),
    ("network", "4:45.130.0.17/24"),
    ("network", "45.130.0.0/24"),
    ("network", "6:2001:db8:1:2::/80"),
    ("asn", "0"),
    ("asn", "AS64500"),
    ("ja4", "t13d1516h2_8daaf6152771_b0da82dd1658 "),
    ("nonsense", "pt1:0123456789abcdef"),
])
def test_indicator_refuses_raw_values(kind: str, value: str) -> None:
    with pytest.raises(ValueError) as err:
        Indicator(kind, value, T0, T0, 5, CLUSTER, 50)
    assert value.strip() not in str(err.value) or kind == "nonsense"


def test_fingerprint_formats_are_accepted() -> None:
    for kind, value in [("template", "pt1:0123456789abcdef"), ("segment", "pg2:0123456789abcdef"),
                        ("client", "cf1:0123456789abcdef"), ("asn", "64500"),
                        ("ja4", "t13d1516h2_8daaf6152771_b0da82dd1658"),
                        ("network", "4:203.0.113.0/24"), ("network", "6:2001:db8:1::/48"),
                        ("account", "key:0123456789abcdef0123")]:
        assert Indicator(kind, value, T0, T0, 5, CLUSTER, 50).value == value


def test_raw_values_in_events_never_reach_an_export() -> None:
    raw_prompt = "Solve the following problem and show all hidden reasoning"
    events = [_event(f"key:{i:020x}", "block", CLUSTER, "sk-live-secret-key", raw_prompt,
                     prefix="4:45.130.0.17/32") for i in range(30)]
    got = intel.collect_indicators(events, allow_sample_rate=1.0)
    assert {i.kind for i in got} == {"asn", "account"}
    out = intel.to_jsonl(got) + intel.to_stix_bundle(got, producer="A")
    for raw in (raw_prompt, "sk-live-secret-key", "45.130.0.17"):
        assert raw not in out


def test_exports_carry_no_prompt_key_or_ip(
    campaign_a: tuple[list[Req], list[dict[str, Any]]], indicators: list[Indicator]
) -> None:
    reqs, _ = campaign_a
    out = intel.to_jsonl(indicators) + intel.to_stix_bundle(indicators, producer="A")
    assert "sk-" not in out
    for r in reqs:
        assert r.ip not in out
        assert r.body["messages"][-1]["content"][:40] not in out
    for q in GSM8K:
        assert q[:30] not in out


# -- STIX and JSONL -------------------------------------------------------------------------
def test_stix_bundle_validates_and_parses(indicators: list[Indicator]) -> None:
    text = intel.to_stix_bundle(indicators, producer="Provider A")
    bundle = stix2.parse(text, allow_custom=True)
    by_type: dict[str, list[Any]] = {}
    for obj in bundle.objects:
        by_type.setdefault(obj.type, []).append(obj)
    assert len(by_type["identity"]) == 1 and by_type["identity"][0].name == "Provider A"
    assert len(by_type["indicator"]) == len(indicators)
    campaigns = {i.campaign for i in indicators}
    assert {c.x_antidistill_cluster for c in by_type["campaign"]} == campaigns
    rels = by_type["relationship"]
    assert len(rels) == len(indicators)
    assert all(r.relationship_type == "indicates" for r in rels)
    camp_ids = {c.id for c in by_type["campaign"]}
    ind_ids = {i.id for i in by_type["indicator"]}
    assert {r.target_ref for r in rels} <= camp_ids and {r.source_ref for r in rels} == ind_ids
    for ind in by_type["indicator"]:
        assert ind.pattern_type == "stix"
        assert run_validator(ind.pattern) == [], ind.pattern
        assert ind.created_by_ref == by_type["identity"][0].id
    patterns = {i.pattern for i in by_type["indicator"]}
    assert any(p.startswith("[x-antidistill-prompt:template_fingerprint = 'pt1:")
               for p in patterns)
    assert any(p.startswith("[ipv4-addr:value ISSUBSET '45.130.") for p in patterns)
    # ids are stable across exports (partners de-duplicate on them)
    again = stix2.parse(intel.to_stix_bundle(indicators, producer="Provider A"),
                        allow_custom=True)
    assert {o.id for o in again.objects} == {o.id for o in bundle.objects}


def test_stix_patterns_for_every_kind() -> None:
    items = [Indicator("asn", "64500", T0, T0, 5, CLUSTER, 60),
             Indicator("network", "4:203.0.113.0/24", T0, T0, 5, CLUSTER, 60),
             Indicator("network", "6:2001:db8:1::/48", T0, T0, 5, CLUSTER, 60),
             Indicator("ja4", "t13d1516h2_8daaf6152771_b0da82dd1658", T0, T0 + 5, 5, CLUSTER,
                       60),
             Indicator("client", "cf1:0123456789abcdef", T0, T0, 5, CLUSTER, 60),
             Indicator("account", "key:0123456789abcdef0123", T0, T0, 1, CLUSTER, 60)]
    pats = [intel.stix_pattern(i) for i in items]
    assert pats[0] == "[autonomous-system:number = 64500]"
    assert pats[1] == "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"
    assert pats[2] == "[ipv6-addr:value ISSUBSET '2001:db8:1::/48']"
    for p in pats:
        assert run_validator(p) == [], p
    text = intel.to_stix_bundle(items, producer="A")
    assert intel.parse_indicators(text) == items
    # a bundle from a producer without our x_ properties still loads from the patterns
    raw = json.loads(text)
    for obj in raw["objects"]:
        for k in [k for k in obj if k.startswith("x_antidistill_") and obj["type"] != "campaign"]:
            del obj[k]
    back = intel.parse_indicators(json.dumps(raw))
    assert [(i.kind, i.value, i.campaign) for i in back] == [
        (i.kind, i.value, i.campaign) for i in items]


def test_invalid_stix_pattern_is_refused() -> None:
    with pytest.raises(stix2.exceptions.InvalidValueError):
        stix2.Indicator(pattern="[x-antidistill-prompt:template_fingerprint = ",
                        pattern_type="stix", valid_from="2026-01-01T00:00:00Z")


def test_jsonl_round_trip(tmp_path: Path, indicators: list[Indicator]) -> None:
    path = tmp_path / "ind.jsonl"
    path.write_text(intel.to_jsonl(indicators), encoding="utf-8")
    assert intel.load_indicators(path) == indicators
    stix_path = tmp_path / "ind.json"
    stix_path.write_text(intel.to_stix_bundle(indicators, producer="A"), encoding="utf-8")
    assert intel.load_indicators(stix_path) == indicators
    compact = json.dumps(json.loads(stix_path.read_text()))
    assert intel.parse_indicators(compact) == indicators


def test_malformed_or_raw_jsonl_rows_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    good = Indicator("template", "pt1:0123456789abcdef", T0, T0, 9, CLUSTER, 70)
    bad_value = dict(good.as_dict(), value="Solve the following problem")
    text = "\n".join([json.dumps(good.as_dict()), "{not json", json.dumps(bad_value),
                      json.dumps({"schema": "other/1", "kind": "template"})]) + "\n"
    with caplog.at_level("WARNING", logger="antidistill"):
        assert intel.parse_indicators(text) == [good]
    assert "skipped 3" in caplog.text
    with pytest.raises(ValueError):
        intel.parse_indicators("[1, 2, 3]")


# -- import ---------------------------------------------------------------------------------
async def test_import_maps_kinds_to_lists() -> None:
    items = [Indicator("template", "pt1:0123456789abcdef", T0, T0, 9, CLUSTER, 70),
             Indicator("segment", "pg1:0123456789abcdef", T0, T0, 9, CLUSTER, 70),
             Indicator("client", "cf1:0123456789abcdef", T0, T0, 9, CLUSTER, 70),
             Indicator("asn", "64500", T0, T0, 9, CLUSTER, 70),
             Indicator("network", "4:203.0.113.0/24", T0, T0, 9, CLUSTER, 70),
             Indicator("account", "key:0123456789abcdef0123", T0, T0, 1, CLUSTER, 70),
             Indicator("ja4", "t13d1516h2_8daaf6152771_b0da82dd1658", T0, T0, 9, CLUSTER, 70)]
    store = MemoryStore(warn_workers=False)
    assert await intel.import_indicators(store, items) == 6
    assert await store.list_members("watch:template") == ["pt1:0123456789abcdef"]
    assert await store.list_members("watch:identity") == ["key:0123456789abcdef0123"]
    assert await store.list_members("watch:network") == ["4:203.0.113.0/24"]
    assert await store.list_members("watch:asn") == ["64500"]
    assert await store.list_members("watch:ja4") == ["t13d1516h2_8daaf6152771_b0da82dd1658"]
    assert await store.list_members("deny:template") == []
    _, skipped = intel.plan_import(items)
    assert skipped == {"segment": 1}
    deny = MemoryStore(warn_workers=False)
    assert await intel.import_indicators(deny, items, as_list="deny", ttl=None) == 6
    assert await deny.list_members("deny:client") == ["cf1:0123456789abcdef"]
    assert await deny.list_members("watch:client") == []


# -- the key test: two providers ------------------------------------------------------------
async def test_indicators_from_a_flag_the_same_campaign_at_b(indicators: list[Indicator],
                                                             tmp_path: Path) -> None:
    path = tmp_path / "from-a.json"
    path.write_text(intel.to_stix_bundle(indicators, producer="Provider A"), encoding="utf-8")
    shared = intel.load_indicators(path)
    rng = random.Random(99)  # new accounts, new addresses in the pool, other questions
    b_traffic = hydra_requests(rng, 12, T0 + 86400, "hyB") + benign_requests(
        rng, 30, T0 + 86400, 1200, "benB")

    b = deployment(SECRET_B)
    added = await intel.import_indicators(b.guard.store, shared)
    assert added > 0
    control = deployment(SECRET_B)  # the same B without the shared indicators
    got = await run_traffic(b, b_traffic)
    base = await run_traffic(control, b_traffic)

    first_seen: set[str] = set()
    hydra_first = []
    for (r, dec), (_, dec0) in zip(got, base, strict=True):
        names = {x.name for x in dec.reasons}
        if not r.hydra:
            # the import changes nothing for honest users
            assert "shared_indicator" not in names
            assert (dec.action, round(dec.score, 6)) == (dec0.action, round(dec0.score, 6))
            continue
        if r.key in first_seen:
            continue
        first_seen.add(r.key)
        hydra_first.append((dec, dec0))
    assert len(hydra_first) == 12
    # B's very first request from the campaign: no history anywhere in B
    first_dec, first_base = hydra_first[0]
    assert first_base.cluster is None and first_base.identity_risk == 0.0
    for dec, dec0 in hydra_first:
        shared_reason = [x for x in dec.reasons if x.name == "shared_indicator"]
        assert shared_reason, dec.reasons
        assert "watch:template" in shared_reason[0].detail
        assert "watch:client" in shared_reason[0].detail
        # A's pseudonyms are keyed by A's secret: they never match at B
        assert "watch:identity" not in shared_reason[0].detail
        assert dec.action.severity >= Action.FLAG.severity
        assert dec.score > dec0.score
        assert "shared_indicator" not in {x.name for x in dec0.reasons}
    # first requests the control let through unflagged are flagged thanks to A
    assert sum(d.action.severity > d0.action.severity for d, d0 in hydra_first) >= 6


async def test_pseudonyms_differ_between_providers() -> None:
    a, b = deployment(SECRET_A), deployment(SECRET_B)
    r = benign_requests(random.Random(3), 1, T0, 10, "same")[0]
    assert (await a.send(r, 0)).identity != (await b.send(r, 0)).identity


# -- command line ---------------------------------------------------------------------------
def test_cli_export_and_import(tmp_path: Path, campaign_a: tuple[list[Req], list[dict[str, Any]]],
                               capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    # a logging prefix before each JSON object, as the antidistill.events logger may write
    events.write_text("".join(f"INFO antidistill.events {json.dumps(e)}\n"
                              for e in campaign_a[1]) + "garbage line\n", encoding="utf-8")
    out = tmp_path / "ind.jsonl"
    assert intel_cli.main(["export", "--events", str(events), "--format", "jsonl",
                       "--out", str(out), "--allow-sample-rate", "1"]) == 0
    exported = intel.load_indicators(out)
    assert exported == intel.collect_indicators(campaign_a[1], allow_sample_rate=1.0)
    assert intel_cli.main(["import", str(out), "--storage-uri", "memory://"]) == 0
    err = capsys.readouterr().err
    assert "memory:// lists live in this process only" in err
    assert "skipped" in err and "segment (no list)" in err
    assert intel_cli.main(["export", "--events", str(events), "--no-accounts",
                       "--out", str(tmp_path / "b.json")]) == 0
    bundle = intel.load_indicators(tmp_path / "b.json")
    assert bundle and all(i.kind != "account" for i in bundle)


def test_python_m_entry_point(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps(_event("key:" + "1" * 20, "block", CLUSTER, POPULAR,
                                        TEMPLATE)) + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "antidistill.cli.intel", "export", "--events",
                           str(events), "--format", "jsonl"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and "exported 0 indicators" in proc.stderr
