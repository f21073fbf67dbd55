"""``redis://`` (and ``rediss://``, ``redis+unix://``, ``redis+sentinel://``,
``redis+cluster://``, ``valkey*://``): the shared backend, on ``redis.asyncio``.

Key layout (``P`` is the configurable prefix; ``{...}`` is the Cluster hash tag, so every
logical entity lives in one slot and each Lua script touches one entity's keys only)::

    P:{b:<bucket>}            HASH {t, ts}            token bucket; TTL 2 x time to refill + 1 s
    P:{f:<feature>}:m         HASH {fs, fi, pr, cl}   first seen/identity, promoted, cluster
    P:{f:<feature>}:s:<n>     HLL                     short-window sub-bucket n (6 per window)
    P:{f:<feature>}:l:<n>     HLL                     long-window sub-bucket n (7 per window)
    P:{i:<identity>}:s        HASH {fs, ls, n, r, rt, cl, f:<field>}   TTL identity_ttl
    P:{i:<identity>}:v:<name> HLL                     distinct identity values, identity_ttl
    P:{c:<cluster>}:s         HASH {fs, ls, n, r, rt} TTL identity_ttl
    P:{c:<cluster>}:m         HLL                     member identities, identity_ttl
    P:{rank}:i / P:{rank}:c   ZSET                    top_k ranking, TTL identity_ttl
    P:{l:<list>}              ZSET member -> expiry   allow/deny/watch list: NO TTL
    P:{settings}              HASH                    settings: NO TTL

Every key has a TTL except lists and settings, which are persistent by design (member TTLs
in a list are wall-clock expiry scores, pruned lazily). Feature meta and long HLLs live for
``long_window`` (+ one sub-bucket); short HLLs for ``short_window`` (+ one sub-bucket). The
two ranking sets are global keys, i.e. one slot each: on Cluster the node that owns them
gets every risk update (only requests that *add* risk write there).

Hot path: ``observe`` is one pipeline (identity script, one script per feature, list
ZSCOREs, cached clusters); a second one follows only when a feature or the identity points
to a cluster the caller did not pass in ``ObserveBatch.clusters``. List checks go only to
lists that exist: which do is read (``EXISTS``) at most every ``LIST_REFRESH`` seconds, so
with the usual mostly empty lists a request sends 12 commands instead of 21 (measured in
``docs/storage.md``); a list another instance creates counts here within that interval.
``apply`` is one pipeline
(bucket scripts, identity and cluster risk scripts, feature links); on Cluster the ranking
ZADDs, which live in another slot, follow in a second pipeline when risk was added. On
Cluster a pipeline is split per node and sent in parallel (one latency). ``round_trips``
counts sequential pipeline executions; ``slot_batches`` counts the distinct slots they hit.

Scripts are redis-py ``Script`` objects (their SHA and text); they are called as EVALSHA in
the pipeline and, after a NOSCRIPT (server restart, ``SCRIPT FLUSH``, failover), loaded and
re-sent for the failed commands only. (redis-py's own pipeline support sends SCRIPT EXISTS
before every pipeline, an extra round trip per request.)

Every time is the caller's ``now`` (virtual clocks work; Redis ``TIME`` is never used),
except list expiry, which is wall-clock because ``list_add`` takes no ``now``.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.crc import key_slot

from antidistill.errors import ConfigurationError, StorageError
from antidistill.storage.base import (
    LONG_SUBBUCKETS,
    SHORT_SUBBUCKETS,
    ApplyBatch,
    BucketResult,
    BucketSpec,
    ClusterStats,
    FeatureStats,
    IdentityStats,
    ObserveBatch,
    ObserveResult,
    RankedEntry,
    StateConfig,
    Store,
    decayed,
    window_bucket,
)
from antidistill.storage.memory import risk_from_score

_PREFIX_RE = re.compile(r"[A-Za-z0-9_.\-:]{1,64}")
# Seconds between reads of which allow/deny/watch lists exist (see _lists_to_check).
LIST_REFRESH = 5.0
_DRIVER_ERRORS = (rexc.RedisError, OSError, asyncio.TimeoutError)


async def reset_pool(client: Any) -> None:
    """Disconnect the idle pooled connections of a redis-py client (standalone, Sentinel or
    Cluster); each reconnects lazily on its next checkout. Connections in use are left to
    their own call (which fails and disconnects itself if the socket is dead)."""
    try:
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            await pool.disconnect(inuse_connections=False)
            return
        for node in client.get_nodes():
            drop = getattr(node, "disconnect_free_connections", None)
            if drop is not None:
                await drop()
    except _DRIVER_ERRORS:
        pass


def _lua(name: str) -> str:
    return resources.files("antidistill.storage").joinpath(f"resources/{name}.lua").read_text()


def _num(x: float) -> str:
    return repr(float(x))


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _float(x: Any, default: float = 0.0) -> float:
    return default if x is None else float(x)


class _Cmd:
    """One queued command: a raw command, or a script with keys and args."""

    __slots__ = ("args", "keys", "script")

    def __init__(
        self, script: AsyncScript | None, keys: Sequence[str], args: Sequence[Any]
    ) -> None:
        self.script = script
        self.keys = keys
        self.args = args

    def queue(self, pipe: Any) -> None:
        if self.script is None:
            pipe.execute_command(*self.args)
        else:
            pipe.execute_command("EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args)

    def slot_key(self) -> str | None:
        if self.script is not None:
            return self.keys[0] if self.keys else None
        return str(self.args[1]) if len(self.args) > 1 else None


def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


class RedisStore(Store):
    """:class:`Store` on standalone Redis / Valkey (TCP, TLS, unix socket, Sentinel)."""

    cluster_mode: ClassVar[bool] = False

    def __init__(
        self,
        client: Any,
        config: StateConfig | None = None,
        *,
        prefix: str = "antidistill",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config)
        if not _PREFIX_RE.fullmatch(prefix):
            raise ConfigurationError(
                "storage prefix must be 1-64 characters of [A-Za-z0-9_.-:] (no braces)"
            )
        self.client = client
        self.prefix = prefix
        self._wall = wall_clock
        # Lists known to exist (None: unknown, check every list), re-read every
        # LIST_REFRESH seconds; see _lists_to_check.
        self._lists_present: set[str] | None = None
        self._lists_known: set[str] = set()
        self._lists_local: set[str] = set()  # lists this instance added to: always checked
        self._lists_read = -math.inf
        self.round_trips = 0
        self.slot_batches = 0
        reg = client.register_script
        self._bucket = reg(_lua("token_bucket"))
        self._feature = reg(_lua("feature_observe"))
        self._link = reg(_lua("feature_link"))
        self._ident_observe = reg(_lua("identity_observe"))
        self._risk = reg(_lua("risk_update"))
        self._scripts: tuple[AsyncScript, ...] = (
            self._bucket,
            self._feature,
            self._link,
            self._ident_observe,
            self._risk,
        )

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_uri(
        cls,
        uri: str,
        config: StateConfig | None = None,
        *,
        prefix: str = "antidistill",
        socket_timeout: float = 0.1,
        **options: Any,
    ) -> RedisStore:
        """Build from a storage URI (see :func:`antidistill.storage.storage_from_uri`)."""
        parts = urlsplit(uri)
        scheme = parts.scheme.replace("valkey", "redis")
        kwargs: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": options.pop("socket_connect_timeout", socket_timeout),
            "retry": _no_retry(),
            "decode_responses": True,
            **options,
        }
        if scheme == "redis+sentinel":
            return cls(_sentinel_client(parts, kwargs), config, prefix=prefix)
        if scheme == "redis+unix":
            url = "unix://" + uri.split("://", 1)[1]
        else:
            url = scheme + "://" + uri.split("://", 1)[1]
        try:
            client = Redis.from_url(url, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"invalid Redis storage URI: {exc}") from None
        return cls(client, config, prefix=prefix)

    # -- keys --------------------------------------------------------------------------------
    def _key(self, kind: str, key: str, part: str = "") -> str:
        base = f"{self.prefix}:{{{kind}:{key}}}"
        return f"{base}:{part}" if part else base

    def _rank_key(self, kind: str) -> str:
        return f"{self.prefix}:{{rank}}:{kind}"

    # -- execution ---------------------------------------------------------------------------
    async def _send(self, cmds: Sequence[_Cmd]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for cmd in cmds:
            cmd.queue(pipe)
        self.round_trips += 1
        if self.cluster_mode:
            self.slot_batches += len({key_slot(k.encode()) for c in cmds if (k := c.slot_key())})
        else:
            self.slot_batches += 1
        return list(await pipe.execute(raise_on_error=False))

    async def _execute(self, cmds: Sequence[_Cmd]) -> list[Any]:
        if not cmds:
            return []
        try:
            results = await self._send(cmds)
            missing = [i for i, r in enumerate(results) if isinstance(r, rexc.NoScriptError)]
            if missing:
                for script in {id(cmds[i].script): cmds[i].script for i in missing}.values():
                    assert script is not None
                    script.sha = await self.client.script_load(script.script)
                retried = await self._send([cmds[i] for i in missing])
                for i, r in zip(missing, retried, strict=True):
                    results[i] = r
        except _DRIVER_ERRORS as exc:
            raise StorageError(f"redis: {type(exc).__name__}: {exc}") from exc
        for r in results:
            if isinstance(r, Exception):
                raise StorageError(f"redis: {type(r).__name__}: {r}") from r
        return results

    # -- script calls ------------------------------------------------------------------------
    def _bucket_cmd(self, spec: BucketSpec, now: float) -> _Cmd:
        if not (spec.capacity > 0 and math.isfinite(spec.capacity)):
            raise ValueError("bucket capacity must be finite and > 0")
        if not (spec.refill_per_second >= 0 and math.isfinite(spec.refill_per_second)):
            raise ValueError("bucket refill_per_second must be finite and >= 0")
        debt = -1.0 if math.isinf(spec.debt_limit) else max(0.0, spec.debt_limit)
        return _Cmd(
            self._bucket,
            [self._key("b", spec.key)],
            [
                _num(spec.capacity),
                _num(spec.refill_per_second),
                _num(spec.cost),
                int(spec.force),
                int(spec.peek),
                _num(debt),
                _num(now),
                _ms(self.config.identity_ttl),
            ],
        )

    def _bucket_cmds(self, specs: Sequence[BucketSpec], now: float) -> list[_Cmd]:
        return [self._bucket_cmd(spec, now) for spec in specs]

    @staticmethod
    def _bucket_result(raw: Sequence[Any]) -> BucketResult:
        return BucketResult(bool(int(raw[0])), float(raw[1]), float(raw[2]), float(raw[3]))

    def _feature_cmd(self, feature: str, identity: str, now: float) -> _Cmd:
        cfg = self.config
        sb = window_bucket(now, cfg.short_window, SHORT_SUBBUCKETS)
        lb = window_bucket(now, cfg.long_window, LONG_SUBBUCKETS)
        keys = [self._key("f", feature, "m")]
        keys += [self._key("f", feature, f"s:{sb - i}") for i in range(SHORT_SUBBUCKETS)]
        keys += [self._key("f", feature, f"l:{lb - i}") for i in range(LONG_SUBBUCKETS)]
        keys.append(self._key("f", feature, "mt"))  # detect-spread addition
        short_ttl = cfg.short_window * (1 + 1 / SHORT_SUBBUCKETS)
        long_ttl = cfg.long_window * (1 + 1 / LONG_SUBBUCKETS)
        return _Cmd(
            self._feature,
            keys,
            [identity, _num(now), SHORT_SUBBUCKETS, _ms(long_ttl), _ms(short_ttl), _ms(long_ttl)],
        )

    def _risk_cmd(
        self,
        kind: str,
        key: str,
        now: float,
        *,
        touch: bool,
        risk_add: float,
        cluster: str | None = None,
        member: str | None = None,
        fields: Mapping[str, float] | None = None,
    ) -> _Cmd:
        cfg = self.config
        keys = [self._key(kind, key, "s")]
        if member is not None:
            keys.append(self._key(kind, key, "m"))
        in_script_rank = not self.cluster_mode
        if in_script_rank:
            keys.append(self._rank_key(kind))
        args: list[Any] = [
            _num(now),
            int(touch),
            _num(risk_add),
            cluster or "",
            member or "",
            _num(cfg.risk_half_life),
            _ms(cfg.identity_ttl),
            cfg.top_k,
            key,
            int(member is not None),
            int(in_script_rank),
        ]
        for name, value in (fields or {}).items():
            args += [name, _num(value)]
        return _Cmd(self._risk, keys, args)

    def _cluster_read_cmds(self, cluster: str) -> list[_Cmd]:
        return [
            _Cmd(None, (), ("HMGET", self._key("c", cluster, "s"), "fs", "ls", "r", "rt")),
            _Cmd(None, (), ("PFCOUNT", self._key("c", cluster, "m"))),
        ]

    def _cluster_stats(self, raw: Sequence[Any], members: Any, now: float) -> ClusterStats | None:
        fs, ls, r, rt = raw
        if fs is None:
            return None
        risk = decayed(_float(r), _float(rt, now), now, self.config.risk_half_life)
        return ClusterStats(risk, int(members), float(fs), float(ls or fs))

    def _identity_stats(
        self, flat: Sequence[Any], values: Mapping[str, int], now: float
    ) -> IdentityStats | None:
        h = dict(zip(flat[::2], flat[1::2], strict=True))
        if "fs" not in h:
            return None
        fields = {k[2:]: float(v) for k, v in h.items() if k.startswith("f:")}
        return IdentityStats(
            first_seen=float(h["fs"]),
            last_seen=float(h.get("ls") or h["fs"]),
            requests=int(h.get("n", 0)),
            risk=decayed(
                _float(h.get("r")), _float(h.get("rt"), now), now, self.config.risk_half_life
            ),
            cluster=h.get("cl") or None,
            values=values,
            fields=fields,
        )

    # -- Store API ---------------------------------------------------------------------------
    async def observe(self, batch: ObserveBatch, now: float) -> ObserveResult:
        """See :meth:`Store.observe`."""
        cfg = self.config
        names = list(batch.identity_values)
        cmds = [
            _Cmd(
                self._ident_observe,
                [self._key("i", batch.identity, "s")]
                + [self._key("i", batch.identity, f"v:{n}") for n in names],
                [_ms(cfg.identity_ttl)] + [batch.identity_values[n] for n in names],
            )
        ]
        features = list(dict.fromkeys(batch.features))
        cmds += [self._feature_cmd(f, batch.identity, now) for f in features]
        checks = await self._lists_to_check(batch.list_checks)
        cmds += [_Cmd(None, (), ("ZSCORE", self._key("l", name), m)) for name, m in checks]
        wanted = list(dict.fromkeys(batch.clusters))
        for cid in wanted:
            cmds += self._cluster_read_cmds(cid)
        res = await self._execute(cmds)

        flat, counts = res[0]
        values = {n: int(c) for n, c in zip(names, counts, strict=True)}
        istats = self._identity_stats(flat, values, now) or IdentityStats(
            now, now, 0, 0.0, None, values, {}
        )
        fstats: dict[str, FeatureStats] = {}
        for i, f in enumerate(features, start=1):
            short, long, fs, cl, mature = res[i]
            fstats[f] = FeatureStats(int(short), int(long), float(fs), cl or None, int(mature))
        pos = 1 + len(features)
        wall = self._wall()
        listed = frozenset(
            check
            for check, score in zip(checks, res[pos : pos + len(checks)], strict=True)
            if score is not None and float(score) > wall
        )
        pos += len(checks)
        clusters: dict[str, ClusterStats] = {}
        for j, cid in enumerate(wanted):
            cs = self._cluster_stats(res[pos + 2 * j], res[pos + 2 * j + 1], now)
            if cs is not None:
                clusters[cid] = cs
        # clusters discovered in this round trip cost a second one
        found = [istats.cluster] + [s.cluster for s in fstats.values()]
        extra = list(dict.fromkeys(c for c in found if c and c not in wanted))
        if extra:
            more = await self._execute([c for cid in extra for c in self._cluster_read_cmds(cid)])
            for j, cid in enumerate(extra):
                cs = self._cluster_stats(more[2 * j], more[2 * j + 1], now)
                if cs is not None:
                    clusters[cid] = cs
        return ObserveResult(istats, fstats, clusters, listed)

    async def apply(self, batch: ApplyBatch, now: float) -> list[BucketResult]:
        """See :meth:`Store.apply`."""
        cfg = self.config
        cmds = self._bucket_cmds(batch.buckets, now)
        nb = len(cmds)
        cmds.append(
            self._risk_cmd(
                "i",
                batch.identity,
                now,
                touch=batch.touch,
                risk_add=batch.risk_add,
                cluster=batch.cluster,
                fields=batch.fields,
            )
        )
        if batch.cluster is not None:
            cmds.append(
                self._risk_cmd(
                    "c",
                    batch.cluster,
                    now,
                    touch=True,
                    risk_add=batch.cluster_risk_add,
                    member=batch.identity,
                )
            )
            ttl = _ms(cfg.long_window * (1 + 1 / LONG_SUBBUCKETS))
            cmds += [
                _Cmd(self._link, [self._key("f", f, "m")], [batch.cluster, _num(now), ttl])
                for f in dict.fromkeys(batch.link_features)
            ]
        # -- detect-spread addition: mature identities per feature (HLL, long-window TTL)
        mature_ttl = _ms(cfg.long_window)
        for f in dict.fromkeys(batch.mature_features):
            key = self._key("f", f, "mt")
            cmds += [_Cmd(None, (), ("PFADD", key, batch.identity)),
                     _Cmd(None, (), ("PEXPIRE", key, mature_ttl))]
        # -- end detect-spread addition
        res = await self._execute(cmds)
        if self.cluster_mode:
            ranked = [("i", batch.identity, res[nb])]
            if batch.cluster is not None:
                ranked.append(("c", batch.cluster, res[nb + 1]))
            await self._rank_followup(ranked, [batch.risk_add, batch.cluster_risk_add])
        return [self._bucket_result(r) for r in res[:nb]]

    async def _rank_followup(
        self, ranked: Iterable[tuple[str, str, Sequence[Any]]], adds: Sequence[float]
    ) -> None:
        cmds: list[_Cmd] = []
        ttl = _ms(self.config.identity_ttl)
        for (kind, key, (_risk, score)), add in zip(ranked, adds, strict=False):
            if not add:
                continue
            rk = self._rank_key(kind)
            if score is None:
                cmds.append(_Cmd(None, (), ("ZREM", rk, key)))
                continue
            cmds += [
                _Cmd(None, (), ("ZADD", rk, score, key)),
                _Cmd(None, (), ("ZREMRANGEBYRANK", rk, 0, -(self.config.top_k + 1))),
                _Cmd(None, (), ("PEXPIRE", rk, ttl)),
            ]
        await self._execute(cmds)

    async def buckets(self, specs: Sequence[BucketSpec], now: float) -> list[BucketResult]:
        """See :meth:`Store.buckets`."""
        return [self._bucket_result(r) for r in await self._execute(self._bucket_cmds(specs, now))]

    async def _lists_to_check(
        self, checks: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """The checks against lists that may have members.

        Most deployments leave most of the allow/deny/watch lists empty, and each check is one
        command per request. So which lists exist is read (one ``EXISTS`` per list, one round
        trip) at most every ``LIST_REFRESH`` seconds, and checks against the others are
        skipped. A list created through this instance counts at once; one created through
        another instance is seen within ``LIST_REFRESH`` seconds (as a run-time mode switch).
        """
        if not checks:
            return []
        tick = time.monotonic()
        if tick - self._lists_read >= LIST_REFRESH:
            self._lists_read = tick
            names = sorted({name for name, _ in checks} | (self._lists_present or set()))
            try:
                found = await self._execute(
                    [_Cmd(None, (), ("EXISTS", self._key("l", name))) for name in names])
            except StorageError:
                self._lists_present = None  # unknown: check them all, ask again next time
            else:
                self._lists_present = {n for n, e in zip(names, found, strict=True) if e}
                self._lists_present |= self._lists_local
                self._lists_known = set(names)
        present, known = self._lists_present, self._lists_known
        if present is None:
            return list(checks)
        # A list name not asked about yet is checked until the next refresh reads it.
        return [c for c in checks if c[0] in present or c[0] not in known]

    async def list_add(self, name: str, member: str, ttl: float | None = None) -> None:
        """Add ``member`` to list ``name`` for ``ttl`` seconds (wall clock) or for good."""
        self._lists_local.add(name)
        if self._lists_present is not None:
            self._lists_present.add(name)
        key = self._key("l", name)
        expires = "+inf" if ttl is None else _num(self._wall() + ttl)
        await self._execute(
            [
                _Cmd(None, (), ("ZADD", key, expires, member)),
                _Cmd(None, (), ("ZREMRANGEBYSCORE", key, "-inf", _num(self._wall()))),
            ]
        )

    async def list_remove(self, name: str, member: str) -> None:
        """Remove ``member`` from list ``name``."""
        await self._execute([_Cmd(None, (), ("ZREM", self._key("l", name), member))])

    async def list_members(self, name: str, limit: int = 1000) -> list[str]:
        """Up to ``limit`` unexpired members, soonest to expire first."""
        key = self._key("l", name)
        res = await self._execute(
            [
                _Cmd(
                    None,
                    (),
                    ("ZRANGEBYSCORE", key, f"({_num(self._wall())}", "+inf", "LIMIT", 0, limit),
                )
            ]
        )
        return list(res[0])

    async def get_setting(self, name: str) -> str | None:
        """A persisted setting, or None."""
        res = await self._execute([_Cmd(None, (), ("HGET", self._settings_key(), name))])
        return None if res[0] is None else str(res[0])

    async def set_setting(self, name: str, value: str | None) -> None:
        """Set (or with None, delete) a setting."""
        key = self._settings_key()
        cmd = ("HDEL", key, name) if value is None else ("HSET", key, name, value)
        await self._execute([_Cmd(None, (), cmd)])

    def _settings_key(self) -> str:
        return f"{self.prefix}:{{settings}}"

    async def _top(self, kind: str, n: int, now: float) -> list[RankedEntry]:
        if n <= 0:
            return []
        res = await self._execute(
            [_Cmd(None, (), ("ZREVRANGE", self._rank_key(kind), 0, n - 1, "WITHSCORES"))]
        )
        pairs = [(str(k), float(s)) for k, s in _pairs(res[0])]
        if not pairs:
            return []
        seen = await self._execute(
            [_Cmd(None, (), ("HGET", self._key(kind, k, "s"), "ls")) for k, _ in pairs]
        )
        hl = self.config.risk_half_life
        return [
            RankedEntry(k, risk_from_score(s, now, hl), float(ls))
            for (k, s), ls in zip(pairs, seen, strict=True)
            if ls is not None
        ]

    async def top_identities(self, n: int, now: float) -> list[RankedEntry]:
        """Identities by decayed risk, highest first (expired ones skipped)."""
        return await self._top("i", n, now)

    async def top_clusters(self, n: int, now: float) -> list[RankedEntry]:
        """Clusters by decayed risk, highest first (expired ones skipped)."""
        return await self._top("c", n, now)

    async def identity_state(self, identity: str, now: float) -> IdentityStats | None:
        """The identity's state (``values`` empty), without counting anything; or None."""
        res = await self._execute([_Cmd(None, (), ("HGETALL", self._key("i", identity, "s")))])
        raw = res[0]
        flat = [x for kv in raw.items() for x in kv] if isinstance(raw, dict) else list(raw)
        return self._identity_stats(flat, {}, now)

    async def cluster_state(self, cluster: str, now: float) -> ClusterStats | None:
        """The cluster's state, or None."""
        res = await self._execute(self._cluster_read_cmds(cluster))
        return self._cluster_stats(res[0], res[1], now)

    async def ping(self) -> bool:
        """True when the server answers PING."""
        try:
            return bool(await self.client.ping())
        except _DRIVER_ERRORS:
            return False

    async def reset_connections(self) -> None:
        """Disconnect the pool's idle connections (they reconnect on their next use)."""
        await reset_pool(self.client)

    async def keys(self) -> list[str]:
        """Every key under this store's prefix (SCAN; tests and admin, not the hot path)."""
        pattern = _glob_escape(self.prefix) + ":*"
        try:
            return [str(k) async for k in self.client.scan_iter(match=pattern, count=1000)]
        except _DRIVER_ERRORS as exc:
            raise StorageError(f"redis: {type(exc).__name__}: {exc}") from exc

    async def clear(self) -> None:
        """Delete every key under this store's prefix."""
        keys = await self.keys()
        for i in range(0, len(keys), 500):
            await self._execute([_Cmd(None, (), ("UNLINK", k)) for k in keys[i : i + 500]])

    async def close(self) -> None:
        """Close the connection pool."""
        try:
            await self.client.aclose()
        except _DRIVER_ERRORS:
            pass


class RedisClusterStore(RedisStore):
    """:class:`Store` on Redis / Valkey Cluster (``redis+cluster://h1:p1,h2:p2``)."""

    cluster_mode: ClassVar[bool] = True

    @classmethod
    def from_uri(
        cls,
        uri: str,
        config: StateConfig | None = None,
        *,
        prefix: str = "antidistill",
        socket_timeout: float = 0.1,
        **options: Any,
    ) -> RedisStore:
        """Build from ``redis+cluster://[user:pass@]h1:p1,h2:p2[?opts]``."""
        parts = urlsplit(uri)
        netloc = parts.netloc.rsplit("@", 1)
        creds, hosts = (netloc[0], netloc[1]) if len(netloc) == 2 else ("", netloc[0])
        nodes = [ClusterNode(h, p) for h, p in _host_ports(hosts, 6379)]
        if not nodes:
            raise ConfigurationError("redis+cluster:// needs at least one host:port")
        kwargs: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": options.pop("socket_connect_timeout", socket_timeout),
            "retry": _no_retry(),
            "decode_responses": True,
        }
        if creds:
            user, _, password = creds.partition(":")
            kwargs["username"] = unquote(user) or None
            kwargs["password"] = unquote(password) or None
        kwargs.update(_query_options(parts.query))
        kwargs.update(options)
        try:
            client = RedisCluster(startup_nodes=nodes, **kwargs)
        except (ValueError, TypeError, rexc.RedisError) as exc:
            raise ConfigurationError(f"invalid Redis Cluster storage URI: {exc}") from None
        return cls(client, config, prefix=prefix)

    async def ping(self) -> bool:
        """True when every node of the cluster answers PING."""
        try:
            return bool(await self.client.ping(target_nodes=RedisCluster.ALL_NODES))
        except _DRIVER_ERRORS:
            return False

    async def keys(self) -> list[str]:
        """Every key under this store's prefix, on every primary."""
        pattern = _glob_escape(self.prefix) + ":*"
        try:
            return [
                str(k)
                async for k in self.client.scan_iter(
                    match=pattern, count=1000, target_nodes=RedisCluster.PRIMARIES
                )
            ]
        except _DRIVER_ERRORS as exc:
            raise StorageError(f"redis: {type(exc).__name__}: {exc}") from exc


def _pairs(raw: Any) -> list[tuple[Any, Any]]:
    if raw and isinstance(raw[0], (list, tuple)):
        return [(a, b) for a, b in raw]
    return list(zip(raw[::2], raw[1::2], strict=True))


def _glob_escape(s: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", s)


def _host_ports(hosts: str, default_port: int) -> list[tuple[str, int]]:
    out = []
    for item in filter(None, hosts.split(",")):
        if item.startswith("["):  # [ipv6]:port
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        try:
            out.append((host, int(port) if port else default_port))
        except ValueError:
            raise ConfigurationError(f"invalid port in storage URI host list: {item!r}") from None
    return out


_INT_OPTIONS = {"max_connections", "db"}
_FLOAT_OPTIONS = {"socket_timeout", "socket_connect_timeout", "health_check_interval"}


def _query_options(query: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in parse_qsl(query):
        if k in _INT_OPTIONS:
            out[k] = int(v)
        elif k in _FLOAT_OPTIONS:
            out[k] = float(v)
        elif v.lower() in ("true", "false"):
            out[k] = v.lower() == "true"
        else:
            out[k] = v
    return out


def _sentinel_client(parts: Any, kwargs: dict[str, Any]) -> Any:
    """``redis+sentinel://[user:pass@]h:p,h:p/service_name[/db][?opts]`` -> master client."""
    netloc = parts.netloc.rsplit("@", 1)
    creds, hosts = (netloc[0], netloc[1]) if len(netloc) == 2 else ("", netloc[0])
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ConfigurationError("redis+sentinel:// needs a service name: .../service_name")
    service = unquote(path[0])
    if len(path) > 1:
        kwargs["db"] = int(path[1])
    if creds:
        user, _, password = creds.partition(":")
        kwargs["username"] = unquote(user) or None
        kwargs["password"] = unquote(password) or None
    kwargs.update(_query_options(parts.query))
    sentinel_kwargs = {
        "socket_timeout": kwargs["socket_timeout"],
        "socket_connect_timeout": kwargs["socket_connect_timeout"],
        "retry": _no_retry(),
    }
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        _host_ports(hosts, 26379), sentinel_kwargs=sentinel_kwargs, **kwargs
    )
    return sentinel.master_for(service)
